"""A tiny DAG so that the demo has something to run."""

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG("demo_hello", schedule=None, start_date=datetime(2024, 1, 1), catchup=False, tags=["demo"]) as dag:
    PythonOperator(task_id="say_hello", python_callable=lambda: print("hello from Airflow"))
