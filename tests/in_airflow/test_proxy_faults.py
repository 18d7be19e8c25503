"""Faults around a proxied task, with real Airflow 3 and a real Dagster webserver: the Dagster run is
canceled under a waiting task, and the Airflow process running the task is killed mid-wait."""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import quote

import pytest

from airlift_components.testing.local_airflow import LocalAirflow
from tests.in_airflow.harness import make_client, task_log

pytestmark = pytest.mark.timeout(600)


def _task_pid(airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str) -> int:
    """The pid Airflow records for the running try (its task process)."""
    client = make_client(airflow)
    path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = client.request("GET", path)
        if row.get("state") == "running" and row.get("pid"):
            return int(row["pid"])
        time.sleep(0.5)
    raise AssertionError(f"task {dag_id}.{task_id} has no pid while running")


def test_canceled_dagster_run_fails_the_task_with_the_run_link(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = client.trigger_dag_run("proxy_canceled")
    dagster_run = dagster.started_run("proxy_canceled", run.run_id)
    dagster.client().terminate_run(dagster_run.run_id)
    finished = client.wait_for_dag_run("proxy_canceled", run.run_id, timeout=180)
    assert finished.state == "failed"
    assert dagster.wait_until_finished(dagster_run.run_id).status == "CANCELED"
    assert len(dagster.runs_for("proxy_canceled", airlift__dag_run_id=run.run_id)) == 1
    log = task_log(proxy_airflow3, "proxy_canceled", run.run_id, "long_running")
    assert f"Dagster run {dagster_run.run_id} ended CANCELED: {dagster.url}/runs/{dagster_run.run_id}" in log


def test_killed_task_process_is_retried_and_reattaches_to_the_running_dagster_run(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = client.trigger_dag_run("proxy_worker_kill")
    dagster_run = dagster.started_run("proxy_worker_kill", run.run_id)
    pid = _task_pid(proxy_airflow3, "proxy_worker_kill", run.run_id, "slow")
    assert proxy_airflow3.owns_process(pid), f"pid {pid} is not a process of the test Airflow"
    os.kill(pid, signal.SIGKILL)
    finished = client.wait_for_dag_run("proxy_worker_kill", run.run_id, timeout=240)
    assert finished.state == "success", task_log(proxy_airflow3, "proxy_worker_kill", run.run_id, "slow", 2)
    (ti,) = client.list_task_instances(dag_ids=["proxy_worker_kill"], run_ids=[run.run_id])
    assert ti.try_number == 2
    runs = dagster.runs_for("proxy_worker_kill", airlift__dag_run_id=run.run_id)
    assert [(r.run_id, r.status) for r in runs] == [(dagster_run.run_id, "SUCCESS")]
    assert "instead of launching a second run" in task_log(
        proxy_airflow3, "proxy_worker_kill", run.run_id, "slow", 2
    )
