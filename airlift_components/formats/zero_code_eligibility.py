"""Which Airflow tasks can run zero-code (their own operator, executed by the runner in Dagster).

A pure function of the facts Airflow's REST API gives about a task (operator class and module,
``is_mapped``) and, when the runner has the task object, its base classes and ``deferrable`` flag.
The Dagster side calls it at definitions time; the runner calls it again on the parsed task before
running anything. It imports neither dagster nor airflow.

Example::

    verdict = classify_task(operator_class="ShortCircuitOperator",
                            operator_module="airflow.providers.standard.operators.python")
    assert not verdict.eligible
    print(verdict.reason)  # "decides which downstream tasks run (short-circuit) ..."

``EmptyOperator`` / ``DummyOperator`` (the start/end markers of many DAGs) are eligible as kind ``empty``:
nothing runs, so their asset materializes without starting the runner.

Refused, and why:

- sensors: they wait on state that lives in Airflow (poke, reschedule, defer); keep them there;
- branch and short-circuit operators: they choose which downstream tasks Airflow runs;
- ``TriggerDagRunOperator``: it starts another Airflow DAG run through Airflow's own state;
- ``LatestOnlyOperator`` / ``ExternalTaskMarker``: they act on Airflow's own schedule and state;
- mapped (dynamic) tasks: Airflow expands them into many task instances; proxying is per task;
- deferrable operators: they need Airflow's triggerer (run them with ``deferrable=False`` to migrate);
- the airlift proxy operators themselves (the original operator class is needed);
- on Airflow 2, anything that is not a Python, Bash or SQL operator (the Airflow 2 runner path is
  lower fidelity, so it only takes the kinds it is tested with).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KIND_PYTHON = "python"
KIND_BASH = "bash"
KIND_SQL = "sql"
KIND_OPERATOR = "operator"  # any other BaseOperator subclass (in-house or provider)
KIND_EMPTY = "empty"  # EmptyOperator / DummyOperator: nothing runs; its asset materializes at once
KIND_REFUSED = "refused"

AIRFLOW2_KINDS = (KIND_PYTHON, KIND_BASH, KIND_SQL, KIND_EMPTY)

_PYTHON_CLASSES = {"PythonOperator", "_PythonDecoratedOperator"}
_BASH_CLASSES = {"BashOperator", "_BashDecoratedOperator"}
_SQL_CLASSES = {
    "SQLExecuteQueryOperator",
    "PostgresOperator",
    "MySqlOperator",
    "SqliteOperator",
    "MsSqlOperator",
    "OracleOperator",
    "SnowflakeOperator",
    "TrinoOperator",
    "VerticaOperator",
    "_SQLDecoratedOperator",
}
_EMPTY_CLASSES = {"EmptyOperator", "DummyOperator"}
_NO_WORK = {
    "LatestOnlyOperator": "skips downstream tasks depending on Airflow's schedule (LatestOnlyOperator)",
    "ExternalTaskMarker": "marks tasks of another DAG for clearing in Airflow (ExternalTaskMarker)",
}
_CONTROL_FLOW = {
    "ShortCircuitOperator": "decides which downstream tasks run (short-circuit)",
    "_ShortCircuitDecoratedOperator": "decides which downstream tasks run (@task.short_circuit)",
    "TriggerDagRunOperator": "starts another Airflow DAG run (TriggerDagRunOperator)",
    "BaseBranchOperator": "decides which downstream tasks run (branch)",
    "BaseSensorOperator": "waits on state that lives in Airflow (sensor)",
}
_KEEP_IN_AIRFLOW = "; keep it in Airflow (proxied: False)"


@dataclass(frozen=True)
class ZeroCodeEligibility:
    """The verdict for one task: eligible (with its kind) or refused (with the reason)."""

    eligible: bool
    kind: str
    reason: str | None = None
    operator: str = ""

    def message(self, *, instance_name: str, dag_id: str, task_id: str) -> str:
        """One line naming instance, DAG, task, operator class and the verdict (for errors and ``status``)."""
        where = f"{instance_name}/{dag_id}.{task_id} ({self.operator or 'unknown operator'})"
        if self.eligible:
            return f"{where}: zero-code eligible ({self.kind})"
        return f"{where}: not eligible for zero-code migration: {self.reason}"


def classify_task(
    *,
    operator_class: str,
    operator_module: str | None = None,
    is_mapped: bool = False,
    deferrable: bool | None = None,
    base_classes: Sequence[str] = (),
    airflow_major: int = 3,
) -> ZeroCodeEligibility:
    """Say whether a task can run zero-code and, if not, why.

    Args:
        operator_class: the operator's class name (``TaskResponse.class_ref.class_name``, or
            ``operator`` on Airflow 2), e.g. ``"BashOperator"``.
        operator_module: its module (``class_ref.module_path``), e.g.
            ``"airflow.providers.standard.operators.bash"``; optional.
        is_mapped: the task is mapped (``expand``/``partial``).
        deferrable: the operator's ``deferrable`` flag when known (the runner knows it, REST does not).
        base_classes: names (or ``module.Name`` paths) of the class's bases when known (the runner passes
            the MRO, so an in-house sensor or branch subclass is caught too).
        airflow_major: 3 or 2.

    Returns:
        :class:`ZeroCodeEligibility`; ``kind`` is ``python``, ``bash``, ``sql``, ``operator`` or ``empty`` when
        eligible.
    """
    module = operator_module or ""
    label = f"{module}.{operator_class}" if module else operator_class
    names = {operator_class, *(name.rsplit(".", 1)[-1] for name in base_classes)}

    def refused(reason: str) -> ZeroCodeEligibility:
        return ZeroCodeEligibility(False, KIND_REFUSED, reason + _KEEP_IN_AIRFLOW, label)

    if module.startswith("airlift_components.") or any(
        "ProxyTaskToDagster" in n or "ProxyDAGToDagster" in n for n in names
    ):
        return ZeroCodeEligibility(
            False,
            KIND_REFUSED,
            "is an airlift proxy operator; classify the original operator class instead",
            label,
        )
    if is_mapped:
        return refused("is a mapped (dynamic) task, which Airflow expands into many task instances")
    if operator_class in _EMPTY_CLASSES:
        return ZeroCodeEligibility(True, KIND_EMPTY, None, label)
    for name, reason in _NO_WORK.items():
        if name in names:
            return refused(reason)
    for name, reason in _CONTROL_FLOW.items():
        if name in names:
            return refused(reason)
    if _is_sensor(operator_class, module) or any(n.endswith("Sensor") for n in names):
        return refused("waits on state that lives in Airflow (sensor)")
    if any(n.startswith("Branch") or n.startswith("_Branch") for n in names):
        return refused("decides which downstream tasks run (branch)")
    if deferrable:
        return refused("is deferrable and needs Airflow's triggerer (set deferrable=False to migrate it)")
    kind = _kind(names, module)
    if airflow_major < 3 and kind not in AIRFLOW2_KINDS:
        return ZeroCodeEligibility(
            False,
            KIND_REFUSED,
            f"on Airflow {airflow_major}, only Python, Bash and SQL operators run zero-code"
            + _KEEP_IN_AIRFLOW,
            label,
        )
    return ZeroCodeEligibility(True, kind, None, label)


def _is_sensor(operator_class: str, module: str) -> bool:
    return (
        operator_class.endswith("Sensor")
        or operator_class.endswith("SensorOperator")
        or ".sensors." in f"{module}."
        or operator_class in ("_SensorDecoratedOperator", "DecoratedSensorOperator")
    )


def _kind(names: set[str], module: str) -> str:
    if names & _PYTHON_CLASSES:
        return KIND_PYTHON
    if names & _BASH_CLASSES:
        return KIND_BASH
    if names & _SQL_CLASSES or module.startswith("airflow.providers.common.sql."):
        return KIND_SQL
    return KIND_OPERATOR
