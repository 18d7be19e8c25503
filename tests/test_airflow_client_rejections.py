"""Requests Airflow rejects, and filters README documents, against real Airflow 3 and 2.

A rejected request (a 4xx other than auth and not-found) is an ``AirflowRequestError`` carrying Airflow's
own detail, sent once (a retry would change nothing); a server that is not Airflow is named as such.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airlift_components.airflow_api import AirflowClient, AirflowRequestError, BasicAuthBackend
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client, one_success_and_one_failure


def test_duplicate_run_id_is_a_request_error_with_airflows_detail_sent_once(
    any_airflow: LocalAirflow,
) -> None:
    client = make_client(any_airflow)
    run = client.trigger_dag_run("simple_chain")
    before = client.request_count
    with pytest.raises(AirflowRequestError) as caught:
        client.trigger_dag_run("simple_chain", run_id=run.run_id)
    error = caught.value
    assert error.status_code == 409
    assert error.webserver_url == any_airflow.url
    assert error.endpoint is not None and error.endpoint.endswith("/dags/simple_chain/dagRuns")
    assert any_airflow.url in str(error) and "HTTP 409" in str(error)
    # Airflow's own detail follows the status (each version words it its own way).
    expected_detail = "Unique constraint violation" if any_airflow.major_version == 3 else "already exists"
    assert expected_detail in str(error), str(error)
    assert client.request_count - before == 1  # not retried
    assert client.wait_for_dag_run(run.dag_id, run.run_id, timeout=240).state == "success"


@pytest.fixture
def not_airflow(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on loopback that is not Airflow: a static file server of an empty folder."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_airflow_is_named_as_such(not_airflow: str) -> None:
    client = AirflowClient(BasicAuthBackend(not_airflow, "admin", "admin"))
    with pytest.raises(AirflowRequestError) as caught:
        client.list_dags()
    message = str(caught.value)
    assert "no Airflow REST API found" in message and "HTTP 404" in message
    assert not_airflow in message


def test_state_filter_selects_task_instances_across_dags_without_naming_them(
    any_airflow: LocalAirflow,
) -> None:
    client = make_client(any_airflow)
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    ok, bad = one_success_and_one_failure(client)
    runs = [ok.run_id, bad.run_id]

    before = client.request_count
    failed = client.list_task_instances(states=["failed"], run_ids=runs, end_date_gte=started)
    assert client.request_count - before == 1  # one batch query, no DAG named
    assert {(t.dag_id, t.run_id, t.task_id) for t in failed} == {("always_fails", bad.run_id, "boom")}

    succeeded = client.list_task_instances(states=["success"], run_ids=runs, end_date_gte=started)
    by_dag = {(t.dag_id, t.task_id) for t in succeeded}
    assert by_dag == {
        ("simple_chain", "first"),
        ("simple_chain", "second"),
        ("simple_chain", "third"),
        ("always_fails", "ok"),
    }
    assert all(t.state == "success" for t in succeeded)
