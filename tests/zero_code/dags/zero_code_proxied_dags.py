"""A DAG whose task is proxied to Dagster: the zero-code runner must still run its original code."""

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airlift_components.in_airflow import load_proxied_state_from_yaml, proxying_to_dagster

with DAG(dag_id="zc_proxied", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as zc_proxied:

    @task
    def compute() -> dict:
        return {"computed_by": "the original task"}

    compute()


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
)
