"""The Dagster project of the whole-DAG zero-code test: the ``zc_whole_dag`` DAG (proxied as a whole), run
zero-code."""

from dagster import Definitions, in_process_executor

from tests.zero_code.dagster_projects import zero_code_project

# One process for the run's three steps: a process start per step costs more than the steps here.
defs = Definitions.merge(
    zero_code_project("zc_whole", "zc_whole_dag", ["zc_whole_*"]),
    Definitions(executor=in_process_executor),
)
