"""``proxying_to_dagster``: swap proxied tasks (or whole DAGs) of a DAG file for Dagster proxy operators.

Called once at the end of a DAG file::

    proxying_to_dagster(
        global_vars=globals(),
        proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    )

It only changes the DAG objects found in ``global_vars`` that have a proxied state file, and only in
the process parsing the file: flipping a flag back to ``false`` brings the original task back
unchanged at the next parse.

What the Airflow REST API then shows (what the Dagster side reads, no extra request needed):

- each proxy task lists ``conventions.PROXY_MARKER_FIELD`` in its ``template_fields`` (tasks listing),
  and the last line of its ``doc_md`` names the operator it replaced
  (``conventions.ORIGINAL_OPERATOR_DOC_PREFIX`` + ``<module>.<ClassName>``),
  and each of its task instances carries it in ``rendered_fields`` with value ``"dagster:task"`` or
  ``"dagster:dag"``; the operator class name is in ``operator`` / ``class_ref``;
- a whole-DAG proxy's last ``doc_md`` line lists the tasks it replaced
  (``conventions.ORIGINAL_TASKS_DOC_PREFIX`` + a JSON list: task id, operator, upstream task ids, mapped);
- the DAG gets the tag ``airlift:proxied-tasks`` (some tasks proxied) or ``airlift:proxied-dag``
  (whole DAG proxied).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from airlift_components.conventions import PROXIED_DAG_TAG, PROXIED_TASKS_DAG_TAG
from airlift_components.formats.proxied_state import (
    AirflowProxiedState,
    DagProxiedState,
    ProxiedStateError,
)
from airlift_components.in_airflow._compat import DAG, BaseOperator, MappedOperator
from airlift_components.in_airflow.base_operators import (
    BaseProxyDAGToDagsterOperator,
    BaseProxyTaskToDagsterOperator,
)
from airlift_components.in_airflow.default_operators import (
    DefaultProxyDAGToDagsterOperator,
    DefaultProxyTaskToDagsterOperator,
)
from airlift_components.in_airflow.zero_code_relay import (
    doc_md_with_original_operator,
    doc_md_with_original_tasks,
    original_tasks_record,
)


def proxying_to_dagster(
    *,
    global_vars: MutableMapping[str, Any],
    proxied_state: AirflowProxiedState,
    logger: Any = None,
    build_from_task_fn: Callable[[BaseOperator], BaseOperator] | None = None,
    build_from_dag_fn: Callable[[DAG], BaseOperator] | None = None,
    dagster_operator_klass: type[BaseProxyTaskToDagsterOperator] | None = None,
) -> None:
    """Replace the proxied tasks and DAGs among the DAGs in ``global_vars`` with proxy operators.

    Args:
        global_vars: the DAG file's ``globals()``; every ``DAG`` object in it is considered.
        proxied_state: from :func:`load_proxied_state_from_yaml`; DAGs without state are untouched.
        logger: unused, accepted for compatibility with the reference API.
        build_from_task_fn: builds the proxy for one task (default: ``build_from_task`` of
            ``dagster_operator_klass`` or of :class:`DefaultProxyTaskToDagsterOperator`).
        build_from_dag_fn: builds the single task of a DAG proxied as a whole (default:
            :meth:`DefaultProxyDAGToDagsterOperator.build_from_dag`).
        dagster_operator_klass: a task-level proxy class to use instead of the default.

    Raises:
        ProxiedStateError: a state file names a task the DAG does not have, or marks a mapped
            (dynamic) task as proxied; the message names the file and the task.
    """
    task_builder = (
        build_from_task_fn or (dagster_operator_klass or DefaultProxyTaskToDagsterOperator).build_from_task
    )
    dag_builder = build_from_dag_fn or DefaultProxyDAGToDagsterOperator.build_from_dag
    for dag in _dags_in(global_vars):
        state = proxied_state.get(dag.dag_id)
        if state is None:
            continue
        if state.is_dag_level:
            if state.dag_proxied:
                _proxy_whole_dag(dag, dag_builder)
        else:
            _proxy_tasks(dag, state, task_builder)


def _dags_in(global_vars: MutableMapping[str, Any]) -> list[DAG]:
    seen: dict[int, DAG] = {}
    for value in list(global_vars.values()):
        if isinstance(value, DAG):
            seen.setdefault(id(value), value)
    return list(seen.values())


def _proxy_tasks(dag: DAG, state: DagProxiedState, build: Callable[[BaseOperator], BaseOperator]) -> None:
    unknown = [task_id for task_id in (state.tasks or {}) if task_id not in dag.task_dict]
    if unknown:
        raise ProxiedStateError(
            f"{state.where()}: task id(s) {unknown} not in DAG {dag.dag_id!r} "
            f"(its tasks: {sorted(dag.task_dict)})"
        )
    proxied = state.proxied_task_ids
    for task_id in proxied:
        original = dag.task_dict[task_id]
        if isinstance(original, MappedOperator):
            raise ProxiedStateError(
                f"{state.where()}: task {task_id!r} is a mapped (dynamic) task, which cannot be proxied "
                "task by task; proxy the whole DAG instead (proxied: true)"
            )
        proxy = build(original)
        # Also when a custom build_from_task_fn built the proxy: the Dagster side reads this record.
        proxy.doc_md = doc_md_with_original_operator(proxy.doc_md, type(original))
        replace_task(dag, original, proxy)
    if proxied:
        _add_tag(dag, PROXIED_TASKS_DAG_TAG)


def replace_task(dag: DAG, original: BaseOperator, proxy: BaseOperator) -> None:
    """Put ``proxy`` in ``original``'s place: same task id, task group and up/downstream tasks."""
    task_id = original.task_id
    if proxy.task_id != task_id:
        raise ValueError(f"the proxy for {dag.dag_id}.{task_id} has task id {proxy.task_id!r}")
    group = original.task_group
    dag.task_dict[task_id] = proxy
    if group is not None:
        group.children[task_id] = proxy
    proxy.task_group = group
    proxy.dag = dag  # already in task_dict, so this only links the proxy to the DAG
    proxy.upstream_task_ids.update(original.upstream_task_ids)
    proxy.downstream_task_ids.update(original.downstream_task_ids)


def _proxy_whole_dag(dag: DAG, build: Callable[[DAG], BaseOperator]) -> None:
    # Read before the tasks go: the Dagster side builds the DAG's zero-code assets from this record.
    record = original_tasks_record(list(dag.task_dict.values()))
    dag.task_dict = {}
    dag.task_group.children = {}
    used = getattr(dag.task_group, "used_group_ids", None)
    if isinstance(used, set):  # Airflow refuses a task or group id already used in the DAG
        used.intersection_update({None})
    proxy = build(dag)
    if not isinstance(proxy, BaseProxyDAGToDagsterOperator):
        raise TypeError(
            f"build_from_dag_fn must return a BaseProxyDAGToDagsterOperator, got {type(proxy).__name__}"
        )
    # Also when a custom build_from_dag_fn built the proxy: the Dagster side reads this record.
    proxy.doc_md = doc_md_with_original_tasks(proxy.doc_md, record)
    if dag.task_dict.get(proxy.task_id) is not proxy:
        proxy.dag = dag
    _add_tag(dag, PROXIED_DAG_TAG)


def _add_tag(dag: DAG, tag: str) -> None:
    tags = dag.tags
    if tags is None:
        dag.tags = [tag]
    elif isinstance(tags, set):  # Airflow 3
        tags.add(tag)
    elif tag not in tags:  # Airflow 2: a list
        dag.tags = [*tags, tag]
