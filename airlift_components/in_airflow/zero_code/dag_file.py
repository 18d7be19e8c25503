"""The zero-code runner's first step on both Airflow versions: the original task, from the DAG file.

:func:`parse_dag_file` imports the payload's DAG file with proxying turned off (so the DAG keeps the tasks
the proxies replaced), with the version's own ``DagBag``; :func:`original_task` then finds the task, checks
it is eligible for zero-code with the same classifier the Dagster side used, and turns off its callbacks
and failure emails (they fire once, in Airflow, on the proxy task).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airlift_components.formats.zero_code import ZeroCodePayload
from airlift_components.formats.zero_code_eligibility import classify_task
from airlift_components.in_airflow.zero_code.errors import ZeroCodeInputError, ZeroCodeRefusedError

CALLBACKS = (
    "on_execute_callback",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
    "on_skipped_callback",
)
# Airflow 2's DagBag imports a DAG file under a mangled module name; messages show the file's own name.
_MANGLED_MODULE = re.compile(r"^unusual_prefix_[0-9a-f]+_")


@contextlib.contextmanager
def proxying_disabled() -> Iterator[None]:
    """While parsing, make ``proxying_to_dagster`` a no-op so the DAG keeps its original tasks."""
    import airlift_components.in_airflow as package
    import airlift_components.in_airflow.proxying as module

    def _off(**_: Any) -> None:
        return None

    saved = (package.proxying_to_dagster, module.proxying_to_dagster)
    package.proxying_to_dagster = module.proxying_to_dagster = _off  # type: ignore[assignment]
    try:
        yield
    finally:
        package.proxying_to_dagster, module.proxying_to_dagster = saved  # type: ignore[assignment]


def parse_dag_file(payload: ZeroCodePayload, airflow_major: int) -> Any:
    """The payload's DAG file parsed with proxying off: Airflow 3's ``BundleDagBag`` (the DAGs folder as
    its bundle) or Airflow 2's ``DagBag`` (the DAGs folder on ``sys.path``, as a worker has it).

    Raises:
        ZeroCodeInputError: the file does not exist or fails to import.
    """
    dag_path = payload.dag_path
    if not dag_path.is_file():
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG file {dag_path} does not exist (dags_folder {payload.dags_folder!r}, "
            f"dag_file {payload.dag_file!r})"
        )
    with proxying_disabled():
        if airflow_major >= 3:
            from airflow.dag_processing.dagbag import BundleDagBag

            bag = BundleDagBag(
                dag_folder=str(dag_path),
                bundle_path=Path(payload.dags_folder),
                bundle_name="zero-code",
                safe_mode=False,
                load_op_links=False,
            )
        else:
            from airflow.models.dagbag import DagBag

            if payload.dags_folder not in sys.path:
                sys.path.insert(0, payload.dags_folder)
            bag = DagBag(
                dag_folder=str(dag_path),
                include_examples=False,
                safe_mode=False,
                read_dags_from_db=False,
                load_op_links=False,
            )
    if bag.import_errors:
        details = "; ".join(
            f"{file}: {text.strip().splitlines()[-1]}" for file, text in bag.import_errors.items()
        )
        raise ZeroCodeInputError(f"{payload.describe()}: DAG file {dag_path} failed to import: {details}")
    return bag


def original_task(payload: ZeroCodePayload, bag: Any, *, airflow_major: int, no_callbacks: Any) -> Any:
    """The payload's task from a parsed ``bag``, eligible for zero-code, with callbacks set to
    ``no_callbacks`` (Airflow 3 wants ``[]``, Airflow 2 ``None``) and failure emails off.

    Raises:
        ZeroCodeInputError: the file has no such DAG or task.
        ZeroCodeRefusedError: the task is not eligible, or a map index is given for an unmapped task.
    """
    dag = bag.dags.get(payload.dag_id)
    if dag is None:
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG {payload.dag_id!r} is not defined in {payload.dag_path} "
            f"(it defines: {sorted(bag.dags)})"
        )
    task = dag.task_dict.get(payload.task_id)
    if task is None:
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG {payload.dag_id!r} has no task {payload.task_id!r} "
            f"(its tasks: {sorted(dag.task_dict)})"
        )
    cls = type(task)
    verdict = classify_task(
        operator_class=cls.__name__,
        operator_module=_MANGLED_MODULE.sub("", cls.__module__),
        is_mapped=is_mapped(task),
        deferrable=bool(getattr(task, "deferrable", False)),
        base_classes=[f"{base.__module__}.{base.__name__}" for base in cls.__mro__[1:]],
        airflow_major=airflow_major,
    )
    if not verdict.eligible:
        raise ZeroCodeRefusedError(
            verdict.message(
                instance_name=payload.instance_name or "airflow", dag_id=dag.dag_id, task_id=task.task_id
            )
        )
    if payload.map_index != -1:
        raise ZeroCodeRefusedError(
            f"{payload.describe()}: map_index {payload.map_index} given for an unmapped task"
        )
    for name in CALLBACKS:
        if hasattr(task, name):
            setattr(task, name, no_callbacks)
    for name in ("email_on_failure", "email_on_retry"):
        if hasattr(task, name):
            setattr(task, name, False)
    return task


def is_mapped(task: Any) -> bool:
    """Whether ``task`` is a mapped (``expand``) task."""
    return type(task).__name__ in ("MappedOperator", "DecoratedMappedOperator") or bool(
        getattr(task, "is_mapped", False) is True
    )
