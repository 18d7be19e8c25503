"""The Dagster project of ``tests/zero_code/test_dagster_airflow2.py``: the ``zc2_e2e`` DAG of the session's
Airflow 2.11, run zero-code by a runner in ``.venv-airflow2`` (another environment than Dagster's).

The connections the tasks use exist only in this process's environment (``AIRFLOW_CONN_*``, set by the
test) and are handed to the runner through ``env_vars``. One step per run in the run worker's process
(``in_process_executor``): each proxied try is one short run.
"""

import os
from pathlib import Path

from dagster import Definitions, in_process_executor

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME

DAG_ID = "zc2_e2e"
AIRFLOW2_PYTHON = Path(__file__).resolve().parents[3] / ".venv-airflow2" / "bin" / "python"
ENV_VARS = ["AIRFLOW_CONN_ZC2E_SQLITE", "AIRFLOW_CONN_ZC2E_SECRET"]

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        BasicAuthBackend(os.environ["AIRLIFT_TEST_AIRFLOW_URL"], ADMIN_USERNAME, ADMIN_PASSWORD),
        name="zc2_e2e",
    ),
    defs=Definitions(executor=in_process_executor),
    retrieval_filter=None,
    dag_selector_fn=lambda dag: dag.dag_id == DAG_ID,
    zero_code=ZeroCode(dags=[DAG_ID], python=str(AIRFLOW2_PYTHON), env_vars=ENV_VARS),
)
