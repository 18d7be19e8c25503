"""What the zero-code tests' Dagster code locations share: definitions built by the real builder with
``zero_code`` for one DAG of the session's Airflow (URL from the test harness's env)."""

from __future__ import annotations

import os

from dagster import Definitions

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME


def zero_code_project(
    name: str, dag_id: str, zero_code_dags: list[str] | None = None, defs: Definitions | None = None
) -> Definitions:
    """Instance ``name`` peering only ``dag_id``, whose tasks (or those of ``zero_code_dags``) run zero-code;
    ``defs``: the user's definitions (e.g. task mappings)."""
    return build_defs_from_airflow_instance(
        defs=defs,
        airflow_instance=AirflowInstance(
            BasicAuthBackend(os.environ["AIRLIFT_TEST_AIRFLOW_URL"], ADMIN_USERNAME, ADMIN_PASSWORD),
            name=name,
        ),
        retrieval_filter=None,
        dag_selector_fn=lambda dag: dag.dag_id == dag_id,
        zero_code=ZeroCode(dags=zero_code_dags or [dag_id]),
    )
