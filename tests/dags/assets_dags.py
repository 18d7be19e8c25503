"""DAGs linked by Airflow assets (Airflow 3) / datasets (Airflow 2), for tests/core/test_airflow_assets.py."""

from datetime import datetime

try:
    from airflow.sdk import DAG, Asset
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator

ORDERS = Asset("s3://airlift-test/orders.csv")
SCRATCH = Asset("file:///tmp/airlift-test/scratch_file.txt")
CYCLIC = Asset("s3://airlift-test/cyclic")


def _ok() -> None:
    print("ok")


with DAG(dag_id="assets_producer", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    # In sequence: two outlet tasks starting at once stall Airflow 3's API server on SQLite's write lock.
    write_orders = PythonOperator(task_id="write_orders", python_callable=_ok, outlets=[ORDERS])
    write_scratch = PythonOperator(task_id="write_scratch", python_callable=_ok, outlets=[SCRATCH])
    write_orders >> write_scratch

with DAG(dag_id="assets_consumer", schedule=[ORDERS], start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="read_orders", python_callable=_ok)

# Scheduled on the asset it produces: the Dagster graph must not get a cycle from it.
with DAG(dag_id="assets_cyclic", schedule=[CYCLIC], start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="rewrite", python_callable=_ok, outlets=[CYCLIC])
