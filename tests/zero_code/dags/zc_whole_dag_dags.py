"""DAGs proxied as a whole whose tasks run zero-code (``tests/zero_code/test_dagster_whole_dag.py``).

- ``zc_whole_dag``: ``produce`` (``@task``, ``multiple_outputs``) -> ``combine`` (``PythonOperator``
  pulling ``produce``'s XComs in its callable and through a template) -> ``report`` (``BashOperator``
  rendering ``{{ ti.xcom_pull(...) }}``). Each task writes what it saw under ``dag_run.conf["out"]``.
- ``zc_whole_refused``: a sensor ahead of a Python task; zero-code refuses the DAG at definitions time.
"""

import json
from datetime import datetime
from pathlib import Path

import requests
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, Context, Variable, task

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import BaseProxyDAGToDagsterOperator, proxying_to_dagster


class WholeDagProxy(BaseProxyDAGToDagsterOperator):
    """Dagster's URL from the Airflow Variable ``zc_whole_dag_url`` (set by the test once Dagster runs)."""

    def get_dagster_url(self, context: Context) -> str:
        return Variable.get("zc_whole_dag_url")

    def get_dagster_session(self, context: Context) -> requests.Session:
        return requests.Session()

    def get_airflow_instance_name(self, context: Context) -> str:
        return "zc_whole"


def _combine(total: str, ti=None, dag_run=None) -> str:
    seen = {
        "templated_total": total,
        "who": ti.xcom_pull(task_ids="produce", key="who"),
        "whole": ti.xcom_pull(task_ids="produce"),
    }
    (Path(dag_run.conf["out"]) / "combine.json").write_text(json.dumps(seen, sort_keys=True))
    return f"{seen['who']} has {seen['whole']['total']}"


with DAG(
    dag_id="zc_whole_dag", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_whole_dag:

    @task(multiple_outputs=True)
    def produce(dag_run=None) -> dict:
        return {"total": 3, "who": dag_run.conf.get("who", "nobody")}

    combine = PythonOperator(
        task_id="combine",
        python_callable=_combine,
        op_kwargs={"total": "{{ ti.xcom_pull(task_ids='produce', key='total') }}"},
    )
    report = BashOperator(
        task_id="report",
        bash_command="echo \"{{ ti.xcom_pull(task_ids='combine') }}\" > {{ dag_run.conf['out'] }}/report.txt",
    )
    produce() >> combine >> report


def _ready() -> bool:
    return True


with DAG(
    dag_id="zc_whole_refused", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_whole_refused:
    PythonSensor(task_id="wait_for_file", python_callable=_ready) >> PythonOperator(
        task_id="after_wait", python_callable=_ready
    )


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {"zc_whole_dag": {"proxied": True}, "zc_whole_refused": {"proxied": True}}
    ),
    build_from_dag_fn=WholeDagProxy.build_from_dag,
)
