"""The Dagster project of the zero-code overhead benchmark (``benchmarks/zero_code.py``).

``zcb_hand_<kind>``'s task is mapped to a hand-written asset doing what the Airflow task does;
``zcb_zero_<kind>``'s task gets its zero-code asset. Environment as in the proxy tests' project
(``tests/in_airflow/dagster_project/definitions.py``): ``AIRLIFT_TEST_AIRFLOW_URL``,
``AIRLIFT_TEST_INSTANCE_NAME``, ``AIRLIFT_TEST_EXECUTOR``; ``ZCB_OUT_DIR`` where both write their files;
``ZCB_KEEP_WARM_SECONDS`` the zero-code runner's ``keep_warm_seconds`` (``0``: cold, a fresh runner per task).
"""

import os
import subprocess
from pathlib import Path

from dagster import AssetExecutionContext, Definitions, asset, in_process_executor

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME

OUT_DIR = os.environ.get("ZCB_OUT_DIR", "/tmp")
EXECUTOR = os.environ.get("AIRLIFT_TEST_EXECUTOR", "in_process")


@asset(key=["zcb_hand_python", "work"])
def hand_python(context: AssetExecutionContext) -> None:
    rows = [f"{context.run.tags.get('airlift/dag_run_id')},{n},{n * n}" for n in range(100)]
    Path(OUT_DIR, "hand_python.csv").write_text("\n".join(rows) + "\n")


@asset(key=["zcb_hand_bash", "work"])
def hand_bash(context: AssetExecutionContext) -> None:
    subprocess.run(["bash", "-c", f"seq 1 100 > {OUT_DIR}/hand_bash.txt && echo done"], check=True)


executor = {"executor": in_process_executor} if EXECUTOR == "in_process" else {}
defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        BasicAuthBackend(os.environ["AIRLIFT_TEST_AIRFLOW_URL"], ADMIN_USERNAME, ADMIN_PASSWORD),
        name=os.environ.get("AIRLIFT_TEST_INSTANCE_NAME", "airflow_test"),
    ),
    defs=Definitions(
        assets=[
            *assets_with_task_mappings("zcb_hand_python", {"work": [hand_python]}),
            *assets_with_task_mappings("zcb_hand_bash", {"work": [hand_bash]}),
        ],
        **executor,
    ),
    zero_code=ZeroCode(
        dags=["zcb_zero_*"], keep_warm_seconds=float(os.environ.get("ZCB_KEEP_WARM_SECONDS", "600"))
    ),
)
