"""Stage 1 with an asset check on the peered DAG asset: runs whenever the DAG finishes in Airflow."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, Definitions, asset_check

from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME, airflow_webserver_url, customers_csv_path


# Attach a check to the DAG representation asset, which will be executed by Dagster
# any time the DAG is run in Airflow
@asset_check(asset=AssetKey([AIRFLOW_INSTANCE_NAME, "dag", "rebuild_customers_list"]))
def validate_exported_csv() -> AssetCheckResult:
    """Fails when the exported ``customers.csv`` is missing or has no data rows."""
    csv_path = customers_csv_path()

    if not csv_path.exists():
        return AssetCheckResult(passed=False, description=f"Export CSV {csv_path} does not exist")

    # The seed counts split("\n") pieces, which passes a header-only file; count non-blank lines instead.
    lines = [line for line in csv_path.read_text().splitlines() if line.strip()]
    rows = len(lines) - 1  # data rows, without the header
    if len(lines) < 2:
        return AssetCheckResult(
            passed=False,
            description=f"Export CSV {csv_path} is empty",
            severity=AssetCheckSeverity.WARN,
        )

    return AssetCheckResult(
        passed=True,
        description=f"Export CSV {csv_path} exists",
        metadata={"rows": rows},
    )


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
