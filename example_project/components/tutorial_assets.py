"""Executable assets for the YAML (component) form of the migrate stages.

They run the same code as the Airflow tasks. They carry no mapping: each stage's ``airflow/defs.yaml``
maps tasks onto them with ``by_key``. Not a stage folder, so ``load_component_stage`` never loads it
on its own; the stages' ``assets.py`` files import from it.
"""

from dagster import AssetsDefinition, AssetSpec, multi_asset

from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.load_csv_to_duckdb import LoadCsvToDuckDbArgs, load_csv_to_duckdb
from example_project.tutorial_env import (
    DUCKDB_DATABASE_NAME,
    airflow_dags_path,
    customers_csv_path,
    duckdb_path,
)


def raw_customers_asset() -> AssetsDefinition:
    """``raw_data/raw_customers``: what the ``load_raw_customers`` task does."""

    @multi_asset(name="load_raw_customers", specs=[AssetSpec(key=["raw_data", "raw_customers"])])
    def _load() -> None:
        load_csv_to_duckdb(
            LoadCsvToDuckDbArgs(
                table_name="raw_customers",
                csv_path=airflow_dags_path() / "raw_customers.csv",
                duckdb_path=duckdb_path(),
                names=["id", "first_name", "last_name"],
                duckdb_schema="raw_data",
                duckdb_database_name=DUCKDB_DATABASE_NAME,
            )
        )

    return _load


def customers_csv_asset() -> AssetsDefinition:
    """``customers_csv``: what the ``export_customers`` task does."""

    @multi_asset(name="export_customers", specs=[AssetSpec(key="customers_csv", deps=["customers"])])
    def _export() -> None:
        export_duckdb_to_csv(
            ExportDuckDbToCsvArgs(
                table_name="customers",
                csv_path=customers_csv_path(),
                duckdb_path=duckdb_path(),
                duckdb_database_name=DUCKDB_DATABASE_NAME,
            )
        )

    return _export
