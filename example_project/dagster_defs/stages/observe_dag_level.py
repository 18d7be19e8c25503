"""Stage 2 at DAG level: every mapped asset is materialized when the whole DAG run finishes."""

from dagster import AssetExecutionContext, AssetSpec, Definitions
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    assets_with_dag_mappings,
    build_defs_from_airflow_instance,
)
from example_project.tutorial_env import (
    AIRFLOW_INSTANCE_NAME,
    airflow_webserver_url,
    dbt_executable,
    dbt_project_path,
    export_dbt_env,
)

export_dbt_env()


@dbt_assets(
    manifest=dbt_project_path() / "target" / "manifest.json",
    project=DbtProject(dbt_project_path()),
)
def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """Every model, seed and test of the dbt project."""
    yield from dbt.cli(["build"], context=context).stream()


# Instead of mapping assets to individual tasks, we map them to the entire DAG.
mapped_assets = assets_with_dag_mappings(
    dag_mappings={
        "rebuild_customers_list": [
            AssetSpec(key=["raw_data", "raw_customers"]),
            dbt_project_assets,
            AssetSpec(key="customers_csv", deps=["customers"]),
        ],
    },
)


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
        assets=mapped_assets,
        resources={"dbt": DbtCliResource(project_dir=dbt_project_path(), dbt_executable=dbt_executable())},
    ),
)
