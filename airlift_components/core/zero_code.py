"""Zero-code migration, definitions side: executable assets generated from the Airflow tasks themselves.

For each task of a DAG matched by :class:`ZeroCode` ``dags`` globs, :func:`plan_zero_code` decides from the
snapshot (operator class and module, ``is_mapped``, or for a proxied task the original-operator line the
proxy writes into its ``doc_md``) whether the task can run zero-code
(:func:`~airlift_components.formats.zero_code_eligibility.classify_task`), and
:func:`~airlift_components.core.zero_code_assets.zero_code_assets` builds one executable multi-asset per eligible task: its task-mapped assets when it has a task mapping,
otherwise the key ``<instance>/task/<dag_id>/<task_id>``. The asset body (:mod:`.zero_code_run`) starts the
zero-code runner in Airflow's environment.

A DAG proxied as a whole (tag ``airlift:proxied-dag``) lists only its proxy task in Airflow's REST API; the
proxy's ``doc_md`` records the tasks it replaced (``conventions.ORIGINAL_TASKS_DOC_PREFIX``, read by
:func:`whole_dag_tasks`). Each of them gets its asset (its task-mapped assets when a task mapping names it:
mappings onto such a DAG's tasks are checked against this record, not Airflow's listing), with deps
following its upstream tasks, and the keys become the DAG's proxy targets: the DAG proxy launches them all
in one Dagster run, in which each task reads its upstream tasks' XComs from the run's own results. Every
task of such a DAG must be eligible and keep the default trigger rule ``all_success`` (what Dagster's skip of a step whose upstream
produced nothing mirrors), and the DAG may have no DAG-mapped assets; otherwise definitions fail.

Pure (no I/O): the snapshot already holds the matched DAGs' tasks (``fetch_snapshot`` and
``load_snapshot`` take ``fetch_tasks_matching=ZeroCode.matches``, so they come with the DAG listing's
task requests and a cached snapshot keeps them).
"""

from __future__ import annotations

import fnmatch
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from airlift_components.airflow_api import TaskRecord
from airlift_components.conventions import (
    PROXIED_DAG_TAG,
    PROXY_MARKER_FIELD,
)
from airlift_components.core.mappings import MappedAsset
from airlift_components.core.naming import (
    zero_code_task_asset_key,
)
from airlift_components.core.snapshot import AirflowSnapshot
from airlift_components.formats.proxy_records import OriginalTask, ProxyRecordError, original_operator
from airlift_components.formats.proxy_records import original_tasks as read_original_tasks
from airlift_components.formats.zero_code_eligibility import ZeroCodeEligibility, classify_task

logger = logging.getLogger(__name__)
# (instance, dag_id, task_id, reason) already logged in this process: a reload does not repeat them.
_LOGGED: set[tuple[str, str, str, str]] = set()


class ZeroCodeDefinitionError(ValueError):
    """A proxied task cannot run zero-code, or a zero-code target cannot be built (names instance, DAG, task)."""


@dataclass(frozen=True)
class ZeroCode:
    """Which DAGs' tasks get executable assets built from the Airflow task itself, and how the runner starts.

    Example::

        build_defs_from_airflow_instance(
            airflow_instance=instance,
            zero_code=ZeroCode(
                dags=["orders_*"],
                python="/opt/airflow-venv/bin/python",
                dags_folder="/opt/airflow/dags",
                env_vars=["AIRFLOW_CONN_WAREHOUSE"],
            ),
        )

    Args:
        dags: DAG id globs (``fnmatch``, case-sensitive).
        python: the interpreter of the environment that has the DAGs' dependencies (Airflow's venv or
            image), with ``airlift-components[in-airflow]`` installed; default: this interpreter.
        dags_folder: where the DAG files live for the runner; default: the folder of the DAG file as
            Airflow reports it (``fileloc``).
        env_vars: names of environment variables handed to the task (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``,
            ...); their values come from the Dagster process's environment and never enter config or logs.
    """

    dags: tuple[str, ...]
    python: str = field(default_factory=lambda: sys.executable)
    dags_folder: str | None = None
    env_vars: tuple[str, ...] = ()
    keep_warm_seconds: float = 600.0

    def __post_init__(self) -> None:
        # Accept lists (the natural Python spelling) while staying hashable and frozen.
        object.__setattr__(self, "dags", _names(self.dags, "dags"))
        object.__setattr__(self, "env_vars", _names(self.env_vars, "env_vars"))
        if not self.dags:
            raise ValueError("ZeroCode: `dags` needs at least one DAG id glob, e.g. ['orders_*']")
        if not self.python:
            raise ValueError("ZeroCode: `python` must be the path of an interpreter")
        if self.keep_warm_seconds < 0:
            raise ValueError(
                f"ZeroCode: `keep_warm_seconds` must be >= 0 (0 turns the warm runner off), not "
                f"{self.keep_warm_seconds}"
            )

    def matches(self, dag_id: str) -> bool:
        """Whether ``dag_id`` matches one of the ``dags`` globs."""
        return any(fnmatch.fnmatchcase(dag_id, pattern) for pattern in self.dags)


