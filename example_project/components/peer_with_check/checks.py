"""The tutorial's CSV check on the peered DAG asset: runs whenever the DAG finishes in Airflow."""

from dagster import AssetCheckResult, AssetKey, asset_check

from example_project.dagster_defs.csv_check import check_exported_csv
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME, customers_csv_path


@asset_check(asset=AssetKey([AIRFLOW_INSTANCE_NAME, "dag", "rebuild_customers_list"]))
def validate_exported_csv() -> AssetCheckResult:
    """Fails when the exported ``customers.csv`` is missing or has no data rows."""
    return check_exported_csv(customers_csv_path())
