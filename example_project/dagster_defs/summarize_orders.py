"""Dagster assets for the ``summarize_orders`` DAG, mapped to the whole DAG (it is proxied at DAG level).

Added to the migrate stages: once ``proxied_state/summarize_orders.yaml`` says ``proxied: True``,
Airflow's single proxy task launches these assets in Dagster.
"""

from dagster import AssetsDefinition, AssetSpec, multi_asset

from airlift_components.core import assets_with_dag_mappings
from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.summarize_orders import summarize_orders
from example_project.tutorial_env import DUCKDB_DATABASE_NAME, duckdb_path, order_summary_csv_path


def _order_summary_table() -> AssetsDefinition:
    @multi_asset(name="build_order_summary", specs=[AssetSpec(key="order_summary", deps=["orders"])])
    def _multi_asset() -> None:
        summarize_orders(duckdb_path(), DUCKDB_DATABASE_NAME)

    return _multi_asset


def _order_summary_csv() -> AssetsDefinition:
    @multi_asset(
        name="export_order_summary", specs=[AssetSpec(key="order_summary_csv", deps=["order_summary"])]
    )
    def _multi_asset() -> None:
        export_duckdb_to_csv(
            ExportDuckDbToCsvArgs(
                table_name="order_summary",
                csv_path=order_summary_csv_path(),
                duckdb_path=duckdb_path(),
                duckdb_database_name=DUCKDB_DATABASE_NAME,
            )
        )

    return _multi_asset


def order_summary_assets() -> list[AssetsDefinition]:
    """The executable assets of ``summarize_orders`` without a mapping (the YAML stages map them by key)."""
    return [_order_summary_table(), _order_summary_csv()]


def summarize_orders_assets() -> list[AssetsDefinition]:
    """The executable assets of ``summarize_orders``, annotated with their DAG mapping."""
    return list(assets_with_dag_mappings(dag_mappings={"summarize_orders": order_summary_assets()}))
