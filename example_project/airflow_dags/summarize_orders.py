"""``summarize_orders``: a DAG migrated as a whole (``proxied_state/summarize_orders.yaml`` says ``proxied: True``).

When proxied, Airflow replaces both tasks by one task that materializes every asset mapped to this DAG
in Dagster; set ``proxied: False`` and the original tasks come back unchanged.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airlift_components.in_airflow import proxying_to_dagster
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml
from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.summarize_orders import summarize_orders
from example_project.tutorial_env import DUCKDB_DATABASE_NAME, duckdb_path, order_summary_csv_path


def build_order_summary() -> None:
    """Aggregate the ``orders`` mart by status into ``order_summary``."""
    print(f"order_summary has {summarize_orders(duckdb_path(), DUCKDB_DATABASE_NAME)} rows")


def export_order_summary() -> None:
    """Export ``order_summary`` to ``$TUTORIAL_EXAMPLE_DIR/order_summary.csv``."""
    export_duckdb_to_csv(
        ExportDuckDbToCsvArgs(
            table_name="order_summary",
            csv_path=order_summary_csv_path(),
            duckdb_path=duckdb_path(),
            duckdb_database_name=DUCKDB_DATABASE_NAME,
        )
    )


with DAG(
    dag_id="summarize_orders",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["tutorial"],
) as dag:
    PythonOperator(task_id="build_order_summary", python_callable=build_order_summary) >> PythonOperator(
        task_id="export_order_summary", python_callable=export_order_summary
    )


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
)
