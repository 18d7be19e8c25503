"""Stage 3 with an asset check on ``customers_csv``: it runs wherever the export ran."""

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Definitions,
    asset_check,
    multi_asset,
)
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from example_project.dagster_defs.csv_check import check_exported_csv
from example_project.dagster_defs.summarize_orders import summarize_orders_assets

# Code also invoked from Airflow
from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.load_csv_to_duckdb import LoadCsvToDuckDbArgs, load_csv_to_duckdb
from example_project.tutorial_env import (
    AIRFLOW_INSTANCE_NAME,
    DUCKDB_DATABASE_NAME,
    airflow_dags_path,
    airflow_webserver_url,
    customers_csv_path,
    dbt_executable,
    dbt_project_path,
    duckdb_path,
    export_dbt_env,
)

export_dbt_env()


def load_csv_to_duckdb_asset(spec: AssetSpec, args: LoadCsvToDuckDbArgs) -> AssetsDefinition:
    """An asset that runs the same code as the ``LoadCSVToDuckDB`` operator."""

    @multi_asset(name=f"load_{args.table_name}", specs=[spec])
    def _multi_asset() -> None:
        load_csv_to_duckdb(args)

    return _multi_asset


def export_duckdb_to_csv_defs(spec: AssetSpec, args: ExportDuckDbToCsvArgs) -> AssetsDefinition:
    """An asset that runs the same code as the ``export_customers`` task."""

    @multi_asset(name=f"export_{args.table_name}", specs=[spec])
    def _multi_asset() -> None:
        export_duckdb_to_csv(args)

    return _multi_asset


@dbt_assets(
    manifest=dbt_project_path() / "target" / "manifest.json",
    project=DbtProject(dbt_project_path()),
)
def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """Every model, seed and test of the dbt project."""
    yield from dbt.cli(["build"], context=context).stream()


mapped_assets = assets_with_task_mappings(
    dag_id="rebuild_customers_list",
    task_mappings={
        "load_raw_customers": [
            load_csv_to_duckdb_asset(
                AssetSpec(key=["raw_data", "raw_customers"]),
                LoadCsvToDuckDbArgs(
                    table_name="raw_customers",
                    csv_path=airflow_dags_path() / "raw_customers.csv",
                    duckdb_path=duckdb_path(),
                    names=["id", "first_name", "last_name"],
                    duckdb_schema="raw_data",
                    duckdb_database_name=DUCKDB_DATABASE_NAME,
                ),
            )
        ],
        "build_dbt_models":
        # load rich set of assets from dbt project
        [dbt_project_assets],
        "export_customers": [
            export_duckdb_to_csv_defs(
                AssetSpec(key="customers_csv", deps=["customers"]),
                ExportDuckDbToCsvArgs(
                    table_name="customers",
                    csv_path=customers_csv_path(),
                    duckdb_path=duckdb_path(),
                    duckdb_database_name=DUCKDB_DATABASE_NAME,
                ),
            )
        ],
    },
)


@asset_check(asset=AssetKey(["customers_csv"]))
def validate_exported_csv() -> AssetCheckResult:
    """Fails when the exported ``customers.csv`` is missing or has no data rows."""
    return check_exported_csv(customers_csv_path())


defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        auth_backend=BasicAuthBackend(
            webserver_url=airflow_webserver_url(),
            username="admin",
            password="admin",
        ),
        name=AIRFLOW_INSTANCE_NAME,
    ),
    defs=Definitions(
        # summarize_orders is migrated as a whole DAG (see dagster_defs/summarize_orders.py)
        assets=[*mapped_assets, *summarize_orders_assets()],
        asset_checks=[validate_exported_csv],
        resources={"dbt": DbtCliResource(project_dir=dbt_project_path(), dbt_executable=dbt_executable())},
    ),
)
