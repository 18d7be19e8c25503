"""DAGs linked by Airflow assets (Airflow 3) / datasets (Airflow 2), for tests/core/test_airflow_assets.py."""

from datetime import datetime, timedelta

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
PARTS = Asset("gs://airlift-test/parts")
try:  # Airflow 3: an asset has a name and a group besides its URI
    DESCRIBED = Asset(
        name="airlift_test_events",
        uri="gs://airlift-test/events.parquet",
        group="airlift_tests",
        extra={"owner": "data-team"},
    )
except TypeError:  # Airflow 2: a dataset has a URI and extra only
    DESCRIBED = Asset("gs://airlift-test/events.parquet", extra={"owner": "data-team"})


def _ok() -> None:
    print("ok")


def _write_events(outlet_events) -> None:
    outlet_events[DESCRIBED].extra = {"rows": 3}


def _part(value: int) -> None:
    print(value)


# Retries: the first task a fresh, loaded test Airflow 3 runs can be killed while its API server warms up.
with DAG(
    dag_id="assets_producer",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
):
    # One task, two outlets: one task run is cheaper on Airflow 2's SequentialExecutor.
    PythonOperator(task_id="write_orders", python_callable=_ok, outlets=[ORDERS, SCRATCH])

with DAG(dag_id="assets_consumer", schedule=[ORDERS], start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="read_orders", python_callable=_ok)

# Scheduled on the asset it produces: the Dagster graph must not get a cycle from it.
with DAG(dag_id="assets_cyclic", schedule=[CYCLIC], start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="rewrite", python_callable=_ok, outlets=[CYCLIC])

# Name, group and extra on the asset; extra on its event; a mapped task's events (one per map index).
with DAG(dag_id="assets_described", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    events = PythonOperator(task_id="write_events", python_callable=_write_events, outlets=[DESCRIBED])
    parts = PythonOperator.partial(task_id="write_parts", python_callable=_part, outlets=[PARTS]).expand(
        op_args=[[1], [2]]
    )
    events >> parts