def _names(value: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValueError(f"ZeroCode: `{what}` must be a list of strings, got the string {value!r}")
    names = tuple(value)
    bad = [name for name in names if not isinstance(name, str) or not name]
    if bad:
        raise ValueError(f"ZeroCode: `{what}` must hold non-empty strings, got {bad!r}")
    return names


# ------------------------------------------------------------------ eligibility from the snapshot


def task_eligibility(task: TaskRecord, *, proxied: bool, airflow_major: int) -> ZeroCodeEligibility | None:
    """The verdict for one task of the snapshot; None for a proxied task whose original operator is not
    recorded (an older proxy): the runner then classifies the real class before running anything."""
    if proxied:
        original = original_operator(task.doc_md)
        if original is None:
            return None
        module, _, name = original.rpartition(".")
        return classify_task(
            operator_class=name,
            operator_module=module or None,
            is_mapped=task.is_mapped,
            airflow_major=airflow_major,
        )
    return classify_task(
        operator_class=task.operator or "unknown",
        operator_module=task.operator_module,
        is_mapped=task.is_mapped,
        airflow_major=airflow_major,
    )


def original_tasks(task: TaskRecord, *, instance_name: str, dag_id: str) -> tuple[OriginalTask, ...] | None:
    """The tasks a whole-DAG proxy replaced, from its ``doc_md`` record
    (:func:`airlift_components.formats.proxy_records.original_tasks`); None without one.

    Raises:
        ZeroCodeDefinitionError: the record is malformed (names instance, DAG and proxy task).
    """
    try:
        return read_original_tasks(task.doc_md, where=f"{instance_name}/{dag_id}.{task.task_id}")
    except ProxyRecordError as exc:
        raise ZeroCodeDefinitionError(str(exc)) from None


@dataclass(frozen=True)
class ZeroCodeTask:
    """One task that gets a zero-code asset: its keys, and whether they are the user's mapped assets."""

    dag_id: str
    task_id: str
    keys: tuple[dg.AssetKey, ...]
    mapped: bool
    kind: str
    operator: str
    dag_fileloc: str | None
    upstream_task_ids: tuple[str, ...] = ()
    whole_dag: bool = False  # one task of a DAG proxied as a whole: launched with the others in one run


@dataclass
class ZeroCodePlan:
    """The zero-code tasks of a snapshot, and the tasks refused (with their one-line messages)."""

    tasks: list[ZeroCodeTask] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)  # dag_id -> messages
    eligible: dict[str, list[str]] = field(default_factory=dict)  # dag_id -> task ids

    def task_ids_by_dag(self) -> dict[str, frozenset[str]]:
        """``dag_id -> task ids`` whose target is a zero-code asset (the proxy targets' ``zero_code``)."""
        found: dict[str, set[str]] = {}
        for task in self.tasks:
            if task.whole_dag:
                continue  # no task-level proxy relays these; the DAG proxy launches them
            found.setdefault(task.dag_id, set()).add(task.task_id)
        return {dag_id: frozenset(ids) for dag_id, ids in found.items()}

    def whole_dag_keys(self) -> dict[str, list[dg.AssetKey]]:
        """``dag_id -> keys`` of the tasks of DAGs proxied as a whole (their proxy targets' ``dag``)."""
        found: dict[str, list[dg.AssetKey]] = {}
        for task in self.tasks:
            if task.whole_dag:
                found.setdefault(task.dag_id, []).extend(task.keys)
        return found

    def _upstream_keys(self) -> dict[tuple[str, str], frozenset[dg.AssetKey]]:
        # (dag_id, task_id) -> the keys of its upstream tasks that run zero-code (its assets' deps).
        keys_of = {(t.dag_id, t.task_id): t.keys for t in self.tasks}
        return {
            (t.dag_id, t.task_id): frozenset(
                key for up in t.upstream_task_ids for key in keys_of.get((t.dag_id, up), ())
            )
            for t in self.tasks
        }

    def whole_dag_mapped_deps(self) -> dict[dg.AssetKey, frozenset[dg.AssetKey]]:
        """``key -> upstream task keys`` of the task-mapped assets of DAGs proxied as a whole: the user's
        spec does not know the recorded upstream tasks, the generated asset depends on them."""
        upstream = self._upstream_keys()
        return {
            key: upstream[(task.dag_id, task.task_id)]
            for task in self.tasks
            if task.whole_dag and task.mapped
            for key in task.keys
        }

    def mapped_assets(self) -> list[MappedAsset]:
        """The default-key assets as task mappings, or DAG mappings for a whole-DAG proxy's tasks (the
        sensor, proxy targets and DAG deps treat them so). A whole-DAG task's mapped keys become DAG
        mappings through :meth:`whole_dag_keys` (the user's spec stays its mapped asset)."""
        upstream = self._upstream_keys()
        out = []
        for task in self.tasks:
            if task.mapped:
                continue
            out.append(
                MappedAsset(
                    key=task.keys[0],
                    deps=upstream[(task.dag_id, task.task_id)],
                    partitions_def=None,
                    task_handles=() if task.whole_dag else ((task.dag_id, task.task_id),),
                    dag_ids=(task.dag_id,) if task.whole_dag else (),
                )
            )
        return out


