"""Stage 1 with an asset check on the peered DAG asset: runs whenever the DAG finishes in Airflow."""

from dagster import AssetCheckResult, AssetKey, Definitions, asset_check

from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance
from example_project.dagster_defs.csv_check import check_exported_csv
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME, airflow_webserver_url, customers_csv_path


# Attach a check to the DAG representation asset, which will be executed by Dagster
# any time the DAG is run in Airflow
@asset_check(asset=AssetKey([AIRFLOW_INSTANCE_NAME, "dag", "rebuild_customers_list"]))
def validate_exported_csv() -> AssetCheckResult:
    """Fails when the exported ``customers.csv`` is missing or has no data rows."""
    return check_exported_csv(customers_csv_path())


defs = Definitions.merge(
    build_defs_from_airflow_instance(
        airflow_instance=AirflowInstance(
            # other backends available (e.g. MwaaSessionAuthBackend)
            auth_backend=BasicAuthBackend(
                webserver_url=airflow_webserver_url(),
                username="admin",
                password="admin",
            ),
            name=AIRFLOW_INSTANCE_NAME,
        )
    ),
    Definitions(asset_checks=[validate_exported_csv]),
)
