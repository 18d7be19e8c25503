"""Proxy operator and GraphQL client behaviours, executed in this process against the real test Dagster.

The operator runs outside Airflow here, with a minimal task context (``ti.try_number``, ``run_id``,
``dag_run``): these tests choose the try number and the moment of ``on_kill``, which a live Airflow run
cannot be made to hit deterministically (the same try executed twice; a kill while the launch request is
in flight). The live counterparts run through Airflow 3 in test_proxying_live.py and test_proxy_faults.py.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from types import SimpleNamespace

import pytest
import requests
from airflow.sdk import DAG

from airlift_components.in_airflow import (
    DagsterAuthenticationError,
    DagsterGraphQLClient,
    DagsterUnavailableError,
    DefaultProxyTaskToDagsterOperator,
)
from airlift_components.testing.local_airflow import free_port
from tests.in_airflow.harness import AUTH_TOKEN, INSTANCE_NAME

pytestmark = pytest.mark.timeout(300)


def _context(run_id: str, try_number: int = 1) -> dict:
    ti = SimpleNamespace(try_number=try_number, map_index=-1)
    return {"ti": ti, "run_id": run_id, "dag_run": SimpleNamespace(run_id=run_id, logical_date=None)}


def _operator(dag_id: str, task_id: str) -> DefaultProxyTaskToDagsterOperator:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1)):
        return DefaultProxyTaskToDagsterOperator(task_id=task_id)


@pytest.fixture
def dagster_env(dagster, monkeypatch):
    monkeypatch.setenv("AIRLIFT_DAGSTER_URL", dagster.url)
    monkeypatch.setenv("AIRLIFT_INSTANCE_NAME", INSTANCE_NAME)
    return dagster


def test_executing_the_same_try_twice_reattaches_to_its_run(dagster_env):
    run_id = f"manual__{uuid.uuid4()}"
    _operator("proxy_all", "first").execute(_context(run_id))
    _operator("proxy_all", "first").execute(_context(run_id))  # e.g. a worker re-running the same try
    runs = dagster_env.runs_for("proxy_all", airlift__dag_run_id=run_id)
    assert len(runs) == 1
    assert runs[0].status == "SUCCESS"


def test_a_new_try_after_a_finished_run_launches_a_new_run(dagster_env):
    run_id = f"manual__{uuid.uuid4()}"
    _operator("proxy_all", "first").execute(_context(run_id, try_number=1))
    _operator("proxy_all", "first").execute(_context(run_id, try_number=2))  # e.g. the task was cleared
    runs = dagster_env.runs_for("proxy_all", airlift__dag_run_id=run_id)
    assert sorted(r.tags["airlift/try_number"] for r in runs) == ["1", "2"]


def test_on_kill_terminates_the_dagster_run(dagster_env):
    import threading

    operator = _operator("proxy_timeout", "very_slow")
    run_id = f"manual__{uuid.uuid4()}"
    errors: list[BaseException] = []

    def execute() -> None:
        try:
            operator.execute(_context(run_id))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while operator._dagster_run_id is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert operator._dagster_run_id is not None
    dagster_env.started_run("proxy_timeout", run_id)
    operator.on_kill()
    thread.join(timeout=120)
    assert errors and "CANCELED" in str(errors[0]) and operator._dagster_run_id in str(errors[0])


def test_unreachable_dagster_raises_after_bounded_retries():
    client = DagsterGraphQLClient(
        f"http://127.0.0.1:{free_port()}", requests.Session(), max_attempts=3, backoff=0.2
    )
    started = time.monotonic()
    with pytest.raises(DagsterUnavailableError, match=r"cannot connect .*after 3 attempts"):
        client.get_run("x")
    assert time.monotonic() - started < 5
    assert client.request_count == 3


def test_rejected_token_is_a_named_error_without_the_token(auth_proxy):
    session = requests.Session()
    session.headers["Authorization"] = "Bearer not-the-token-1234"
    client = DagsterGraphQLClient(auth_proxy.url, session)
    with pytest.raises(DagsterAuthenticationError) as info:
        client.get_run("x")
    assert "not-the-token-1234" not in str(info.value) and AUTH_TOKEN not in str(info.value)
    assert "HTTP 401" in str(info.value)


def test_on_kill_during_the_launch_request_finds_and_terminates_the_run(dagster_env):
    # Airflow's timeout can interrupt the launch request after Dagster accepted it: no run id yet.
    client = dagster_env.client()
    node, _ = client.get_asset_node_and_runs([INSTANCE_NAME, "dag", "proxy_timeout"], {})
    tags = {
        "airlift/dag_id": "proxy_timeout",
        "airlift/dag_run_id": f"manual__{uuid.uuid4()}",
        "airlift/task_id": "very_slow",
        "airlift/try_number": "1",
    }
    operator = _operator("proxy_timeout", "very_slow")
    operator._dagster_client = DagsterGraphQLClient(dagster_env.url, requests.Session())
    operator._launch_tags = tags
    launched = client.launch_asset_run(
        repository_location_name=node.location_name,
        repository_name=node.repository_name,
        asset_keys=[("proxy_timeout", "very_slow")],
        tags=tags,
    )
    operator.on_kill()
    assert dagster_env.wait_until_finished(launched.run_id, timeout=90).status == "CANCELED"
