"""The Dagster side of the proxying tests, built by ``airlift_components.core`` from the proxy Airflow.

No ``from __future__ import annotations`` here: dagster inspects the `context` annotations.

The mapped assets are small executable assets (slow, failing, partitioned ones for the edge cases),
annotated with ``assets_with_task_mappings`` / ``assets_with_dag_mappings``. The DAG assets and their
``airlift/proxy_targets`` metadata come from ``build_defs_from_airflow_instance``, so a drift between
core's writer and the proxy operators' reader fails the tests.

The snapshot: the first load fetches it from the session's Airflow 3 (``AIRLIFT_TEST_AIRFLOW_URL``,
which must be up) and writes it to ``AIRLIFT_SNAPSHOT_CACHE_DIR``; later loads (code-location reloads)
read that file, and run workers reuse the reconstruction metadata: neither calls Airflow.

``AIRLIFT_TEST_EXECUTOR``: ``in_process`` (default; one process per run keeps runs short on a busy test
machine) or ``default`` (no executor override: Dagster's multiprocess executor, as a user's project has).
"""

import os
import time
from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    in_process_executor,
)

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    assets_with_dag_mappings,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME

INSTANCE_NAME = os.environ.get("AIRLIFT_TEST_INSTANCE_NAME", "airflow_test")
AIRFLOW_URL = os.environ["AIRLIFT_TEST_AIRFLOW_URL"]
EXECUTOR = os.environ.get("AIRLIFT_TEST_EXECUTOR", "in_process")
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


def _simple(*path: str, deps: Sequence[Sequence[str]] = (), sleep: float = 0.0, fail: bool = False):
    @asset(key=list(path), deps=[AssetKey(list(d)) for d in deps])
    def _asset(context: AssetExecutionContext) -> None:
        if sleep:
            time.sleep(sleep)
        if fail:
            raise RuntimeError(f"{'/'.join(path)} failed on purpose")
        context.log.info(f"materializing {context.asset_key.to_user_string()}")

    return _asset


@asset(key=["proxy_partitioned", "daily_table"], partitions_def=DAILY)
def daily_table(context: AssetExecutionContext) -> None:
    context.log.info(f"partition {context.partition_key}")


def _chain(dag_id: str, task_ids: Sequence[str], **kwargs) -> dict[str, list]:
    """One asset per task, each depending on the previous one: ``{task_id: [asset]}``."""
    by_task: dict[str, list] = {}
    prev: list[list[str]] = []
    for task_id in task_ids:
        by_task[task_id] = [_simple(dag_id, task_id, deps=prev, **kwargs.get(task_id, {}))]
        prev = [[dag_id, task_id]]
    return by_task


TASK_MAPPED = {
    "proxy_middle": _chain("proxy_middle", ["extract", "transform", "load"]),
    "proxy_all": _chain("proxy_all", ["first", "second"]),
    "proxy_custom_auth": _chain("proxy_custom_auth", ["build"]),
    "proxy_failing": _chain("proxy_failing", ["before", "breaks"], breaks={"fail": True}),
    "proxy_retry": _chain("proxy_retry", ["slow"], slow={"sleep": 6.0}),
    "proxy_timeout": _chain("proxy_timeout", ["very_slow"], very_slow={"sleep": 120.0}),
    "proxy_canceled": _chain("proxy_canceled", ["long_running"], long_running={"sleep": 120.0}),
    "proxy_worker_kill": _chain("proxy_worker_kill", ["slow"], slow={"sleep": 45.0}),
    "proxy_fallback": _chain("proxy_fallback", ["only"]),
    "proxy_unreachable": _chain("proxy_unreachable", ["only"]),
    "proxy_bench": _chain("proxy_bench", ["work"]),
    "proxy_airflow2": _chain("proxy_airflow2", ["extract", "transform"]),
    "proxy_partitioned": {"daily": [daily_table]},
}
DAG_MAPPED = {
    "proxy_dag_level": [a for assets in _chain("proxy_dag_level", ["a", "b", "c"]).values() for a in assets],
    "proxy_custom_dag_auth": [
        a for assets in _chain("proxy_custom_dag_auth", ["one", "two"]).values() for a in assets
    ],
}

mapped_assets = [
    *(a for dag_id, by_task in TASK_MAPPED.items() for a in assets_with_task_mappings(dag_id, by_task)),
    *assets_with_dag_mappings(DAG_MAPPED),
]
executor = {"executor": in_process_executor} if EXECUTOR == "in_process" else {}

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        auth_backend=BasicAuthBackend(AIRFLOW_URL, ADMIN_USERNAME, ADMIN_PASSWORD), name=INSTANCE_NAME
    ),
    defs=Definitions(assets=mapped_assets, **executor),
)
