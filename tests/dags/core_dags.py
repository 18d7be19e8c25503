"""DAGs the Dagster-side (core) tests peer to and trigger. All unscheduled: tests trigger every run."""

import time
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

# The same string as airlift_components.conventions.PROXY_MARKER_FIELD (not imported: Airflow 2's
# environment does not have the package on its path).
PROXY_MARKER_FIELD = "airlift_proxied_to_dagster"


def _ok() -> None:
    print("ok")


def _slow() -> None:
    time.sleep(12)


def _item(value: int) -> None:
    print(value)


class MarkedAsProxiedOperator(PythonOperator):
    """Stands in for a proxy operator: carries the marker template field the sensor looks for."""

    template_fields = (*PythonOperator.template_fields, PROXY_MARKER_FIELD)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        setattr(self, PROXY_MARKER_FIELD, "dagster:task")


_defaults = {"schedule": None, "start_date": datetime(2024, 1, 1), "catchup": False, "tags": ["core_test"]}

with DAG(dag_id="rebuild_customers_list", **_defaults) as rebuild_customers_list:
    load = PythonOperator(task_id="load_raw_customers", python_callable=_ok)
    build = PythonOperator(task_id="build_dbt_models", python_callable=_ok)
    export = PythonOperator(task_id="export_customers", python_callable=_ok)
    load >> build >> export

with DAG(dag_id="core_slow", **_defaults) as core_slow:
    PythonOperator(task_id="sleep", python_callable=_slow)

with DAG(dag_id="core_fast", **_defaults) as core_fast:
    PythonOperator(task_id="quick", python_callable=_ok)

with DAG(dag_id="core_mapped", **_defaults) as core_mapped:
    PythonOperator.partial(task_id="per_item", python_callable=_item).expand(op_args=[[1], [2], [3]])

with DAG(dag_id="core_proxied", **_defaults) as core_proxied:
    MarkedAsProxiedOperator(task_id="work", python_callable=_ok)

with DAG(dag_id="core_not_proxied", **_defaults) as core_not_proxied:
    PythonOperator(task_id="work", python_callable=_ok)

with DAG(dag_id="core_quick_then_slow", **_defaults) as core_quick_then_slow:
    quick = PythonOperator(task_id="quick", python_callable=_ok)
    slow = PythonOperator(task_id="slow", python_callable=_slow)
    quick >> slow
