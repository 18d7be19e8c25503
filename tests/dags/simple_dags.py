"""Small DAGs the client and sensor tests trigger."""

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator


def _ok() -> None:
    print("ok")


def _fail() -> None:
    raise RuntimeError("this task always fails")


with DAG(
    dag_id="simple_chain",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["test"],
) as simple_chain:
    first = PythonOperator(task_id="first", python_callable=_ok)
    second = PythonOperator(task_id="second", python_callable=_ok)
    third = PythonOperator(task_id="third", python_callable=_ok)
    first >> second >> third

with DAG(
    dag_id="always_fails",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["test"],
) as always_fails:
    ok = PythonOperator(task_id="ok", python_callable=_ok)
    boom = PythonOperator(task_id="boom", python_callable=_fail)
    ok >> boom
