"""The tutorial's CSV check on ``customers_csv``: runs after each materialization, wherever it ran."""

from dagster import AssetCheckResult, AssetKey, asset_check

from example_project.dagster_defs.csv_check import check_exported_csv
from example_project.tutorial_env import customers_csv_path


@asset_check(asset=AssetKey(["customers_csv"]))
def validate_exported_csv() -> AssetCheckResult:
    """Fails when the exported ``customers.csv`` is missing or has no data rows."""
    return check_exported_csv(customers_csv_path())
