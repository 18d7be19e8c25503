"""What differs between Airflow 2 and Airflow 3, in one place: the few names that moved (``airflow.sdk``)
and :func:`operator_kwargs_of`, which reads an operator's constructor arguments back (the signature
and the stored form of some arguments differ per version)."""

from __future__ import annotations

import inspect
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, BaseOperator, Context
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef,assignment]
    from airflow.models import BaseOperator  # type: ignore[no-redef,assignment]
    from airflow.utils.context import Context  # type: ignore[no-redef,assignment]

try:  # Airflow 3
    from airflow.sdk.definitions.mappedoperator import MappedOperator
except ImportError:  # Airflow 2
    from airflow.models.mappedoperator import MappedOperator  # type: ignore[no-redef,assignment]

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[no-redef,assignment]

# Constructor arguments that are not copied as-is: the DAG wiring is redone by proxying_to_dagster,
# defaults were already applied, and deprecated aliases would only warn.
_NOT_COPIED = frozenset(
    {"self", "dag", "task_group", "default_args", "pre_execute", "post_execute", "task_display_name", "sla"}
    | {"task_concurrency", "kwargs", "args"}
)


def operator_kwargs_of(task: BaseOperator) -> dict[str, Any]:
    """The ``BaseOperator`` constructor arguments that rebuild ``task``'s scheduling behaviour."""
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(BaseOperator.__init__).parameters.items():
        if name in _NOT_COPIED or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        value = getattr(task, name, None)
        if value is not None:
            kwargs[name] = value
    kwargs["task_id"] = task.task_id
    for name, attribute in (("pre_execute", "_pre_execute_hook"), ("post_execute", "_post_execute_hook")):
        if getattr(task, attribute, None) is not None:
            kwargs[name] = getattr(task, attribute)
    kwargs["weight_rule"] = _weight_rule(getattr(task, "weight_rule", None))
    if kwargs["weight_rule"] is None:
        del kwargs["weight_rule"]
    if getattr(task, "_task_display_name", None):
        kwargs["task_display_name"] = task._task_display_name
    return kwargs


def _weight_rule(value: Any) -> Any:
    # Airflow 2.9+ stores a strategy object whose class its constructor does not accept back.
    if value is None or isinstance(value, str):
        return value
    try:
        from airflow.task.priority_strategy import airflow_priority_weight_strategies_classes
    except ImportError:  # Airflow 3 keeps the enum / string it was given
        return value
    return airflow_priority_weight_strategies_classes.get(type(value), value)


__all__ = [
    "DAG",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseOperator",
    "Context",
    "MappedOperator",
    "operator_kwargs_of",
]
