"""Stage 2 with daily partitions: each Airflow run materializes the partition of its logical date."""

from datetime import timedelta

from dagster import AssetExecutionContext, AssetSpec, DailyPartitionsDefinition, Definitions
from dagster._time import get_current_datetime_midnight
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    assets_with_task_mappings,
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

# The seed starts at today's midnight; we start a day earlier and let today's partition exist already
# (end_offset=1) so that runs triggered today (logical date today or yesterday) have a partition.
PARTITIONS_DEF = DailyPartitionsDefinition(
    start_date=get_current_datetime_midnight() - timedelta(days=1), end_offset=1
)


@dbt_assets(
    manifest=dbt_project_path() / "target" / "manifest.json",
    project=DbtProject(dbt_project_path()),
    partitions_def=PARTITIONS_DEF,
)
def dbt_project_assets(context: AssetExecutionContext, dbt: DbtCliResource):
    """Every model, seed and test of the dbt project, one partition per day."""
    yield from dbt.cli(["build"], context=context).stream()


mapped_assets = assets_with_task_mappings(
    dag_id="rebuild_customers_list",
    task_mappings={
        "load_raw_customers": [AssetSpec(key=["raw_data", "raw_customers"], partitions_def=PARTITIONS_DEF)],
        "build_dbt_models": [dbt_project_assets],
        "export_customers": [
            AssetSpec(key="customers_csv", deps=["customers"], partitions_def=PARTITIONS_DEF)
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
