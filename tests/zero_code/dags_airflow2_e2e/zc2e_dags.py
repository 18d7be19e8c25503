"""The DAG of ``tests/zero_code/test_dagster_airflow2.py``: zero-code end to end on Airflow 2.11.

Every root task below is proxied (task level) to its zero-code asset in the Dagster project
``tests/zero_code/airflow2_dagster``, whose runner is ``.venv-airflow2/bin/python``; the other tasks stay in
Airflow and read what the proxies relayed. One DAG run holds every case (Airflow 2.11 on SQLite runs its
tasks one at a time, so each proxied try costs its full Dagster run: keep them few):

- ``produce`` (@task, ``multiple_outputs``, an extra key, reads a password-carrying env connection)
  -> ``consume`` (unproxied);
- ``report`` (Bash: env and a side-effect file) and ``load_sql`` (SQLExecuteQueryOperator on
  SQLite, its connection from ``AIRFLOW_CONN_ZC2E_SQLITE``);
- ``skips`` (AirflowSkipException) -> ``after_skip`` (default trigger rule) and ``after_skip_none_failed``;
- ``fails_for_good`` (AirflowFailException, retries=2); ``flaky`` (PythonOperator, op_kwargs: fails try 1,
  returns a list on try 2) -> the mapped ``double`` (unproxied);
- ``marked_failed`` (hangs until the test marks it failed) and ``times_out`` (hangs past
  ``execution_timeout``): each writes its PIDs (the runner's and a child's) to ``conf["out"]``.

Callbacks (on ``produce``, ``fails_for_good`` and ``times_out``) append one line to ``callbacks.txt``
naming the task class that ran them. Side-effect files go to ``dag_run.conf["out"]``.
"""

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests
from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowFailException, AirflowSkipException
from airflow.models import Variable
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import BaseProxyTaskToDagsterOperator, proxying_to_dagster

DAG_ID = "zc2_e2e"
# Covers the proxy's launch and the 2.11 runner's start (~15 s at low load) with room for a loaded machine.
TIMEOUT_SECONDS = 45
PROXIED = (
    "produce",
    "report",
    "load_sql",
    "skips",
    "fails_for_good",
    "flaky",
    "marked_failed",
    "times_out",
)


class Airflow2Proxy(BaseProxyTaskToDagsterOperator):
    """Dagster's URL from the Airflow Variable ``zc2_e2e_dagster_url`` (set by the test once Dagster runs)."""

    def get_dagster_url(self, context) -> str:
        return Variable.get("zc2_e2e_dagster_url")

    def get_dagster_session(self, context) -> requests.Session:
        return requests.Session()

    def get_airflow_instance_name(self, context) -> str:
        return "zc2_e2e"


def _record(kind: str):
    def callback(context) -> None:
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


def _flaky(count: int, ti=None) -> list:
    if ti.try_number == 1:
        raise RuntimeError("first try breaks")
    return list(range(1, count + 1))


with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"who": "dag-default"},
) as zc2_e2e:

    @task(multiple_outputs=True, on_success_callback=_record("success"))
    def produce(ti=None) -> dict:
        from airflow.hooks.base import BaseHook

        password = BaseHook.get_connection("zc2e_secret").password
        print(f"connected with password {password}")  # the runner's output is masked before Dagster logs it
        ti.xcom_push(key="extra", value={"note": "pushed by xcom_push", "password_length": len(password)})
        return {"total": 3, "names": ["a", "b", "c"]}

    @task
    def consume(total: int, names: list, ti=None) -> dict:
        return {
            "total": total,
            "names": names,
            "extra": ti.xcom_pull(task_ids="produce", key="extra"),
            "whole": ti.xcom_pull(task_ids="produce"),
        }

    @task
    def double(n: int) -> int:
        return n * 2

    flaky = PythonOperator(
        task_id="flaky",
        python_callable=_flaky,
        op_kwargs={"count": 2},
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
    report = BashOperator(
        task_id="report",
        bash_command='echo "who=$WHO ds={{ ds }} run={{ run_id }}" > "$OUT/report_{{ ds_nodash }}.txt"',
        env={"WHO": "{{ params.who }}-env", "OUT": "{{ dag_run.conf['out'] }}"},
        append_env=True,
    )
    load_sql = SQLExecuteQueryOperator(
        task_id="load_sql",
        conn_id="zc2e_sqlite",
        sql=[
            "CREATE TABLE IF NOT EXISTS orders (ds TEXT, who TEXT, amount INTEGER)",
            "INSERT INTO orders VALUES ('{{ ds }}', '{{ params.who }}', 7)",
            "SELECT ds, who, amount FROM orders WHERE ds = '{{ ds }}'",
        ],
    )

    @task
    def skips() -> None:
        raise AirflowSkipException("nothing to do today")

    @task
    def after_skip() -> str:
        return "should not run"

    @task(trigger_rule="none_failed")
    def after_skip_none_failed() -> str:
        return "ran"

    @task(retries=2, retry_delay=timedelta(seconds=1), on_failure_callback=_record("failure"))
    def fails_for_good() -> None:
        raise AirflowFailException("no point retrying")

    # First in Airflow's queue (one task at a time here), so the test's waits for them stay short.
    @task(retries=0, priority_weight=100)
    def marked_failed(dag_run=None) -> None:
        _hang("marked_failed", dag_run)

    @task(
        execution_timeout=timedelta(seconds=TIMEOUT_SECONDS),
        retries=0,
        priority_weight=100,
        on_failure_callback=_record("failure"),
    )
    def times_out(dag_run=None) -> None:
        _hang("times_out", dag_run)

    produced = produce()
    consume(produced["total"], produced["names"])
    double.expand(n=flaky.output)
    skips() >> [after_skip(), after_skip_none_failed()]
    fails_for_good()
    marked_failed()
    times_out()


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {DAG_ID: {"tasks": [{"id": task_id, "proxied": True} for task_id in PROXIED]}}
    ),
    dagster_operator_klass=Airflow2Proxy,
)
