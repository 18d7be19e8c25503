"""The Dagster side of the proxying tests, in plain dagster (no ``airlift_components.core``).

No ``from __future__ import annotations`` here: dagster inspects the `context` annotations.

Every test DAG gets a DAG asset ``[INSTANCE_NAME, "dag", dag_id]`` carrying, by hand, the metadata that
``core``'s builder writes (``airlift/dag_id`` and ``airlift/proxy_targets``), so the proxy operators
find what to launch. The mapped assets are small executable assets.
"""

import json
import os
import time
from collections.abc import Mapping, Sequence

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    in_process_executor,
)

from airlift_components.conventions import (
    DAG_ID_METADATA_KEY,
    INSTANCE_NAME_METADATA_KEY,
    PROXY_TARGETS_METADATA_KEY,
)

INSTANCE_NAME = os.environ.get("AIRLIFT_TEST_INSTANCE_NAME", "airflow_test")
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


def _work(context: AssetExecutionContext) -> None:
    context.log.info(f"materializing {context.asset_key.to_user_string()}")


def _simple(*path: str, deps: Sequence[Sequence[str]] = (), sleep: float = 0.0, fail: bool = False):
    @asset(key=list(path), deps=[AssetKey(list(d)) for d in deps])
    def _asset(context: AssetExecutionContext) -> None:
        if sleep:
            time.sleep(sleep)
        if fail:
            raise RuntimeError(f"{'/'.join(path)} failed on purpose")
        _work(context)

    return _asset


@asset(key=["proxy_partitioned", "daily_table"], partitions_def=DAILY)
def daily_table(context: AssetExecutionContext) -> None:
    context.log.info(f"partition {context.partition_key}")


def dag_asset(
    dag_id: str,
    *,
    tasks: Mapping[str, Sequence[Sequence[str]]] | None = None,
    dag: Sequence[Sequence[str]] = (),
    partitions: Mapping[str, Mapping[str, str]] | None = None,
) -> AssetSpec:
    """The DAG asset with the metadata the operator reads (conventions.PROXY_TARGETS_METADATA_KEY)."""
    targets = {
        "dag": [list(k) for k in dag],
        "tasks": {task_id: [list(k) for k in keys] for task_id, keys in (tasks or {}).items()},
        "partitions": dict(partitions or {}),
    }
    return AssetSpec(
        key=[INSTANCE_NAME, "dag", dag_id],
        metadata={
            DAG_ID_METADATA_KEY: dag_id,
            INSTANCE_NAME_METADATA_KEY: INSTANCE_NAME,
            PROXY_TARGETS_METADATA_KEY: json.dumps(targets),
        },
    )


def _chain(dag_id: str, task_ids: Sequence[str], **kwargs):
    """One asset per task, each depending on the previous one, and the DAG's mapping."""
    assets = []
    prev: list[list[str]] = []
    for task_id in task_ids:
        assets.append(_simple(dag_id, task_id, deps=prev, **kwargs.get(task_id, {})))
        prev = [[dag_id, task_id]]
    return assets, {task_id: [[dag_id, task_id]] for task_id in task_ids}


MIDDLE, MIDDLE_MAP = _chain("proxy_middle", ["extract", "transform", "load"])
ALL, ALL_MAP = _chain("proxy_all", ["first", "second"])
CUSTOM, CUSTOM_MAP = _chain("proxy_custom_auth", ["build"])
CUSTOM_DAG, _ = _chain("proxy_custom_dag_auth", ["one", "two"])
FAILING, FAILING_MAP = _chain("proxy_failing", ["before", "breaks"], breaks={"fail": True})
RETRY, RETRY_MAP = _chain("proxy_retry", ["slow"], slow={"sleep": 6.0})
KILL, KILL_MAP = _chain("proxy_timeout", ["very_slow"], very_slow={"sleep": 120.0})
CANCELED, CANCELED_MAP = _chain("proxy_canceled", ["long_running"], long_running={"sleep": 120.0})
WORKER_KILL, WORKER_KILL_MAP = _chain("proxy_worker_kill", ["slow"], slow={"sleep": 45.0})
DAG_LEVEL, _ = _chain("proxy_dag_level", ["a", "b", "c"])
FALLBACK, FALLBACK_MAP = _chain("proxy_fallback", ["only"])
UNREACH, UNREACH_MAP = _chain("proxy_unreachable", ["only"])
BENCH, BENCH_MAP = _chain("proxy_bench", ["work"])
AF2, AF2_MAP = _chain("proxy_airflow2", ["extract", "transform"])

# In-process steps: one Python process per run keeps runs short on a busy test machine.
defs = Definitions(
    executor=in_process_executor,
    assets=[
        *MIDDLE,
        *ALL,
        *CUSTOM,
        *CUSTOM_DAG,
        *FAILING,
        *RETRY,
        *KILL,
        *CANCELED,
        *WORKER_KILL,
        *DAG_LEVEL,
        *FALLBACK,
        *UNREACH,
        *BENCH,
        *AF2,
        daily_table,
        dag_asset("proxy_middle", tasks=MIDDLE_MAP),
        dag_asset("proxy_all", tasks=ALL_MAP),
        dag_asset("proxy_custom_auth", tasks=CUSTOM_MAP),
        dag_asset(
            "proxy_custom_dag_auth", dag=[["proxy_custom_dag_auth", "one"], ["proxy_custom_dag_auth", "two"]]
        ),
        dag_asset("proxy_failing", tasks=FAILING_MAP),
        dag_asset("proxy_retry", tasks=RETRY_MAP),
        dag_asset("proxy_timeout", tasks=KILL_MAP),
        dag_asset("proxy_canceled", tasks=CANCELED_MAP),
        dag_asset("proxy_worker_kill", tasks=WORKER_KILL_MAP),
        dag_asset("proxy_dag_level", dag=[["proxy_dag_level", t] for t in ("a", "b", "c")]),
        dag_asset("proxy_fallback", tasks=FALLBACK_MAP),
        dag_asset("proxy_unreachable", tasks=UNREACH_MAP),
        dag_asset("proxy_bench", tasks=BENCH_MAP),
        dag_asset("proxy_airflow2", tasks=AF2_MAP),
        dag_asset(
            "proxy_partitioned",
            tasks={"daily": [["proxy_partitioned", "daily_table"]]},
            partitions={"proxy_partitioned/daily_table": {"fmt": "%Y-%m-%d", "timezone": "UTC"}},
        ),
    ],
)
