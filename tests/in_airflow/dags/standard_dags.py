"""DAGs proxied with the default operators (state in proxied_state/<dag_id>.yaml)."""

from datetime import datetime, timedelta
from pathlib import Path

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

from airlift_components.in_airflow import proxying_to_dagster
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml


def _in_airflow(**context) -> None:
    print(f"ran in Airflow: {context['ti'].task_id}")


def _fail_in_airflow() -> None:
    raise RuntimeError("this task must have been proxied to Dagster")


def _dag(dag_id: str, **kwargs) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, **kwargs)


with _dag("proxy_middle", tags=["proxy-test"]) as proxy_middle:
    extract = PythonOperator(task_id="extract", python_callable=_in_airflow)
    transform = PythonOperator(
        task_id="transform",
        python_callable=_fail_in_airflow,
        retries=2,
        retry_delay=timedelta(seconds=3),
        pool="default_pool",
        queue="default",
        trigger_rule="all_done",
        doc_md="Transforms extracted rows.",
    )
    load = PythonOperator(task_id="load", python_callable=_in_airflow)
    extract >> transform >> load

with _dag("proxy_all") as proxy_all:
    first = PythonOperator(task_id="first", python_callable=_fail_in_airflow)
    second = PythonOperator(task_id="second", python_callable=_fail_in_airflow)
    first >> second

with _dag("proxy_dag_level") as proxy_dag_level:
    a = PythonOperator(task_id="a", python_callable=_fail_in_airflow)
    b = PythonOperator(task_id="b", python_callable=_fail_in_airflow)
    c = PythonOperator(task_id="c", python_callable=_fail_in_airflow)
    a >> [b, c]

with _dag("proxy_failing") as proxy_failing:
    before = PythonOperator(task_id="before", python_callable=_in_airflow)
    breaks = PythonOperator(task_id="breaks", python_callable=_fail_in_airflow)
    before >> breaks

with _dag("proxy_timeout") as proxy_timeout:
    PythonOperator(
        task_id="very_slow", python_callable=_fail_in_airflow, execution_timeout=timedelta(seconds=10)
    )

with _dag("proxy_canceled") as proxy_canceled:
    PythonOperator(task_id="long_running", python_callable=_fail_in_airflow)

with _dag("proxy_worker_kill") as proxy_worker_kill:
    PythonOperator(
        task_id="slow", python_callable=_fail_in_airflow, retries=1, retry_delay=timedelta(seconds=1)
    )

with _dag("proxy_bench", max_active_runs=1) as proxy_bench:
    PythonOperator(task_id="work", python_callable=_fail_in_airflow)

with _dag("proxy_partitioned") as proxy_partitioned:
    PythonOperator(task_id="daily", python_callable=_fail_in_airflow)

with _dag("proxy_airflow2") as proxy_airflow2:
    af2_extract = PythonOperator(task_id="extract", python_callable=_in_airflow)
    af2_transform = PythonOperator(task_id="transform", python_callable=_fail_in_airflow)
    af2_extract >> af2_transform

proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
)
