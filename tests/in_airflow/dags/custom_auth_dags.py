"""The seed's custom operators: an API key from the Airflow Variable ``my_api_key`` as a bearer token.

Dagster sits behind an auth proxy (``TEST_AUTH_PROXY_URL``) that refuses requests without that token.
"""

import os
from datetime import datetime
from pathlib import Path

import requests

try:
    from airflow.sdk import DAG, Context
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.utils.context import Context
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

from airlift_components.in_airflow import (
    BaseProxyDAGToDagsterOperator,
    BaseProxyTaskToDagsterOperator,
    proxying_to_dagster,
)
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml


class CustomProxyToDagsterOperator(BaseProxyTaskToDagsterOperator):
    def get_dagster_session(self, context: Context) -> requests.Session:
        if "var" not in context:
            raise ValueError("No variables found in context")
        api_key = context["var"]["value"].get("my_api_key")
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {api_key}"})
        return session

    def get_dagster_url(self, context: Context) -> str:
        return os.environ["TEST_AUTH_PROXY_URL"]


class CustomDagLevelProxyToDagsterOperator(BaseProxyDAGToDagsterOperator):
    def get_dagster_session(self, context: Context) -> requests.Session:
        if "var" not in context:
            raise ValueError("No variables found in context")
        api_key = context["var"]["value"].get("my_api_key")
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {api_key}"})
        return session

    def get_dagster_url(self, context: Context) -> str:
        return os.environ["TEST_AUTH_PROXY_URL"]

    @classmethod
    def build_from_dag(cls, dag: DAG):
        return CustomDagLevelProxyToDagsterOperator(dag=dag, task_id="OVERRIDDEN")


def _fail_in_airflow() -> None:
    raise RuntimeError("this task must have been proxied to Dagster")


with DAG(dag_id="proxy_custom_auth", schedule=None, start_date=datetime(2024, 1, 1)) as proxy_custom_auth:
    PythonOperator(task_id="build", python_callable=_fail_in_airflow)

with DAG(
    dag_id="proxy_custom_dag_auth", schedule=None, start_date=datetime(2024, 1, 1)
) as proxy_custom_dag_auth:
    one = PythonOperator(task_id="one", python_callable=_fail_in_airflow)
    two = PythonOperator(task_id="two", python_callable=_fail_in_airflow)
    one >> two

# At the end of your dag file
proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    build_from_task_fn=CustomProxyToDagsterOperator.build_from_task,
    build_from_dag_fn=CustomDagLevelProxyToDagsterOperator.build_from_dag,
)
