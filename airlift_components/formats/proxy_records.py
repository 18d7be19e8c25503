"""What a proxy operator records, in its ``doc_md``, about the Airflow code it replaced.

Airflow's REST API lists a proxy task with the proxy's class, so the code it replaced would be invisible to
the Dagster side. Each proxy therefore ends its ``doc_md`` (which both REST dialects return in the tasks
listing) with one record line:

- a task proxy: ``<ORIGINAL_OPERATOR_DOC_PREFIX><module>.<ClassName>`` (zero-code eligibility of the task);
- a whole-DAG proxy: ``<ORIGINAL_TASKS_DOC_PREFIX><JSON list>``, one :class:`OriginalTask` per task it
  replaced, in topological order (the DAG's zero-code assets and their deps).

Writers run in Airflow (``in_airflow/proxying.py``, ``in_airflow/base_operators.py``), readers on the
Dagster side (``core/zero_code.py``). This module imports neither framework.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airlift_components.conventions import ORIGINAL_OPERATOR_DOC_PREFIX, ORIGINAL_TASKS_DOC_PREFIX


class ProxyRecordError(ValueError):
    """A record line in a proxy's ``doc_md`` is malformed; the message names where and what."""


@dataclass(frozen=True)
class OriginalTask:
    """One task that a whole-DAG proxy replaced."""

    task_id: str
    operator: str  # <module>.<ClassName>; for a mapped task the class it expands
    upstream_task_ids: tuple[str, ...] = ()
    is_mapped: bool = False
    trigger_rule: str = "all_success"

    def to_json(self) -> dict[str, Any]:
        """One item of the record's JSON list."""
        return {
            "task_id": self.task_id,
            "operator": self.operator,
            "upstream_task_ids": list(self.upstream_task_ids),
            "is_mapped": self.is_mapped,
            "trigger_rule": self.trigger_rule,
        }


def _with_last_line(doc_md: str | None, prefix: str, line: str) -> str:
    # An earlier record line at the end is replaced, so writing twice keeps one record.
    kept = (doc_md or "").rstrip()
    if kept.rsplit("\n", 1)[-1].startswith(prefix):
        kept = kept.rsplit("\n", 1)[0].rstrip() if "\n" in kept else ""
    return f"{kept}\n\n{line}" if kept else line


def _last_record(doc_md: str | None, prefix: str) -> str | None:
    # The proxy appends its record last; an earlier such line is the user's own text.
    for line in reversed((doc_md or "").splitlines()):
        line = line.strip()
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def doc_md_with_original_operator(doc_md: str | None, operator_class: type) -> str:
    """``doc_md`` followed by the line ``<ORIGINAL_OPERATOR_DOC_PREFIX><module>.<ClassName>``.

    Idempotent: a ``doc_md`` that already ends with a record keeps one record line.

    Example::

        doc_md_with_original_operator("Loads rows.", PythonOperator)
        # 'Loads rows.\\n\\nairlift original operator: airflow.providers.standard.operators.python.PythonOperator'
    """
    line = f"{ORIGINAL_OPERATOR_DOC_PREFIX}{operator_class.__module__}.{operator_class.__qualname__}"
    return _with_last_line(doc_md, ORIGINAL_OPERATOR_DOC_PREFIX, line)


def original_operator(doc_md: str | None) -> str | None:
    """``<module>.<ClassName>`` of the operator a task proxy replaced, or None without a record."""
    return _last_record(doc_md, ORIGINAL_OPERATOR_DOC_PREFIX) or None


def in_topological_order(tasks: Sequence[OriginalTask]) -> list[OriginalTask]:
    """``tasks`` with every task after its upstream tasks; ties keep the given order (a stable record).

    Raises:
        ProxyRecordError: the dependencies form a cycle (Airflow refuses such a DAG too).
    """
    by_id = {task.task_id: task for task in tasks}
    ordered: list[OriginalTask] = []
    done: set[str] = set()
    while len(ordered) < len(by_id):
        ready = [
            task
            for task_id, task in by_id.items()
            if task_id not in done and all(up in done or up not in by_id for up in task.upstream_task_ids)
        ]
        if not ready:
            raise ProxyRecordError(f"the tasks {sorted(set(by_id) - done)} depend on each other in a cycle")
        ordered.extend(ready)
        done.update(task.task_id for task in ready)
    return ordered


def doc_md_with_original_tasks(doc_md: str | None, tasks: Sequence[OriginalTask]) -> str:
    """``doc_md`` followed by the line ``<ORIGINAL_TASKS_DOC_PREFIX><JSON list>`` of ``tasks`` (give them
    in topological order: :func:`in_topological_order`). Idempotent like the operator record."""
    line = ORIGINAL_TASKS_DOC_PREFIX + json.dumps([t.to_json() for t in tasks], separators=(",", ":"))
    return _with_last_line(doc_md, ORIGINAL_TASKS_DOC_PREFIX, line)


def original_tasks(doc_md: str | None, *, where: str) -> tuple[OriginalTask, ...] | None:
    """The tasks a whole-DAG proxy replaced, from its ``doc_md``; None without a record.

    Raises:
        ProxyRecordError: the record is not a JSON list of task records (the message starts with ``where``).
    """
    text = _last_record(doc_md, ORIGINAL_TASKS_DOC_PREFIX)
    if text is None:
        return None

    def bad(detail: str) -> ProxyRecordError:
        return ProxyRecordError(
            f"{where}: the whole-DAG proxy's record of its original tasks ({ORIGINAL_TASKS_DOC_PREFIX.strip()} "
            f"line of its doc_md) is malformed: {detail}; is Airflow running another airlift-components version?"
        )

    try:
        items = json.loads(text)
    except ValueError as exc:
        raise bad(f"not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise bad(f"expected a JSON list, got {type(items).__name__}")
    tasks = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"item {index} is not an object")
        task_id, operator = item.get("task_id"), item.get("operator")
        upstream, is_mapped = item.get("upstream_task_ids", []), item.get("is_mapped", False)
        trigger_rule = item.get("trigger_rule", "all_success")
        if not isinstance(task_id, str) or not task_id:
            raise bad(f"item {index}: task_id must be a non-empty string, got {task_id!r}")
        if not isinstance(operator, str) or not operator:
            raise bad(f"task {task_id!r}: operator must be a non-empty string, got {operator!r}")
        if not isinstance(upstream, list) or not all(isinstance(u, str) for u in upstream):
            raise bad(f"task {task_id!r}: upstream_task_ids must be a list of strings, got {upstream!r}")
        if not isinstance(is_mapped, bool):
            raise bad(f"task {task_id!r}: is_mapped must be true or false, got {is_mapped!r}")
        if not isinstance(trigger_rule, str):
            raise bad(f"task {task_id!r}: trigger_rule must be a string, got {trigger_rule!r}")
        tasks.append(OriginalTask(task_id, operator, tuple(upstream), is_mapped, trigger_rule))
    known = {task.task_id for task in tasks}
    for task in tasks:
        unknown = sorted(set(task.upstream_task_ids) - known)
        if unknown:
            raise bad(f"task {task.task_id!r} has upstream task(s) {unknown} that the record does not list")
    return tuple(tasks)