def plan_zero_code(
    snapshot: AirflowSnapshot,
    zero_code: ZeroCode,
    task_keys: Mapping[str, Mapping[str, Sequence[dg.AssetKey]]],
    dag_keys: Mapping[str, Sequence[dg.AssetKey]] | None = None,
) -> ZeroCodePlan:
    """Which tasks of the matched DAGs get zero-code assets.

    Args:
        snapshot: the instance's snapshot (holding the matched DAGs' tasks: ``fetch_tasks_matching``).
        zero_code: the settings.
        task_keys: ``dag_id -> task_id -> mapped keys`` (a task with keys runs as those assets).
        dag_keys: ``dag_id -> DAG-mapped keys`` (refused for a DAG proxied as a whole).

    Raises:
        ZeroCodeDefinitionError: a proxied task is not eligible, or a task of a DAG proxied as a whole is
            not, or keeps a trigger rule other than ``all_success``, or the DAG has DAG-mapped assets (one
            line per problem: instance, DAG, task, operator class and reason).
    """
    plan = ZeroCodePlan()
    errors: list[str] = []
    airflow_major = 3 if snapshot.api_version == "v2" else 2
    instance = snapshot.instance_name
    for dag in snapshot.dags:
        if not zero_code.matches(dag.dag_id):
            continue
        if not snapshot.has_tasks(dag.dag_id):
            _log_once(
                instance, dag.dag_id, "", f"{instance}/{dag.dag_id}: tasks unknown, no zero-code assets"
            )
            continue
        if PROXIED_DAG_TAG in dag.tags:
            # Airflow then lists the one proxy task in place of the DAG's own tasks.
            errors.extend(
                _plan_whole_dag(
                    plan,
                    snapshot,
                    dag.dag_id,
                    dag.fileloc,
                    task_keys.get(dag.dag_id, {}),
                    (dag_keys or {}).get(dag.dag_id, ()),
                    airflow_major,
                )
            )
            continue
        proxied_ids = set(snapshot.proxied_task_ids.get(dag.dag_id, ()))
        for task in snapshot.tasks[dag.dag_id]:
            proxied = task.task_id in proxied_ids
            verdict = task_eligibility(task, proxied=proxied, airflow_major=airflow_major)
            message = (
                verdict.message(instance_name=instance, dag_id=dag.dag_id, task_id=task.task_id)
                if verdict is not None
                else ""
            )
            if verdict is not None and not verdict.eligible:
                plan.refused.setdefault(dag.dag_id, []).append(message)
                if proxied:
                    errors.append(message)
                else:
                    _log_once(instance, dag.dag_id, task.task_id, message)
                continue
            if verdict is None:
                _log_once(
                    instance,
                    dag.dag_id,
                    task.task_id,
                    f"{instance}/{dag.dag_id}.{task.task_id}: proxied, and its proxy does not record the "
                    "original operator; the zero-code runner checks eligibility when it runs",
                )
            plan.eligible.setdefault(dag.dag_id, []).append(task.task_id)
            mapped = tuple(task_keys.get(dag.dag_id, {}).get(task.task_id, ()))
            plan.tasks.append(
                ZeroCodeTask(
                    dag_id=dag.dag_id,
                    task_id=task.task_id,
                    keys=mapped or (zero_code_task_asset_key(instance, dag.dag_id, task.task_id),),
                    mapped=bool(mapped),
                    kind=verdict.kind if verdict is not None else "unknown",
                    operator=verdict.operator if verdict is not None else (task.operator or "unknown"),
                    dag_fileloc=dag.fileloc,
                    upstream_task_ids=task.upstream_task_ids,
                )
            )
    if errors:
        raise ZeroCodeDefinitionError(
            "proxied tasks cannot run zero-code (set `proxied: False` for them, proxy a whole DAG task by "
            "task instead, or leave their DAG out of zero_code dags):\n  - " + "\n  - ".join(errors)
        )
    return plan


