"""A DAG for the Dagster-side zero-code tests: a proxied sensor, which zero-code refuses at definitions time.

Its ``doc_md`` carries the original-operator line the proxy operator records (``conventions.
ORIGINAL_OPERATOR_DOC_PREFIX``); the proxy copies ``doc_md``, so Airflow's task listing shows it.
"""

from datetime import datetime

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import proxying_to_dagster


def _ready() -> bool:
    return True


with DAG(
    dag_id="zc_dagster_refused", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_dagster_refused:
    PythonSensor(
        task_id="wait_for_file",
        python_callable=_ready,
        doc_md="airlift original operator: airflow.providers.standard.sensors.python.PythonSensor",
    )


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {"zc_dagster_refused": {"tasks": [{"id": "wait_for_file", "proxied": True}]}}
    ),
)
