"""Pure translation of Airflow records into Dagster asset events.

No I/O here: the sensor fetches task instances and runs and hands them to these functions together
with an :class:`AirflowSensorPlan` (what is mapped to what), so every rule (proxied tasks, failed
runs, partitions, mapped-task roll-ups) can be tested with hand-made records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Union

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    MetadataValue,
    PartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from airlift_components.airflow_api import DagRunRecord, TaskInstanceRecord
from airlift_components.conventions import EVENT_ID_METADATA_KEY, PROXY_MARKER_DAG, PROXY_MARKER_FIELD
from airlift_components.core.cursor import rollup_identity, run_identity, task_instance_identity
from airlift_components.core.naming import dag_asset_key, run_url, task_instance_url

AssetEvent = Union[AssetMaterialization, AssetObservation]
LogFn = Callable[[str], None]

SUCCESS_STATES = frozenset({"success"})
FAILED_STATES = frozenset({"failed", "upstream_failed"})
# Task-instance states after which nothing more happens to that try.
TERMINAL_TI_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)  # sorts task instances without an end date first


@dataclass(frozen=True)
class AirflowSensorPlan:
    """What the sensor of one Airflow instance turns into which asset events."""

    instance_name: str
    webserver_url: str
    api_version: str
    dag_ids: frozenset[str]
    task_keys: Mapping[str, Mapping[str, Sequence[AssetKey]]] = field(
        default_factory=dict
    )  # dag -> task -> keys
    dag_keys: Mapping[str, Sequence[AssetKey]] = field(default_factory=dict)  # dag -> DAG-mapped keys
    partitions_defs: Mapping[AssetKey, PartitionsDefinition] = field(default_factory=dict)

    def dag_asset_key(self, dag_id: str) -> AssetKey:
        """The key of the asset that stands for the DAG."""
        return dag_asset_key(self.instance_name, dag_id)

    @property
    def task_instance_dag_ids(self) -> frozenset[str]:
        """DAGs whose task instances the sensor reads: those with task or DAG mappings. A DAG that is
        only peered needs its finished runs alone (nothing in it can be proxied or map to an asset)."""
        return frozenset(
            dag_id for dag_id in self.dag_ids if self.task_keys.get(dag_id) or dag_id in self.dag_keys
        )

    def keys_for_task(self, dag_id: str, task_id: str) -> Sequence[AssetKey]:
        """Assets mapped to one task (empty if none)."""
        return self.task_keys.get(dag_id, {}).get(task_id, ())

    def run_url(self, dag_id: str, run_id: str) -> str:
        """The run's page in the Airflow UI."""
        return run_url(self.webserver_url, self.api_version, dag_id, run_id)

    def task_instance_url(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        """The task instance's page in the Airflow UI."""
        return task_instance_url(self.webserver_url, self.api_version, dag_id, run_id, task_id, map_index)


def proxy_marker(ti: TaskInstanceRecord) -> str | None:
    """The proxy marker value in a task instance's rendered fields (None: it ran in Airflow)."""
    if not ti.rendered_fields or PROXY_MARKER_FIELD not in ti.rendered_fields:
        return None
    value = ti.rendered_fields[PROXY_MARKER_FIELD]
    return str(value) if value is not None else ""


def is_dag_level_proxy(ti: TaskInstanceRecord) -> bool:
    """Whether this task instance is the single operator that replaced a whole proxied DAG."""
    return proxy_marker(ti) == PROXY_MARKER_DAG


def _ts(value: datetime | None) -> MetadataValue:
    return MetadataValue.timestamp(value) if value is not None else MetadataValue.text("none")


def partition_for(
    partitions_def: PartitionsDefinition | None, logical_date: datetime | None
) -> tuple[bool, str | None, str]:
    """``(ok, partition_key, reason)`` for an event of an asset with ``partitions_def``.

    Unpartitioned: ``(True, None, "")``. Time-window partitioned: the partition that starts exactly at
    the logical date, or ``(False, None, why)`` when there is none.
    """
    if partitions_def is None:
        return True, None, ""
    if not isinstance(partitions_def, TimeWindowPartitionsDefinition):
        return False, None, f"{type(partitions_def).__name__} is not time-window partitioned"
    if logical_date is None:
        return False, None, "the Airflow run has no logical date (a manual Airflow 3 run)"
    stamp = logical_date.timestamp()
    if stamp < partitions_def.start.timestamp() or (
        partitions_def.end and stamp >= partitions_def.end.timestamp()
    ):
        return False, None, f"logical date {logical_date.isoformat()} is outside the partitions' range"
    try:
        key = partitions_def.get_partition_key_for_timestamp(stamp)
        start = partitions_def.start_time_for_partition_key(key)
    except Exception as exc:  # dagster raises various errors for dates it cannot place
        return False, None, f"logical date {logical_date.isoformat()} matches no partition ({exc})"
    # A scheduled run's logical date is its partition's start; anything else is not that partition.
    if abs(start.timestamp() - stamp) > 1e-3:
        reason = f"logical date {logical_date.isoformat()} does not start a partition (nearest: {key})"
        return False, None, reason
    return True, key, ""


def _events_for_keys(
    plan: AirflowSensorPlan,
    keys: Sequence[AssetKey],
    *,
    succeeded: bool,
    logical_date: datetime | None,
    metadata: dict[str, MetadataValue],
    where: str,
    log: LogFn,
) -> list[AssetEvent]:
    events: list[AssetEvent] = []
    for key in keys:
        ok, partition, reason = partition_for(plan.partitions_defs.get(key), logical_date)
        if not ok:
            log(f"Skipped the event for {key.to_user_string()} from {where}: {reason}.")
            continue
        if succeeded:
            events.append(AssetMaterialization(asset_key=key, partition=partition, metadata=metadata))
        else:
            events.append(
                AssetObservation(
                    asset_key=key,
                    partition=partition,
                    metadata=metadata,
                    description=f"Airflow {where} did not succeed; the asset was not updated.",
                )
            )
    return events


def task_instance_metadata(plan: AirflowSensorPlan, ti: TaskInstanceRecord) -> dict[str, MetadataValue]:
    """Metadata on every event from a task instance."""
    return {
        "airflow/dag_id": MetadataValue.text(ti.dag_id),
        "airflow/run_id": MetadataValue.text(ti.run_id),
        "airflow/task_id": MetadataValue.text(ti.task_id),
        **_task_group_metadata(ti.task_id),
        "airflow/state": MetadataValue.text(ti.state or "none"),
        "airflow/logical_date": _ts(ti.logical_date),
        "airflow/try_number": MetadataValue.int(ti.try_number),
        "airflow/start_date": _ts(ti.start_date),
        "airflow/end_date": _ts(ti.end_date),
        "airflow/url": MetadataValue.url(
            plan.task_instance_url(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        ),
        EVENT_ID_METADATA_KEY: MetadataValue.text(task_instance_identity(ti)),
    }


def task_group_of(task_id: str) -> str | None:
    """The task group a task belongs to, from its dotted id (``"extract.load"`` -> ``"extract"``).

    Airflow's REST API lists no task group field (2.11 and 3.x); with the default ``prefix_group_id=True``
    the group path is the task id's prefix. Tasks of groups made with ``prefix_group_id=False`` show none.
    """
    return task_id.rsplit(".", 1)[0] if "." in task_id else None


def _task_group_metadata(task_id: str) -> dict[str, MetadataValue]:
    group = task_group_of(task_id)
    return {"airflow/task_group": MetadataValue.text(group)} if group else {}


def task_instance_events(plan: AirflowSensorPlan, ti: TaskInstanceRecord, log: LogFn) -> list[AssetEvent]:
    """Events for the assets mapped to one finished (unmapped) task instance.

    Success -> materializations; failure -> observations saying so; skipped or proxied -> nothing
    (a proxied task's Dagster run materialized the assets itself).
    """
    keys = plan.keys_for_task(ti.dag_id, ti.task_id)
    if not keys:
        return []
    where = f"task {ti.dag_id}.{ti.task_id} (run {ti.run_id}, try {ti.try_number})"
    if proxy_marker(ti) is not None:
        log(f"No event from {where}: it was proxied to Dagster, whose run materialized the assets.")
        return []
    if ti.state not in SUCCESS_STATES | FAILED_STATES:
        return []
    succeeded = ti.state in SUCCESS_STATES
    if not succeeded:
        log(f"Airflow {where} ended {ti.state}: {plan.task_instance_url(ti.dag_id, ti.run_id, ti.task_id)}")
    return _events_for_keys(
        plan,
        keys,
        succeeded=succeeded,
        logical_date=ti.logical_date,
        metadata=task_instance_metadata(plan, ti),
        where=where,
        log=log,
    )


def rolled_up_task_events(
    plan: AirflowSensorPlan, tis: Sequence[TaskInstanceRecord], log: LogFn
) -> list[AssetEvent]:
    """One event per mapped asset for all map indexes of one mapped task in one run (all finished).

    Succeeds when no map index failed and at least one succeeded; any proxied index means Dagster ran it.
    """
    if not tis:
        return []
    first = tis[0]
    keys = plan.keys_for_task(first.dag_id, first.task_id)
    if not keys:
        return []
    where = f"mapped task {first.dag_id}.{first.task_id} (run {first.run_id}, {len(tis)} map indexes)"
    if any(proxy_marker(ti) is not None for ti in tis):
        log(f"No event from {where}: it was proxied to Dagster.")
        return []
    states = {ti.state for ti in tis}
    if states & FAILED_STATES:
        succeeded = False
    elif "success" in states:
        succeeded = True
    else:
        return []  # every index skipped or removed: nothing was produced
    starts = [ti.start_date for ti in tis if ti.start_date]
    ends = [ti.end_date for ti in tis if ti.end_date]
    metadata = {
        "airflow/dag_id": MetadataValue.text(first.dag_id),
        "airflow/run_id": MetadataValue.text(first.run_id),
        "airflow/task_id": MetadataValue.text(first.task_id),
        **_task_group_metadata(first.task_id),
        "airflow/state": MetadataValue.text("success" if succeeded else "failed"),
        "airflow/logical_date": _ts(first.logical_date),
        "airflow/try_number": MetadataValue.int(max(ti.try_number for ti in tis)),
        "airflow/start_date": _ts(min(starts) if starts else None),
        "airflow/end_date": _ts(max(ends) if ends else None),
        "airflow/map_indexes": MetadataValue.int(len(tis)),
        "airflow/url": MetadataValue.url(plan.task_instance_url(first.dag_id, first.run_id, first.task_id)),
        EVENT_ID_METADATA_KEY: MetadataValue.text(rollup_identity(first.dag_id, first.run_id, first.task_id)),
    }
    return _events_for_keys(
        plan,
        keys,
        succeeded=succeeded,
        logical_date=first.logical_date,
        metadata=metadata,
        where=where,
        log=log,
    )


def dag_run_events(
    plan: AirflowSensorPlan, run: DagRunRecord, *, dag_proxied: bool, log: LogFn
) -> list[AssetEvent]:
    """Events for a finished DAG run: the DAG asset, then the DAG-mapped assets.

    Success -> materializations (DAG-mapped assets are left out when the whole DAG was proxied to
    Dagster, which materialized them). Failure -> an observation of the DAG asset saying so.
    """
    url = plan.run_url(run.dag_id, run.run_id)
    metadata = {
        "airflow/dag_id": MetadataValue.text(run.dag_id),
        "airflow/run_id": MetadataValue.text(run.run_id),
        "airflow/run_type": MetadataValue.text(run.run_type or "unknown"),
        "airflow/state": MetadataValue.text(run.state or "none"),
        "airflow/logical_date": _ts(run.logical_date),
        "airflow/try_number": MetadataValue.int(1),
        "airflow/start_date": _ts(run.start_date),
        "airflow/end_date": _ts(run.end_date),
        "airflow/url": MetadataValue.url(url),
        EVENT_ID_METADATA_KEY: MetadataValue.text(run_identity(run)),
    }
    where = f"DAG run {run.dag_id}/{run.run_id}"
    succeeded = run.state in SUCCESS_STATES
    if run.state not in SUCCESS_STATES | FAILED_STATES:
        return []
    if not succeeded:
        log(f"Airflow {where} ended {run.state}: {url}")
    keys = [plan.dag_asset_key(run.dag_id)]
    dag_mapped = list(plan.dag_keys.get(run.dag_id, ()))
    if dag_mapped and dag_proxied and succeeded:
        log(f"No events for the DAG-mapped assets of {where}: the DAG was proxied to Dagster.")
    elif succeeded:
        keys = dag_mapped + keys  # mapped assets first: the DAG asset is downstream of them
    return _events_for_keys(
        plan,
        keys,
        succeeded=succeeded,
        logical_date=run.logical_date,
        metadata=metadata,
        where=where,
        log=log,
    )


def finished_run_events(
    plan: AirflowSensorPlan, run: DagRunRecord, tis: Iterable[TaskInstanceRecord], log: LogFn
) -> list[AssetEvent]:
    """Every event of one finished run, in the sensor's order: its task instances' events (by end date;
    each mapped task's indexes rolled up into one), then the run's (:func:`dag_run_events`).

    ``tis`` are the run's task instances; none for a DAG that is only peered (nothing in it can be mapped
    or proxied), which leaves the run's events alone. A DAG-level proxy among them marks the run proxied.
    """
    events: list[AssetEvent] = []
    mapped: dict[str, list[TaskInstanceRecord]] = defaultdict(list)
    dag_proxied = False
    for ti in sorted(tis, key=lambda ti: (ti.end_date or _EARLIEST, ti.task_id)):
        dag_proxied = dag_proxied or is_dag_level_proxy(ti)
        if ti.state not in TERMINAL_TI_STATES:
            continue
        if ti.map_index >= 0:
            mapped[ti.task_id].append(ti)
        else:
            events.extend(task_instance_events(plan, ti, log))
    for task_tis in mapped.values():
        events.extend(rolled_up_task_events(plan, task_tis, log))
    events.extend(dag_run_events(plan, run, dag_proxied=dag_proxied, log=log))
    return events
