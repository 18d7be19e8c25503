"""How a proxy operator mirrors a zero-code Dagster run in Airflow, as if the task had run there.

The Dagster side reports the task's outcome as an ``AssetObservation`` whose metadata
``conventions.ZERO_CODE_RESULT_METADATA_KEY`` holds a :class:`~airlift_components.formats.zero_code.ZeroCodeResult`.
This module reads it (:func:`read_zero_code_result`), turns a skip or failure into the exception Airflow
expects (:func:`raise_for_outcome`) and a success into the XComs to push and the value to return
(:func:`relayed_xcoms`). It also writes the proxy's record of the operator it replaced
(:func:`doc_md_with_original_operator`), and a whole-DAG proxy's record of the tasks it replaced
(:func:`original_tasks_record`, :func:`doc_md_with_original_tasks`). The operator methods in ``base_operators`` call these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airlift_components.conventions import (
    ORIGINAL_OPERATOR_DOC_PREFIX,
    ORIGINAL_TASKS_DOC_PREFIX,
    ZERO_CODE_RESULT_METADATA_KEY,
)
from airlift_components.formats.proxy_targets import AssetKeyPath
from airlift_components.formats.zero_code import ZeroCodeFormatError, ZeroCodeResult
from airlift_components.in_airflow._compat import AirflowFailException, AirflowSkipException
from airlift_components.in_airflow.dagster_graphql import DagsterRun, RunObservations

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


def doc_md_with_original_operator(doc_md: str | None, operator_class: type) -> str:
    """``doc_md`` followed by the line ``<ORIGINAL_OPERATOR_DOC_PREFIX><module>.<ClassName>``.

    The tasks listing of Airflow's REST API then names the proxy class as the operator, and this line
    the class it replaced (read by the Dagster side for zero-code eligibility). Idempotent: a ``doc_md``
    that already ends with a record keeps it.

    Example::

        doc_md_with_original_operator("Loads rows.", PythonOperator)
        # 'Loads rows.\\n\\nairlift original operator: airflow.providers.standard.operators.python.PythonOperator'
    """
    line = f"{ORIGINAL_OPERATOR_DOC_PREFIX}{operator_class.__module__}.{operator_class.__qualname__}"
    if not doc_md:
        return line
    if doc_md.rstrip().rsplit("\n", 1)[-1].startswith(ORIGINAL_OPERATOR_DOC_PREFIX):
        return doc_md
    return f"{doc_md.rstrip()}\n\n{line}"


def original_tasks_record(tasks: Sequence[Any]) -> list[dict[str, Any]]:
    """The record of a DAG's tasks that a whole-DAG proxy replaces, in topological order.

    Each item: ``task_id``, ``operator`` (``<module>.<ClassName>``; for a mapped task the class it
    expands), ``upstream_task_ids`` (sorted), ``is_mapped`` and ``trigger_rule``. Ties in the order
    keep the DAG's own task order, so the record is stable from one parse to the next.

    Raises:
        ValueError: the tasks' dependencies form a cycle (Airflow refuses such a DAG too).
    """
    by_id = {task.task_id: task for task in tasks}
    upstream = {
        task_id: sorted(set(task.upstream_task_ids) & by_id.keys()) for task_id, task in by_id.items()
    }
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(by_id):
        ready = [t for t in by_id if t not in done and all(up in done for up in upstream[t])]
        if not ready:
            raise ValueError(f"the tasks {sorted(set(by_id) - done)} depend on each other in a cycle")
        ordered.extend(ready)
        done.update(ready)
    return [
        {
            "task_id": task_id,
            "operator": _operator_path(by_id[task_id]),
            "upstream_task_ids": upstream[task_id],
            "is_mapped": _is_mapped(by_id[task_id]),
            "trigger_rule": str(getattr(by_id[task_id].trigger_rule, "value", by_id[task_id].trigger_rule)),
        }
        for task_id in ordered
    ]


def doc_md_with_original_tasks(doc_md: str | None, record: Sequence[Mapping[str, Any]]) -> str:
    """``doc_md`` followed by the line ``<ORIGINAL_TASKS_DOC_PREFIX><JSON list>`` (from
    :func:`original_tasks_record`); an earlier record line at the end is replaced, so it stays idempotent.

    Example::

        doc_md_with_original_tasks(None, [{"task_id": "load", "operator": "m.PythonOperator",
                                           "upstream_task_ids": [], "is_mapped": False}])
        # 'airlift original tasks: [{"task_id": "load", ...}]'
    """
    line = ORIGINAL_TASKS_DOC_PREFIX + json.dumps(list(record), separators=(",", ":"))
    kept = (doc_md or "").rstrip()
    if kept.rsplit("\n", 1)[-1].startswith(ORIGINAL_TASKS_DOC_PREFIX):
        kept = kept.rsplit("\n", 1)[0].rstrip() if "\n" in kept else ""
    return f"{kept}\n\n{line}" if kept else line


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
