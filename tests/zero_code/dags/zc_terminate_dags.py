"""The DAG of ``tests/zero_code/test_zero_code_termination.py``: every task is proxied to its zero-code asset
(the Dagster project in ``tests/zero_code/terminate_dagster``), and one DAG run holds every case.

- ``times_out``: writes its PIDs (the runner's and a child's) and sleeps past its ``execution_timeout``.
- ``marked_failed``: writes its PIDs and sleeps until the test marks it failed over Airflow's REST API.
- ``callbacks_ok`` / ``callbacks_fail`` (after ``marked_failed``, ``all_done``): succeed / raise
  ``AirflowFailException``; their callbacks (and the timed-out task's failure callback) append one line to
  ``callbacks.txt`` naming the task class that ran them.

Files go to ``dag_run.conf["out"]`` (the payload hands the run's conf to the runner).
"""

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from airflow.sdk import DAG, Context, Variable, task
from airflow.sdk.exceptions import AirflowFailException

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import BaseProxyTaskToDagsterOperator, proxying_to_dagster

# Covers the proxy's launch and the runner's start: 8 s measured at load 3, 20 s at load 6 (66 s with 4 runners at load 10).
TIMEOUT_SECONDS = 50


class TerminateProxy(BaseProxyTaskToDagsterOperator):
    """Dagster's URL from the Airflow Variable ``zc_terminate_url`` (set by the test once Dagster runs)."""

    def get_dagster_url(self, context: Context) -> str:
        return Variable.get("zc_terminate_url")

    def get_dagster_session(self, context: Context) -> requests.Session:
        return requests.Session()

    def get_airflow_instance_name(self, context: Context) -> str:
        return "zc_terminate"


def _record(kind: str):
    def callback(context: Context) -> None:
        out = Path(context["dag_run"].conf["out"])
        line = f"{kind} {context['ti'].task_id} {type(context['task']).__name__} pid={os.getpid()}\n"
        with (out / "callbacks.txt").open("a") as file:
            file.write(line)

    return callback


def _hang(name: str, dag_run) -> None:
    """Write this process's PID and a child's, then sleep far longer than the test waits."""
    child = subprocess.Popen(["sleep", "600"])
    out = Path(dag_run.conf["out"])
    (out / f"{name}.tmp").write_text(f"{os.getpid()} {child.pid}")
    (out / f"{name}.tmp").rename(out / f"{name}.pids")
    time.sleep(600)


with DAG(
    dag_id="zc_terminate", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, max_active_tasks=8
) as zc_terminate:

    @task(
        execution_timeout=timedelta(seconds=TIMEOUT_SECONDS),
        retries=0,
        on_failure_callback=_record("failure"),
    )
    def times_out(dag_run=None) -> None:
        _hang("times_out", dag_run)

    @task(retries=0)
    def marked_failed(dag_run=None) -> None:
        _hang("marked_failed", dag_run)

    @task(
        retries=0,
        trigger_rule="all_done",
        on_success_callback=_record("success"),
        on_failure_callback=_record("failure"),
    )
    def callbacks_ok() -> str:
        return "ok"

    @task(
        retries=0,
        trigger_rule="all_done",
        on_success_callback=_record("success"),
        on_failure_callback=_record("failure"),
    )
    def callbacks_fail() -> None:
        raise AirflowFailException("fails on purpose")

    times_out()
    # After marked_failed, so only two runners start at once and both fit in times_out's timeout.
    marked_failed() >> [callbacks_ok(), callbacks_fail()]


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {
            "zc_terminate": {
                "tasks": [
                    {"id": task_id, "proxied": True}
                    for task_id in ("times_out", "marked_failed", "callbacks_ok", "callbacks_fail")
                ]
            }
        }
    ),
    dagster_operator_klass=TerminateProxy,
)