def whole_dag_tasks(snapshot: AirflowSnapshot, dag_id: str) -> tuple[OriginalTask, ...] | None:
    """The tasks a DAG proxied as a whole replaced, as its proxy records them; None when the DAG is not
    proxied as a whole, its tasks were not fetched, or its proxy records none (an older airlift-components).

    Raises:
        ZeroCodeDefinitionError: the record is malformed (names instance, DAG and proxy task).
    """
    dag = snapshot.dag(dag_id)
    if dag is None or PROXIED_DAG_TAG not in dag.tags or not snapshot.has_tasks(dag_id):
        return None
    listed = snapshot.tasks[dag_id]
    proxies = [t for t in listed if PROXY_MARKER_FIELD in t.template_fields] or list(listed)
    for proxy in proxies:
        tasks = original_tasks(proxy, instance_name=snapshot.instance_name, dag_id=dag_id)
        if tasks is not None:
            return tasks
    return None


def whole_dag_task_eligibility(original: OriginalTask, *, airflow_major: int) -> ZeroCodeEligibility:
    """The verdict for one task a whole-DAG proxy replaced: its operator's, and refused for a trigger rule
    other than ``all_success`` (the one Dagster run mirrors that rule only)."""
    module, _, name = original.operator.rpartition(".")
    verdict = classify_task(
        operator_class=name,
        operator_module=module or None,
        is_mapped=original.is_mapped,
        airflow_major=airflow_major,
    )
    if verdict.eligible and original.trigger_rule != "all_success":
        return ZeroCodeEligibility(
            eligible=False,
            kind=verdict.kind,
            reason=f"trigger rule {original.trigger_rule!r}: a DAG proxied as a whole runs zero-code in one "
            "Dagster run, which mirrors the default rule 'all_success' only (a task whose upstream failed or "
            "was skipped does not run)",
            operator=verdict.operator,
        )
    return verdict


def _plan_whole_dag(
    plan: ZeroCodePlan,
    snapshot: AirflowSnapshot,
    dag_id: str,
    dag_fileloc: str | None,
    task_keys: Mapping[str, Sequence[dg.AssetKey]],
    dag_keys: Sequence[dg.AssetKey],
    airflow_major: int,
) -> list[str]:
    """Add the zero-code tasks of a DAG proxied as a whole to ``plan``; return the problems found.

    ``task_keys`` are the task mappings onto the tasks the proxy records (the definitions builder checks
    them against the record, since Airflow lists only the proxy task)."""
    instance = snapshot.instance_name
    tasks = whole_dag_tasks(snapshot, dag_id)
    if tasks is None:
        _log_once(
            instance,
            dag_id,
            "",
            f"{instance}/{dag_id}: proxied as a whole DAG by a proxy that does not record the tasks it "
            "replaced (an older airlift-components in Airflow); no zero-code assets",
        )
        return []
    errors = []
    if dag_keys:
        names = ", ".join(key.to_user_string() for key in dag_keys)
        errors.append(
            f"{instance}/{dag_id}: proxied as a whole and zero-code, so its tasks' own assets are what the DAG "
            f"proxy launches; its DAG-mapped assets [{names}] would never be materialized: map them to the "
            "DAG's tasks, or leave the DAG out of zero_code dags"
        )
    for original in tasks:
        verdict = whole_dag_task_eligibility(original, airflow_major=airflow_major)
        if not verdict.eligible:
            message = verdict.message(instance_name=instance, dag_id=dag_id, task_id=original.task_id)
            plan.refused.setdefault(dag_id, []).append(message)
            errors.append(f"{message} (the DAG is proxied as a whole)")
            continue
        plan.eligible.setdefault(dag_id, []).append(original.task_id)
        mapped = tuple(task_keys.get(original.task_id, ()))
        plan.tasks.append(
            ZeroCodeTask(
                dag_id=dag_id,
                task_id=original.task_id,
                keys=mapped or (zero_code_task_asset_key(instance, dag_id, original.task_id),),
                mapped=bool(mapped),
                kind=verdict.kind,
                operator=verdict.operator,
                dag_fileloc=dag_fileloc,
                upstream_task_ids=original.upstream_task_ids,
                whole_dag=True,
            )
        )
    return errors


def _log_once(instance: str, dag_id: str, task_id: str, message: str, level: int = logging.INFO) -> None:
    key = (instance, dag_id, task_id, message)
    if key not in _LOGGED:
        _LOGGED.add(key)
        logger.log(level, "zero-code: %s", message)
