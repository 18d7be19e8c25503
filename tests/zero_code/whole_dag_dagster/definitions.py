"""The Dagster project of the whole-DAG zero-code test: definitions built by the real builder with
``zero_code`` for the ``zc_whole_dag`` DAG of the session's Airflow (URL from the test harness's env)."""

import os

from dagster import Definitions, in_process_executor

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME

# One process for the run's three steps: a process start per step costs more than the steps here.
defs = Definitions.merge(
    build_defs_from_airflow_instance(
        airflow_instance=AirflowInstance(
            BasicAuthBackend(os.environ["AIRLIFT_TEST_AIRFLOW_URL"], ADMIN_USERNAME, ADMIN_PASSWORD),
            name="zc_whole",
        ),
        retrieval_filter=None,
        dag_selector_fn=lambda dag: dag.dag_id == "zc_whole_dag",
        zero_code=ZeroCode(dags=["zc_whole_*"]),
    ),
    Definitions(executor=in_process_executor),
)
