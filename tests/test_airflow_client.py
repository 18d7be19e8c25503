"""The REST client against real Airflow 3 and Airflow 2 servers."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from airlift_components.airflow_api import (
    AirflowAuthenticationError,
    AirflowClient,
    AirflowNotFoundError,
    AirflowUnavailableError,
    BasicAuthBackend,
    TokenAuthBackend,
)
from airlift_components.testing.local_airflow import LocalAirflow, free_port
from tests.conftest import (
    JWT_LIFETIME_SECONDS,
    expected_test_dag_ids,
    make_client,
    one_success_and_one_failure,
)
from tests.faults.proxy import FaultProxy


def test_detects_api_dialect(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    expected = "v2" if any_airflow.major_version == 3 else "v1"
    assert client.api_version == expected
    assert client.version_info.version.startswith(str(any_airflow.major_version) + ".")


def test_lists_every_dag_with_paging_not_one_request_per_dag(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow, page_size=100)
    assert client.api_version  # detection is not part of the listing's cost
    before = client.request_count
    dags = client.list_dags()
    requests_made = client.request_count - before
    assert {dag.dag_id for dag in dags} == expected_test_dag_ids()
    assert len(dags) >= 250
    # Every DAG at 100 per page: one request per started page, never one per DAG.
    assert requests_made == -(-len(dags) // 100)


def test_page_size_above_server_cap_still_returns_everything(any_airflow: LocalAirflow) -> None:
    # The servers silently cap GET lists at 100 rows; asking for 1000 must not truncate.
    client = make_client(any_airflow, page_size=1000)
    assert len(client.list_dags()) == len(expected_test_dag_ids())


def test_dag_record_fields(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    dag = client.get_dag("simple_chain")
    assert dag.tags == ("test",)
    assert dag.owners == ("airflow",)
    assert dag.fileloc and dag.fileloc.endswith("simple_dags.py")
    assert dag.is_active
    tagged = client.list_dags(tags=["group_1"])
    assert len(tagged) == 65 and all("group_1" in d.tags for d in tagged)


def test_tasks_have_dependencies_and_operator(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    tasks = {t.task_id: t for t in client.list_tasks("simple_chain")}
    assert set(tasks) == {"first", "second", "third"}
    assert tasks["second"].upstream_task_ids == ("first",)
    assert tasks["second"].downstream_task_ids == ("third",)
    assert tasks["first"].operator == "PythonOperator"
    many = client.list_tasks_for_dags([f"generated_{i:03d}" for i in range(20)])
    assert len(many) == 20 and all(len(v) == 2 for v in many.values())


def test_trigger_wait_and_batch_queries_across_dags(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    ok, bad = one_success_and_one_failure(client)

    runs = client.list_dag_runs(dag_ids=["simple_chain", "always_fails"], end_date_gte=started)
    assert {(r.dag_id, r.run_id) for r in runs} >= {(ok.dag_id, ok.run_id), (bad.dag_id, bad.run_id)}
    assert all(r.end_date is not None and r.end_date >= started for r in runs)

    tis = client.list_task_instances(
        dag_ids=["simple_chain", "always_fails"], run_ids=[ok.run_id, bad.run_id], end_date_gte=started
    )
    states = {(t.dag_id, t.task_id): t.state for t in tis}
    assert states[("simple_chain", "third")] == "success"
    assert states[("always_fails", "ok")] == "success"
    assert states[("always_fails", "boom")] == "failed"
    assert all(t.try_number >= 1 for t in tis)


def test_waiting_on_a_run_dated_in_the_future_says_why_it_never_starts(any_airflow: LocalAirflow) -> None:
    # Airflow's scheduler leaves a run alone until its logical date has come; a bare "still queued"
    # after minutes of waiting would send a user hunting for a broken scheduler.
    client = make_client(any_airflow)
    tomorrow = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    run = client.trigger_dag_run("simple_chain", logical_date=tomorrow)
    try:
        with pytest.raises(TimeoutError) as caught:
            client.wait_for_dag_run(run.dag_id, run.run_id, timeout=1, poll_interval=0.5)
        message = str(caught.value)
        assert f"simple_chain/{run.run_id}" in message
        assert "not due until" in message and "in the future" in message
        assert tomorrow.strftime("%Y-%m-%dT%H:%M:%S") in message
    finally:  # a run left waiting for tomorrow must not hold a slot for other tests
        path = f"/api/{client.api_version}/dags/simple_chain/dagRuns/{quote(run.run_id, safe='')}"
        client.request("PATCH", path, json={"state": "failed"})  # Airflow 3 deletes no running run
        client.request("DELETE", path)
    # A run that is due gets no such hint: the message would mislead.
    now_run = client.trigger_dag_run("simple_chain")
    with pytest.raises(TimeoutError) as caught:
        client.wait_for_dag_run(now_run.dag_id, now_run.run_id, timeout=0, poll_interval=0.1)
    assert "not due until" not in str(caught.value)
    assert client.wait_for_dag_run(now_run.dag_id, now_run.run_id, timeout=240).state == "success"


def test_variables_round_trip(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    assert client.get_variable("airlift_missing_variable") is None
    client.set_variable("airlift_test_var", "one")
    client.set_variable("airlift_test_var", "two")
    assert client.get_variable("airlift_test_var") == "two"


def test_dag_source(any_airflow: LocalAirflow) -> None:
    assert "always_fails" in make_client(any_airflow).get_dag_source("always_fails")


def test_unknown_dag_is_not_found_error_naming_endpoint(any_airflow: LocalAirflow) -> None:
    client = make_client(any_airflow)
    with pytest.raises(AirflowNotFoundError) as info:
        client.get_dag("no_such_dag")
    assert "no_such_dag" in str(info.value) and any_airflow.url in str(info.value)


def test_wrong_password_names_url_not_password_and_logs_in_once(any_airflow: LocalAirflow) -> None:
    secret = "Wr0ng-Pa55word-x9"
    with FaultProxy(any_airflow.url) as proxy:  # forwards everything, counts requests per path
        client = AirflowClient(BasicAuthBackend(proxy.url, "admin", secret))
        with pytest.raises(AirflowAuthenticationError) as info:
            client.list_dags()
    text = str(info.value) + repr(info.value) + repr(client.auth_backend)
    assert proxy.url in text
    assert secret not in text
    # Exactly one login attempt, not retried: Airflow 3 exchanges the password once at /auth/token and
    # nothing is sent without a token; Airflow 2 has no /auth/token (its 404 tells the dialect) and gets the
    # password once, with the one API request.
    assert proxy.count("/auth/token") == 1
    if any_airflow.major_version == 3:
        assert proxy.count("/api/v2/dags") == 0
    else:
        assert proxy.count("/api/v1/dags") == 1


def test_airflow_down_raises_unavailable_after_bounded_retries() -> None:
    port = free_port()  # nobody listens here
    client = AirflowClient(
        BasicAuthBackend(f"http://127.0.0.1:{port}", "admin", "admin"),
        api_version="v2",
        max_retries=2,
        backoff_seconds=0.1,
        timeout=2,
    )
    started = time.monotonic()
    with pytest.raises(AirflowUnavailableError) as info:
        client.list_dags()
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in str(info.value)


def jwt_exp(authorization: str) -> float:
    """The ``exp`` claim of the JWT in a ``Bearer`` header (read without verifying the signature)."""
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def _wait_until_expired(authorization: str) -> None:
    # Airflow runs with JWT_LEEWAY 0: a token is refused from its `exp` on (a second of margin).
    time.sleep(max(0.0, jwt_exp(authorization) - time.time() + 1.0))


def test_jwt_is_renewed_after_expiry(airflow3: LocalAirflow) -> None:
    backend = BasicAuthBackend(airflow3.url, "admin", "admin")
    client = AirflowClient(backend)
    client.list_tasks("simple_chain")
    first_token = client._get_session().headers["Authorization"]
    assert jwt_exp(first_token) - time.time() <= JWT_LIFETIME_SECONDS + 1  # the short test lifetime
    _wait_until_expired(first_token)
    client.list_tasks("simple_chain")  # renewed before the request (the token said when it expires)
    second_token = client._get_session().headers["Authorization"]
    assert second_token != first_token

    # Renewal on 401: put the expired first token back and forget the expiry, so it is sent and refused once.
    backend._token_expiry = None
    client._get_session().headers["Authorization"] = first_token
    before = client.request_count
    assert len(client.list_tasks("simple_chain")) == 3
    assert client.request_count - before == 2  # the 401, then the retry with a fresh token
    assert client._get_session().headers["Authorization"] != first_token


def test_static_token_backend(airflow3: LocalAirflow) -> None:
    token = requests.post(
        f"{airflow3.url}/auth/token", json={"username": "admin", "password": "admin"}
    ).json()["access_token"]
    client = AirflowClient(TokenAuthBackend(airflow3.url, token))
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert token not in repr(client.auth_backend)
