"""Zero-code termination and callbacks, end to end on a real Airflow 3.3 and the session's real Dagster
(``zero_code_dagster``, code location ``zc_terminate``).

One DAG run of ``zc_terminate`` (every task proxied to its zero-code asset) holds every case:
``execution_timeout`` and marking the task failed over Airflow's REST API both terminate the task's
Dagster run and leave no runner or task process alive; callbacks fire once each, in Airflow, on the proxy.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.in_airflow.harness import LocalDagster, task_log
from tests.zero_code.conftest import ZeroCodeAirflow, airflow_task_instance
from tests.zero_code.processes import alive, gone_within, wait_for_pids

pytestmark = pytest.mark.timeout(900)

DAG_ID = "zc_terminate"
# Bounded waits, generous for a loaded 2-core machine; they bound, they are not sleeps.
PROCESS_GONE_SECONDS = 60
PID_FILE_SECONDS = 240


def test_timeout_and_mark_failed_terminate_run_and_processes_and_callbacks_fire_once_in_airflow(
    zero_code_airflow: ZeroCodeAirflow, zero_code_dagster: LocalDagster, tmp_path: Path
) -> None:
    zc, dagster = zero_code_airflow, zero_code_dagster
    out = tmp_path / "out"
    out.mkdir()
    run = zc.client.trigger_dag_run(DAG_ID, conf={"out": str(out)})

    # Mark failed: once its task code runs in Dagster, mark the proxy task failed over the REST API.
    marked = wait_for_pids(out / "marked_failed.pids", PID_FILE_SECONDS)
    assert all(alive(pid) for pid in marked)
    zc.client.request(
        "PATCH",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/marked_failed",
        json={"new_state": "failed"},
        idempotent=False,
    )
    marked_gone = gone_within(marked, PROCESS_GONE_SECONDS)

    # Timeout: the task code sleeps past execution_timeout; Airflow times the proxy out.
    timed_out = wait_for_pids(out / "times_out.pids", PID_FILE_SECONDS)
    timed_out_gone = gone_within(timed_out, 120 + PROCESS_GONE_SECONDS)
    print(
        f"mark failed -> processes gone in {marked_gone:.1f}s; timed-out processes gone {timed_out_gone:.1f}s"
    )

    finished = zc.client.wait_for_dag_run(DAG_ID, run.run_id, timeout=300)
    assert finished.state == "failed"
    states = {
        task_id: airflow_task_instance(zc.client, run, task_id)["state"]
        for task_id in ("times_out", "marked_failed", "callbacks_ok", "callbacks_fail")
    }
    assert states == {
        "times_out": "failed",
        "marked_failed": "failed",
        "callbacks_ok": "success",
        "callbacks_fail": "failed",
    }
    assert "Terminated Dagster run" in task_log(zc.airflow, DAG_ID, run.run_id, "times_out")
    # Mark failed reaches on_kill this way: the supervisor's heartbeat is refused (the task instance is no
    # longer running), it SIGTERMs the task process, and the task runner's SIGTERM handler calls on_kill.
    marked_log = task_log(zc.airflow, DAG_ID, run.run_id, "marked_failed")
    assert "Server indicated the task shouldn't be running anymore" in marked_log
    assert "Terminated Dagster run" in marked_log

    # Both Dagster runs were terminated by the proxy's on_kill, not left running to their end.
    for task_id in ("times_out", "marked_failed"):
        (dagster_run,) = dagster.runs_for(DAG_ID, airlift__dag_run_id=run.run_id, airlift__task_id=task_id)
        status = dagster.wait_until_finished(dagster_run.run_id, timeout=PROCESS_GONE_SECONDS).status
        assert status in ("CANCELED", "FAILURE"), (task_id, status)
    for task_id, expected in (("callbacks_ok", "SUCCESS"), ("callbacks_fail", "FAILURE")):
        (dagster_run,) = dagster.runs_for(DAG_ID, airlift__dag_run_id=run.run_id, airlift__task_id=task_id)
        assert dagster_run.status == expected, task_id

    # Callbacks: exactly one line per outcome, each fired by Airflow's proxy task, none by the runner.
    lines = sorted(line.rsplit(" pid=", 1)[0] for line in (out / "callbacks.txt").read_text().splitlines())
    assert lines == [
        "failure callbacks_fail TerminateProxy",
        "failure times_out TerminateProxy",
        "success callbacks_ok TerminateProxy",
    ]
