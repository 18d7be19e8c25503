"""Proxy operators that exercise edge cases: retries, unknown instance name, unreachable Dagster."""

import os
from datetime import datetime, timedelta
from pathlib import Path

try:
    from airflow.sdk import DAG, Context
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.utils.context import Context
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

from airlift_components.in_airflow import DefaultProxyTaskToDagsterOperator, proxying_to_dagster
from airlift_components.in_airflow.dagster_graphql import DagsterGraphQLClient, DagsterUnavailableError
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml


class LosesDagsterOnFirstTry(DefaultProxyTaskToDagsterOperator):
    """On try 1 the worker 'loses' Dagster right after launching (as a crashed worker would)."""

    def wait_for_run(self, client, run):
        if self._try_number == 1:
            raise DagsterUnavailableError("simulated: worker lost its connection to Dagster")
        return super().wait_for_run(client, run)

    def execute(self, context: Context) -> None:
        self._try_number = context["ti"].try_number
        return super().execute(context)


class NoInstanceName(DefaultProxyTaskToDagsterOperator):
    """Finds the DAG asset by its airlift/dag_id metadata (fallback lookup)."""

    def get_airflow_instance_name(self, context: Context) -> None:
        return None


class UnreachableDagster(DefaultProxyTaskToDagsterOperator):
    """Points at a closed port; retries quickly so the test stays short."""

    def get_dagster_url(self, context: Context) -> str:
        return os.environ["TEST_CLOSED_PORT_URL"]

    def get_graphql_client(self, context: Context) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(
            self.get_dagster_url(context),
            self.get_dagster_session(context),
            timeout=5,
            max_attempts=3,
            backoff=0.5,
        )


def _fail_in_airflow() -> None:
    raise RuntimeError("this task must have been proxied to Dagster")


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False)


OPERATORS = {
    "proxy_retry": LosesDagsterOnFirstTry,
    "proxy_fallback": NoInstanceName,
    "proxy_unreachable": UnreachableDagster,
}


def _build(task):
    return OPERATORS[task.dag_id].build_from_task(task)


with _dag("proxy_retry") as proxy_retry:
    PythonOperator(
        task_id="slow", python_callable=_fail_in_airflow, retries=1, retry_delay=timedelta(seconds=1)
    )

with _dag("proxy_fallback") as proxy_fallback:
    PythonOperator(task_id="only", python_callable=_fail_in_airflow)

with _dag("proxy_unreachable") as proxy_unreachable:
    PythonOperator(task_id="only", python_callable=_fail_in_airflow)

proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    build_from_task_fn=_build,
)
