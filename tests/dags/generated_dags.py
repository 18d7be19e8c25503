"""Generates many small DAGs so that listing tests cross several pages."""

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

for i in range(260):
    with DAG(
        dag_id=f"generated_{i:03d}",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        tags=["generated", f"group_{i % 4}"],
    ) as dag:
        EmptyOperator(task_id="start") >> EmptyOperator(task_id="end")
    globals()[dag.dag_id] = dag
