"""Migration progress: per Airflow DAG, how many tasks are mapped to Dagster assets, proxied, and left.

The numbers come from an :class:`AirflowSnapshot` (what Airflow has loaded: its tasks and the proxy
operators' marker) and the mappings of the Dagster definitions. This module is the model and its pure
computation (no I/O): the definitions builder puts its Markdown tables on each DAG asset and on the
instance's ``migration_progress`` asset, and ``airlift-components status``
(:mod:`airlift_components.cli.status`) reads Airflow live and prints the same records.

Counting rules (documented in the README):

- ``tasks``: the tasks Airflow lists for the DAG (a DAG proxied as a whole lists its one proxy task).
- ``mapped``: tasks with at least one asset mapped to them (``assets_with_task_mappings`` / ``task_mappings``).
- ``proxied``: tasks whose operator carries the proxy marker; all of them when the whole DAG is proxied.
- ``left``: ``tasks - proxied``, the tasks that still execute in Airflow.
- ``zero_code_eligible``: tasks whose operator can run zero-code (their own Airflow code run in Dagster, see
  :mod:`airlift_components.core.zero_code`); every other task carries the reason it cannot. For a DAG
  proxied as a whole these are the tasks its proxy records it replaced (``original_tasks``), not the proxy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetSpec, MetadataValue

from airlift_components.conventions import PROXIED_DAG_TAG
from airlift_components.core.events import task_group_of
from airlift_components.core.mappings import DagMappings
from airlift_components.core.naming import overview_asset_key
from airlift_components.core.snapshot import AirflowSnapshot
from airlift_components.core.zero_code import (
    ZeroCodeDefinitionError,
    task_eligibility,
    whole_dag_task_eligibility,
    whole_dag_tasks,
)
from airlift_components.formats.proxy_records import OriginalTask
from airlift_components.formats.zero_code_eligibility import ZeroCodeEligibility


@dataclass(frozen=True)
class TaskProgress:
    """One Airflow task: its group, the assets mapped to it and whether it is proxied to Dagster."""

    task_id: str
    mapped_assets: tuple[str, ...] = ()
    proxied: bool = False
    # The zero-code verdict: its kind (python, bash, sql, operator) or, when refused, the reason.
    zero_code_eligible: bool | None = None
    zero_code: str = ""
    operator: str = ""

    @property
    def task_group(self) -> str | None:
        """See :func:`task_group_of`."""
        return task_group_of(self.task_id)


@dataclass(frozen=True)
class DagProgress:
    """Migration progress of one DAG (``tasks_known`` is False when its tasks were not fetched)."""

    instance_name: str
    dag_id: str
    tasks_known: bool
    task_progress: tuple[TaskProgress, ...] = ()
    dag_proxied: bool = False
    dag_mapped_assets: tuple[str, ...] = ()
    disagreements: tuple[str, ...] = ()
    # A DAG proxied as a whole: the tasks its proxy records it replaced (what would run zero-code).
    original_tasks: tuple[TaskProgress, ...] = ()

    @property
    def total(self) -> int:
        """Tasks Airflow lists."""
        return len(self.task_progress)

    @property
    def mapped(self) -> int:
        """Tasks with at least one mapped asset."""
        return sum(1 for task in self.task_progress if task.mapped_assets)

    @property
    def proxied(self) -> int:
        """Tasks that run in Dagster."""
        return sum(1 for task in self.task_progress if task.proxied)

    @property
    def left(self) -> int:
        """Tasks that still run in Airflow."""
        return self.total - self.proxied

    @property
    def zero_code_tasks(self) -> tuple[TaskProgress, ...]:
        """The tasks zero-code eligibility is about: a whole-DAG proxy's recorded tasks, else Airflow's."""
        return self.original_tasks or self.task_progress

    @property
    def zero_code_eligible(self) -> int:
        """Tasks whose operator can run zero-code."""
        return sum(1 for task in self.zero_code_tasks if task.zero_code_eligible)

    def zero_code_refused(self) -> list[TaskProgress]:
        """Tasks that cannot run zero-code (each with its reason in ``zero_code``)."""
        return [task for task in self.zero_code_tasks if task.zero_code_eligible is False]

    def counts(self) -> dict[str, int | None]:
        """``{"tasks", "mapped", "proxied", "left"}`` (None each when the tasks are unknown)."""
        if not self.tasks_known:
            return {"tasks": None, "mapped": None, "proxied": None, "left": None}
        return {"tasks": self.total, "mapped": self.mapped, "proxied": self.proxied, "left": self.left}

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``airlift-components status --format json`` prints per DAG."""
        return {
            "dag_id": self.dag_id,
            **self.counts(),
            "dag_proxied": self.dag_proxied,
            "dag_mapped_assets": list(self.dag_mapped_assets),
            "task_groups": sorted({t.task_group for t in self.task_progress if t.task_group}),
            "disagreements": list(self.disagreements),
            "zero_code_eligible": self.zero_code_eligible if self.tasks_known else None,
            "zero_code_tasks": len(self.zero_code_tasks) if self.tasks_known else None,
            "task_details": [_task_json(t) for t in self.task_progress],
            "original_tasks": [_task_json(t) for t in self.original_tasks],
        }


