"""DAGs the Dagster-side (core) tests peer to and trigger. All unscheduled: tests trigger every run.

``core_proxied.work`` is swapped by the real ``proxying_to_dagster`` (state file
``proxied_state/core_proxied.yaml``) for the real task proxy operator, pointed at a Dagster that is not
there: its task instance carries the proxy marker Airflow reports and ends ``failed``.
"""

import time
from datetime import datetime
from pathlib import Path

try:
    from airflow.sdk import DAG, Variable
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models import Variable
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

from airlift_components.in_airflow import (
    DefaultProxyTaskToDagsterOperator,
    load_proxied_state_from_yaml,
    proxying_to_dagster,
)

# The run's conf names the Airflow Variable that releases a gated task (set by the test when it is ready).
RELEASE_VARIABLE_CONF_KEY = "release_variable"
RELEASE_TIMEOUT_SECONDS = 900
# Nothing listens on the discard port: the proxy operator cannot reach Dagster.
UNREACHABLE_DAGSTER_URL = "http://127.0.0.1:9"


def _ok() -> None:
    print("ok")


def _wait_for_release(**context) -> None:
    """Block until the test sets the Variable named in the run's conf (fails after a generous timeout)."""
    key = (context["dag_run"].conf or {}).get(RELEASE_VARIABLE_CONF_KEY)
    if not key:
        raise ValueError(f"trigger this DAG with conf {{{RELEASE_VARIABLE_CONF_KEY!r}: <variable key>}}")
    deadline = time.monotonic() + RELEASE_TIMEOUT_SECONDS
    while Variable.get(key, None) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Variable {key!r} was not set within {RELEASE_TIMEOUT_SECONDS}s")
        time.sleep(0.5)


def _item(value: int) -> None:
    print(value)


class ProxyToUnreachableDagster(DefaultProxyTaskToDagsterOperator):
    """The default task proxy, with its documented ``get_dagster_url`` hook pointed at a closed port."""

    def get_dagster_url(self, context) -> str:
        return UNREACHABLE_DAGSTER_URL


_defaults = {"schedule": None, "start_date": datetime(2024, 1, 1), "catchup": False, "tags": ["core_test"]}

with DAG(dag_id="rebuild_customers_list", **_defaults) as rebuild_customers_list:
    load = PythonOperator(task_id="load_raw_customers", python_callable=_ok)
    build = PythonOperator(task_id="build_dbt_models", python_callable=_ok)
    export = PythonOperator(task_id="export_customers", python_callable=_ok)
    load >> build >> export

with DAG(dag_id="core_slow", **_defaults) as core_slow:
    PythonOperator(task_id="sleep", python_callable=_wait_for_release)

with DAG(dag_id="core_fast", **_defaults) as core_fast:
    PythonOperator(task_id="quick", python_callable=_ok)

with DAG(dag_id="core_mapped", **_defaults) as core_mapped:
    PythonOperator.partial(task_id="per_item", python_callable=_item).expand(op_args=[[1], [2], [3]])

with DAG(dag_id="core_proxied", **_defaults) as core_proxied:
    PythonOperator(task_id="work", python_callable=_ok)

with DAG(dag_id="core_not_proxied", **_defaults) as core_not_proxied:
    PythonOperator(task_id="work", python_callable=_ok)

with DAG(dag_id="core_quick_then_slow", **_defaults) as core_quick_then_slow:
    quick = PythonOperator(task_id="quick", python_callable=_ok)
    slow = PythonOperator(task_id="slow", python_callable=_wait_for_release)
    quick >> slow

proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    dagster_operator_klass=ProxyToUnreachableDagster,
)
