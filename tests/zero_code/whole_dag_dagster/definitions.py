"""The Dagster project of the whole-DAG zero-code test: the ``zc_whole_dag`` DAG (proxied as a whole), run
zero-code, with its ``combine`` task mapped to ``warehouse/order_totals`` (a task mapping onto a task that
only the proxy's record lists)."""

from dagster import AssetSpec, Definitions, in_process_executor

from airlift_components.core import assets_with_task_mappings
from tests.zero_code.dagster_projects import zero_code_project

ORDER_TOTALS = ["warehouse", "order_totals"]

# One process for the run's three steps: a process start per step costs more than the steps here.
defs = Definitions.merge(
    zero_code_project(
        "zc_whole",
        "zc_whole_dag",
        ["zc_whole_*"],
        Definitions(assets=assets_with_task_mappings("zc_whole_dag", {"combine": [AssetSpec(ORDER_TOTALS)]})),
    ),
    Definitions(executor=in_process_executor),
)