def _task_json(task: TaskProgress) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "task_group": task.task_group,
        "mapped_assets": list(task.mapped_assets),
        "proxied": task.proxied,
        "operator": task.operator,
        "zero_code_eligible": task.zero_code_eligible,
        "zero_code": task.zero_code,
    }


def _verdict_text(verdict: ZeroCodeEligibility | None) -> str:
    if verdict is None:
        return "unknown: proxied, and the proxy does not record the original operator"
    return verdict.kind if verdict.eligible else verdict.reason or ""


def dag_progress(snapshot: AirflowSnapshot, dag_id: str, mapping: DagMappings | None) -> DagProgress:
    """Progress of one DAG of the snapshot, given what the definitions map to it."""
    dag = snapshot.dag(dag_id)
    dag_proxied = dag is not None and PROXIED_DAG_TAG in dag.tags
    dag_mapped = tuple(key.to_user_string() for key in mapping.dag_keys) if mapping else ()
    if not snapshot.has_tasks(dag_id):
        return DagProgress(
            snapshot.instance_name, dag_id, False, dag_proxied=dag_proxied, dag_mapped_assets=dag_mapped
        )
    proxied_ids = set(snapshot.proxied_task_ids.get(dag_id, ()))
    task_keys = mapping.task_keys if mapping else {}
    airflow_major = 3 if snapshot.api_version == "v2" else 2
    tasks = []
    for task in sorted(snapshot.tasks[dag_id], key=lambda task: task.task_id):
        proxied = dag_proxied or task.task_id in proxied_ids
        verdict = task_eligibility(task, proxied=proxied, airflow_major=airflow_major)
        tasks.append(
            TaskProgress(
                task_id=task.task_id,
                mapped_assets=tuple(key.to_user_string() for key in task_keys.get(task.task_id, ())),
                proxied=proxied,
                zero_code_eligible=verdict.eligible if verdict is not None else None,
                zero_code=_verdict_text(verdict),
                operator=verdict.operator if verdict is not None else task.operator or "",
            )
        )
    originals = []
    for original in _recorded_tasks(snapshot, dag_id) if dag_proxied else ():
        verdict = whole_dag_task_eligibility(original, airflow_major=airflow_major)
        originals.append(
            TaskProgress(
                task_id=original.task_id,
                mapped_assets=tuple(key.to_user_string() for key in task_keys.get(original.task_id, ())),
                proxied=True,
                zero_code_eligible=verdict.eligible,
                zero_code=_verdict_text(verdict),
                operator=verdict.operator,
            )
        )
    return DagProgress(
        snapshot.instance_name,
        dag_id,
        True,
        tuple(tasks),
        dag_proxied,
        dag_mapped,
        original_tasks=tuple(originals),
    )


