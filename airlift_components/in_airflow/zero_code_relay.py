"""How a proxy operator mirrors a zero-code Dagster run in Airflow, as if the task had run there.

The Dagster side reports the task's outcome as an ``AssetObservation`` whose metadata
``conventions.ZERO_CODE_RESULT_METADATA_KEY`` holds a :class:`~airlift_components.formats.zero_code.ZeroCodeResult`.
This module reads it (:func:`read_zero_code_result`), turns a skip or failure into the exception Airflow
expects (:func:`raise_for_outcome`) and a success into the XComs to push and the value to return
(:func:`relayed_xcoms`). It also turns a DAG's Airflow tasks into the whole-DAG proxy's record of the
tasks it replaced (:func:`original_tasks_record`); the record lines themselves are
:mod:`airlift_components.formats.proxy_records` (re-exported here). The operator methods in
``base_operators`` call these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airlift_components.conventions import ZERO_CODE_RESULT_METADATA_KEY
from airlift_components.formats.proxy_records import (
    OriginalTask,
    ProxyRecordError,
    doc_md_with_original_operator,
    doc_md_with_original_tasks,
    in_topological_order,
)
from airlift_components.formats.proxy_targets import AssetKeyPath
from airlift_components.formats.zero_code import ZeroCodeFormatError, ZeroCodeResult
from airlift_components.in_airflow._compat import AirflowFailException, AirflowSkipException
from airlift_components.in_airflow.dagster_graphql import DagsterRun, RunObservations

__all__ = [
    "RETURN_VALUE_KEY",
    "DagsterRunFailedError",
    "OriginalTask",
    "ProxyRecordError",
    "ZeroCodeResultMissingError",
    "ZeroCodeTaskFailedError",
    "doc_md_with_original_operator",
    "doc_md_with_original_tasks",
    "original_tasks_record",
    "raise_for_outcome",
    "read_zero_code_result",
    "relayed_xcoms",
]

#: The XCom key of a task's return value (Airflow's ``XCOM_RETURN_KEY``).
RETURN_VALUE_KEY = "return_value"


class DagsterRunFailedError(RuntimeError):
    """The Dagster run that a proxy operator waited for failed or was canceled."""


class ZeroCodeTaskFailedError(DagsterRunFailedError):
    """The task's own code failed in its zero-code Dagster run, and Airflow may retry it."""


class ZeroCodeResultMissingError(DagsterRunFailedError):
    """A zero-code Dagster run failed without reporting a result (Airflow may retry it)."""


def read_zero_code_result(
    events: RunObservations, run: DagsterRun, *, url: str, asset_keys: Sequence[AssetKeyPath], what: str
) -> ZeroCodeResult:
    """The last result observation of the run (of the first target asset when several reported one).

    Raises:
        ZeroCodeResultMissingError: the run failed without reporting a result (retryable).
        AirflowFailException: the run succeeded without a result, or the result is malformed.
    """
    reported = [obs for obs in events.observations if ZERO_CODE_RESULT_METADATA_KEY in obs.metadata]
    first = tuple(asset_keys[0]) if asset_keys else None
    reported = [obs for obs in reported if obs.asset_key == first] or reported
    where = f"{what}: zero-code Dagster run {run.run_id} ({url})"
    if not reported:
        message = (
            f"{where} ended {run.status} without reporting its result (no AssetObservation with "
            f"metadata {ZERO_CODE_RESULT_METADATA_KEY!r})"
        )
        if run.status == "FAILURE":
            detail = "\n".join(events.step_failures) or "no failure message recorded"
            raise ZeroCodeResultMissingError(f"{message}\n{detail}")
        raise AirflowFailException(f"{message}; is the Dagster side an older airlift-components?")
    raw = reported[-1].metadata[ZERO_CODE_RESULT_METADATA_KEY]
    try:
        body = json.loads(raw) if isinstance(raw, str) else raw
        return ZeroCodeResult.from_json(body, where=f"{where}, metadata {ZERO_CODE_RESULT_METADATA_KEY!r}")
    except ValueError as exc:  # ZeroCodeFormatError is a ValueError, so is invalid JSON
        detail = str(exc) if isinstance(exc, ZeroCodeFormatError) else f"{where}: not valid JSON: {exc}"
        raise AirflowFailException(f"malformed zero-code result: {detail}") from None


