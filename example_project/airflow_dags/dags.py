"""The tutorial's ``rebuild_customers_list`` DAG: load raw customers, build the dbt models, export a CSV.

Which tasks run in Dagster instead of Airflow is decided by ``proxied_state/rebuild_customers_list.yaml``
through the ``proxying_to_dagster`` call at the end of this file.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, BaseOperator

from airlift_components.in_airflow import proxying_to_dagster
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml
from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.load_csv_to_duckdb import LoadCsvToDuckDbArgs, load_csv_to_duckdb
from example_project.tutorial_env import (
    DUCKDB_DATABASE_NAME,
    customers_csv_path,
    dbt_executable,
    dbt_project_path,
    duckdb_path,
)

DAGS_DIR = Path(__file__).resolve().parent


class LoadCSVToDuckDB(BaseOperator):
    """Load a CSV file into ``<duckdb_database_name>.<duckdb_schema>.<table_name>`` (a custom operator)."""

    def __init__(
        self,
        *,
        table_name: str,
        csv_path: Path,
        duckdb_path: Path,
        column_names: list[str],
        duckdb_schema: str,
        duckdb_database_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._args = LoadCsvToDuckDbArgs(
            table_name=table_name,
            csv_path=csv_path,
            duckdb_path=duckdb_path,
            names=column_names,
            duckdb_schema=duckdb_schema,
            duckdb_database_name=duckdb_database_name,
        )

    def execute(self, context: Any) -> int:
        rows = load_csv_to_duckdb(self._args)
        self.log.info("Loaded %d rows from %s into %s", rows, self._args.csv_path, self._args.table_name)
        return rows


def run_dbt_build() -> None:
    """``dbt build`` the example project with the dbt of Airflow's own environment."""
    project = dbt_project_path()
    # A target path of our own, so Airflow never rewrites the manifest the Dagster side loads.
    work = duckdb_path().parent / "dbt_airflow"
    env = {**os.environ, "AIRLIFT_DUCKDB_PATH": str(duckdb_path())}
    command = [
        dbt_executable(),
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    print(result.stdout)
    if result.returncode != 0:
        raise RuntimeError(f"dbt build failed with exit code {result.returncode}:\n{result.stdout[-4000:]}")


def export_customers() -> None:
    """Export the ``customers`` mart to ``$TUTORIAL_EXAMPLE_DIR/customers.csv``."""
    rows = export_duckdb_to_csv(
        ExportDuckDbToCsvArgs(
            table_name="customers",
            csv_path=customers_csv_path(),
            duckdb_path=duckdb_path(),
            duckdb_database_name=DUCKDB_DATABASE_NAME,
        )
    )
    print(f"Exported {rows} customers to {customers_csv_path()}")


with DAG(
    dag_id="rebuild_customers_list",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    # One run at a time: all tasks write the same DuckDB file.
    max_active_runs=1,
    default_args={"retries": 0, "retry_delay": timedelta(seconds=5)},
    tags=["tutorial"],
) as dag:
    load_raw_customers = LoadCSVToDuckDB(
        task_id="load_raw_customers",
        table_name="raw_customers",
        csv_path=DAGS_DIR / "raw_customers.csv",
        duckdb_path=duckdb_path(),
        column_names=["id", "first_name", "last_name"],
        duckdb_schema="raw_data",
        duckdb_database_name=DUCKDB_DATABASE_NAME,
    )
    build_dbt_models = PythonOperator(task_id="build_dbt_models", python_callable=run_dbt_build)
    export_customers_task = PythonOperator(task_id="export_customers", python_callable=export_customers)
    load_raw_customers >> build_dbt_models >> export_customers_task


# The tutorial's `PROXYING = True` step, done: proxied tasks run in Dagster, the others stay in Airflow.
proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
)