def _recorded_tasks(snapshot: AirflowSnapshot, dag_id: str) -> tuple[OriginalTask, ...]:
    # Progress is a report: a malformed record shows the proxy task alone (zero-code definitions name it).
    try:
        return whole_dag_tasks(snapshot, dag_id) or ()
    except ZeroCodeDefinitionError:
        return ()


def instance_progress(snapshot: AirflowSnapshot, by_dag: Mapping[str, DagMappings]) -> list[DagProgress]:
    """Progress of every DAG in the snapshot, in listing order."""
    return [dag_progress(snapshot, dag_id, by_dag.get(dag_id)) for dag_id in snapshot.dag_ids]


# ------------------------------------------------------------------ per instance, and the Markdown tables

COLUMNS = ("dag_id", "tasks", "mapped", "proxied", "left")


@dataclass
class InstanceProgress:
    """All DAGs of one instance, with totals over the DAGs whose tasks are known."""

    instance_name: str
    webserver_url: str
    dags: list[DagProgress] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """Sums of tasks / mapped / proxied / left, plus the number of DAGs."""
        known = [dag for dag in self.dags if dag.tasks_known]
        return {
            "dags": len(self.dags),
            "tasks": sum(d.total for d in known),
            "mapped": sum(d.mapped for d in known),
            "proxied": sum(d.proxied for d in known),
            "left": sum(d.left for d in known),
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON form of one instance."""
        return {
            "instance": self.instance_name,
            "webserver_url": self.webserver_url,
            "totals": self.totals(),
            "dags": [dag.to_json() for dag in self.dags],
        }


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def rows(dags: Sequence[DagProgress]) -> list[list[str]]:
    """One row per DAG: dag_id, tasks, mapped, proxied, left (``-`` when the tasks are unknown)."""
    return [[dag.dag_id, *(_cell(v) for v in dag.counts().values())] for dag in dags]


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in body)])


def dag_markdown(progress: DagProgress) -> str:
    """The Markdown shown on a DAG asset: the counts, then one row per task."""
    if not progress.tasks_known:
        return "Tasks not fetched (the DAG has no mappings and is not proxied)."
    counts = progress.counts()
    summary = ", ".join(f"{name}: {value}" for name, value in counts.items())
    body = [
        [t.task_id, t.task_group or "", ", ".join(t.mapped_assets), "yes" if t.proxied else "no"]
        for t in progress.task_progress
    ]
    return f"**{summary}**\n\n" + markdown_table(["task", "task group", "mapped assets", "proxied"], body)


def instance_markdown(instance: InstanceProgress) -> str:
    """The Markdown overview of one instance: totals, then one row per DAG."""
    totals = instance.totals()
    summary = ", ".join(f"{name}: {value}" for name, value in totals.items())
    return f"**{summary}**\n\n" + markdown_table(COLUMNS, rows(instance.dags))


def migration_overview_spec(
    snapshot: AirflowSnapshot, by_dag: Mapping[str, DagMappings], group_name: str
) -> AssetSpec:
    """The instance-level overview asset: a Markdown table of every DAG's progress as its metadata."""
    overview = InstanceProgress(
        snapshot.instance_name, snapshot.webserver_url, instance_progress(snapshot, by_dag)
    )
    totals = overview.totals()
    return AssetSpec(
        key=overview_asset_key(snapshot.instance_name),
        description=f"Migration progress of Airflow instance {snapshot.instance_name!r} "
        "(as of the last snapshot; `airlift-components status` reads it live).",
        metadata={
            "Migration progress": MetadataValue.md(instance_markdown(overview)),
            **{f"Total {name}": MetadataValue.int(value) for name, value in totals.items()},
        },
        kinds={"airflow"},
        group_name=group_name,
    )
