"""The Dagster project of the zero-code termination test: the ``zc_terminate`` DAG, run zero-code."""

from tests.zero_code.dagster_projects import zero_code_project

defs = zero_code_project("zc_terminate", "zc_terminate")
