"""A Dagster project that produces the zero-code result contract, for the proxy relay tests.

No ``from __future__ import annotations`` here: dagster inspects the `context` annotations.

Each task of the ``zc_relay`` DAG (``tests/zero_code/dags/zc_relay_dags.py``) has a target asset
``[zc_relay, task, zc_relay, <task_id>]`` whose body plays the zero-code asset's part of the contract in
``conventions.ZERO_CODE_RESULT_METADATA_KEY``: it logs one AssetObservation of that asset whose metadata
is the JSON text of a ``ZeroCodeResult`` (the outcome listed in :data:`OUTCOMES` for the task and try),
then fails the run on ``failed``, materializes on ``success`` and ends with no materialization on
``skipped``. The DAG asset carries ``airlift/proxy_targets`` listing every task as zero-code, as core's
builder writes it.
"""

import json

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    AssetSpec,
    Definitions,
    Failure,
    Output,
    asset,
    in_process_executor,
)

from airlift_components.conventions import (
    DAG_ID_METADATA_KEY,
    PROXY_TARGETS_METADATA_KEY,
    RUN_TAG_TASK_ID,
    RUN_TAG_TRY_NUMBER,
    ZERO_CODE_RESULT_METADATA_KEY,
)
from airlift_components.formats.proxy_targets import ProxyTargets
from airlift_components.formats.zero_code import RelayedXCom, ZeroCodeResult

INSTANCE_NAME = "zc_relay"
DAG_ID = "zc_relay"


def _xcoms(**values) -> tuple[RelayedXCom, ...]:
    return tuple(RelayedXCom(key, value) for key, value in values.items())


# What the runner would report, per task id and try number (None: any try). Values are as the runner
# relays them: Airflow's serialised XCom form (a tuple is {"__classname__": "builtins.tuple", ...}).
OUTCOMES = {
    "produce": {
        None: ZeroCodeResult(
            state="success",
            # Push order of a @task(multiple_outputs=True) that also calls xcom_push("extra", ...).
            xcoms=(
                *_xcoms(extra={"note": "pushed by xcom_push"}, total=3, names=["a", "b", "c"]),
                *_xcoms(return_value={"total": 3, "names": ["a", "b", "c"]}),
            ),
        )
    },
    "numbers": {None: ZeroCodeResult(state="success", xcoms=_xcoms(return_value=[1, 2, 3]))},
    "pair": {
        None: ZeroCodeResult(
            state="success",
            xcoms=_xcoms(
                return_value={"__classname__": "builtins.tuple", "__version__": 1, "__data__": [4, 5]}
            ),
        )
    },
    "quiet": {None: ZeroCodeResult(state="success")},
    "skips": {None: ZeroCodeResult(state="skipped")},
    "fails_for_good": {
        None: ZeroCodeResult(
            state="failed",
            error="zc_relay.fails_for_good failed: AirflowFailException: no point retrying",
            error_type="AirflowFailException",
            retryable=False,
        )
    },
    "flaky": {
        1: ZeroCodeResult(
            state="failed",
            error="zc_relay.flaky failed: RuntimeError: first try breaks",
            error_type="RuntimeError",
            retryable=True,
        ),
        None: ZeroCodeResult(state="success", xcoms=_xcoms(return_value="second try worked")),
    },
}
MALFORMED = {"garbled": "{not json", "wrong_state": json.dumps({"format": 1, "state": "exploded"})}
SILENT = {"silent"}  # succeeds without reporting a result
CRASHES = {"crashes"}  # fails before reporting a result (e.g. the runner could not start)
TASK_IDS = [*OUTCOMES, *MALFORMED, *SILENT, *CRASHES]


def _task_asset(task_id: str):
    key = [INSTANCE_NAME, "task", DAG_ID, task_id]

    @asset(key=key, output_required=False)
    def _zero_code(context: AssetExecutionContext):
        assert context.run.tags[RUN_TAG_TASK_ID] == task_id
        try_number = int(context.run.tags[RUN_TAG_TRY_NUMBER])
        if task_id in SILENT:
            yield Output(None)
            return
        if task_id in CRASHES:
            raise RuntimeError("the runner could not start")
        if task_id in MALFORMED:
            text = MALFORMED[task_id]
            result = None
        else:
            by_try = OUTCOMES[task_id]
            result = by_try.get(try_number, by_try[None])
            text = json.dumps(result.to_json())
        context.log_event(AssetObservation(asset_key=key, metadata={ZERO_CODE_RESULT_METADATA_KEY: text}))
        if result is not None and result.state == "failed":
            raise Failure(description=result.error)
        if result is None or result.state == "success":
            yield Output(None)

    return _zero_code


targets = ProxyTargets(
    tasks={task_id: ((INSTANCE_NAME, "task", DAG_ID, task_id),) for task_id in TASK_IDS},
    zero_code=frozenset(TASK_IDS),
)
dag_asset = AssetSpec(
    key=[INSTANCE_NAME, "dag", DAG_ID],
    metadata={
        DAG_ID_METADATA_KEY: DAG_ID,
        PROXY_TARGETS_METADATA_KEY: json.dumps(targets.to_json()),
    },
)

defs = Definitions(
    assets=[dag_asset, *(_task_asset(task_id) for task_id in TASK_IDS)],
    executor=in_process_executor,
)
