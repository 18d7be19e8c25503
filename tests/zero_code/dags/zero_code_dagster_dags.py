"""DAGs for the Dagster-side zero-code tests (``tests/zero_code/test_dagster_*.py``).

- ``zc_dagster_refused``: a proxied sensor, which zero-code refuses at definitions time (classified by the
  original-operator line its proxy writes into ``doc_md``, ``conventions.ORIGINAL_OPERATOR_DOC_PREFIX``).
- ``zc_dagster_e2e``: ``produce`` is proxied to its generated zero-code asset (the Dagster project in
  ``tests/zero_code/dagster_e2e``); ``consume`` stays in Airflow and reads what the proxy relayed.
"""

from datetime import datetime

import requests
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, Context, Variable, task

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import BaseProxyTaskToDagsterOperator, proxying_to_dagster


class E2EProxy(BaseProxyTaskToDagsterOperator):
    """Dagster's URL from the Airflow Variable ``zc_dagster_e2e_url`` (set by the test once Dagster runs)."""

    def get_dagster_url(self, context: Context) -> str:
        return Variable.get("zc_dagster_e2e_url")

    def get_dagster_session(self, context: Context) -> requests.Session:
        return requests.Session()

    def get_airflow_instance_name(self, context: Context) -> str:
        return "zc_dagster_e2e"


def _ready() -> bool:
    return True


with DAG(
    dag_id="zc_dagster_refused", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_dagster_refused:
    PythonSensor(task_id="wait_for_file", python_callable=_ready)


with DAG(
    dag_id="zc_dagster_e2e", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_dagster_e2e:

    @task(multiple_outputs=True)
    def produce(ti=None, params=None, dag_run=None) -> dict:
        ti.xcom_push(key="extra", value="pushed explicitly")
        return {"total": 3, "who": (dag_run.conf or {}).get("who", "nobody")}

    @task
    def consume(total: int, ti=None) -> str:
        return f"total={total} extra={ti.xcom_pull(task_ids='produce', key='extra')}"

    consume(produce()["total"])


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {
            "zc_dagster_refused": {"tasks": [{"id": "wait_for_file", "proxied": True}]},
            "zc_dagster_e2e": {"tasks": [{"id": "produce", "proxied": True}]},
        }
    ),
    dagster_operator_klass=E2EProxy,
)