def raise_for_outcome(result: ZeroCodeResult, *, what: str, run_id: str, url: str) -> None:
    """Return on success; otherwise raise what Airflow expects of the task.

    Raises:
        AirflowSkipException: the task skipped itself.
        AirflowFailException: it failed and must not be retried (e.g. ``AirflowFailException`` in the task).
        ZeroCodeTaskFailedError: it failed and Airflow may retry it (the next try launches one new run).
    """
    if result.state == "skipped":
        raise AirflowSkipException(f"{what} skipped in zero-code Dagster run {run_id}: {url}")
    if result.state == "failed":
        message = (
            f"{what} failed in zero-code Dagster run {run_id}: {url}\n"
            f"{result.error or result.error_type or 'no error recorded'}"
        )
        if not result.retryable:
            raise AirflowFailException(message)
        raise ZeroCodeTaskFailedError(message)


def relayed_xcoms(result: ZeroCodeResult, *, what: str, multiple_outputs: bool) -> tuple[Any, dict[str, Any]]:
    """``(return_value, other XComs to push)`` of a successful result, deserialised once.

    The last push of a key wins, as in Airflow. With ``multiple_outputs`` the keys of a returned mapping
    are left out: Airflow pushes them itself from the returned value.
    """
    values: dict[str, Any] = {}
    for xcom in result.xcoms:
        values[xcom.key] = _deserialize_xcom(xcom.value, xcom.key, what)
    return_value = values.pop(RETURN_VALUE_KEY, None)
    if multiple_outputs and isinstance(return_value, Mapping):
        values = {key: value for key, value in values.items() if key not in return_value}
    return return_value, values


def original_tasks_record(tasks: Sequence[Any]) -> list[OriginalTask]:
    """The record of a DAG's tasks that a whole-DAG proxy replaces, in topological order
    (written into the proxy's ``doc_md`` by :func:`doc_md_with_original_tasks`).

    Each task's operator is ``<module>.<ClassName>`` (for a mapped task, the class it expands); its
    upstream ids are those within ``tasks``, sorted.

    Raises:
        ProxyRecordError: the tasks' dependencies form a cycle (Airflow refuses such a DAG too).
    """
    ids = {task.task_id for task in tasks}
    return in_topological_order(
        [
            OriginalTask(
                task_id=task.task_id,
                operator=_operator_path(task),
                upstream_task_ids=tuple(sorted(set(task.upstream_task_ids) & ids)),
                is_mapped=_is_mapped(task),
                trigger_rule=str(getattr(task.trigger_rule, "value", task.trigger_rule)),
            )
            for task in tasks
        ]
    )


def _is_mapped(task: Any) -> bool:
    from airlift_components.in_airflow._compat import MappedOperator

    return isinstance(task, MappedOperator)


def _operator_path(task: Any) -> str:
    # A mapped task is a MappedOperator; the class it expands is what eligibility is about.
    cls = getattr(task, "operator_class", None) if _is_mapped(task) else type(task)
    if isinstance(cls, type):
        return f"{cls.__module__}.{cls.__qualname__}"
    return str(getattr(task, "task_type", None) or type(task).__name__)


def _deserialize_xcom(value: Any, key: str, what: str) -> Any:
    # The runner relays the serialised form; Airflow's push serialises again, so undo it once here.
    try:
        from airflow.sdk.serde import deserialize
    except ImportError:  # Airflow 2
        from airflow.serialization.serde import deserialize  # type: ignore[no-redef]
    try:
        return deserialize(value)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the same error for the user
        raise AirflowFailException(
            f"{what}: the relayed XCom {key!r} cannot be deserialised here: {type(exc).__name__}: {exc}"
        ) from None
