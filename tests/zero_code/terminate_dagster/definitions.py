"""The Dagster project of the zero-code termination test: definitions built by the real builder with
``zero_code`` for the ``zc_terminate`` DAG of the session's Airflow (URL from the test harness's env)."""

import os

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        BasicAuthBackend(os.environ["AIRLIFT_TEST_AIRFLOW_URL"], ADMIN_USERNAME, ADMIN_PASSWORD),
        name="zc_terminate",
    ),
    retrieval_filter=None,
    dag_selector_fn=lambda dag: dag.dag_id == "zc_terminate",
    zero_code=ZeroCode(dags=["zc_terminate"]),
)
