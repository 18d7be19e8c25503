"""The Dagster project of the zero-code end-to-end test: the ``zc_dagster_e2e`` DAG, run zero-code."""

from tests.zero_code.dagster_projects import zero_code_project

defs = zero_code_project("zc_dagster_e2e", "zc_dagster_e2e")
