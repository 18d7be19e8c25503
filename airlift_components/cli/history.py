"""Importing Airflow history into Dagster: the asset events of DAG runs that finished in a date range.

The events are the sensor's own (same translation functions, same metadata, same partitions), stored
with the Airflow end date as their timestamp, so the asset's history in Dagster shows when the work
happened. Every event carries the sensor's dedup identity (``airlift/event_id``); an import skips the
identities already stored for the asset, whether an earlier import or the sensor stored them, so rerunning
it adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterInstance, Definitions

from airlift_components.airflow_api import FINISHED_RUN_STATES, TaskInstanceRecord
from airlift_components.cli.definitions import PeeredInstance, peered_instances
from airlift_components.conventions import EVENT_ID_METADATA_KEY
from airlift_components.core.events import AssetEvent, LogFn, finished_run_events

RUN_IDS_PER_QUERY = 100  # keeps the task-instance batch body small
RECORDS_PER_PAGE = 1000


class HistoryImportError(ValueError):
    """The import was asked for something impossible (e.g. a date range that ends before it starts)."""


@dataclass(frozen=True)
class ImportResult:
    """What one import did for one Airflow instance."""

    instance_name: str
    runs: int  # finished DAG runs found in the range
    imported: int  # events stored now
    already_present: int  # events skipped because their identity was stored before


def _utc_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = (value if value.tzinfo else value.replace(tzinfo=timezone.utc) for value in (start, end))
    if start >= end:
        raise HistoryImportError(
            f"the date range must end after it starts: {start.isoformat()} >= {end.isoformat()}"
        )
    return start, end


def _event_id(event: AssetEvent) -> str:
    return str(event.metadata[EVENT_ID_METADATA_KEY].value)


def _timestamp(event: AssetEvent) -> float:
    # The event's Airflow end date (every event from Airflow has one); falls back to now.
    value = event.metadata.get("airflow/end_date")
    stamp = getattr(value, "value", None)
    return float(stamp) if isinstance(stamp, (int, float)) else datetime.now(timezone.utc).timestamp()


def stored_event_ids(dagster_instance: DagsterInstance, key: AssetKey, after: float) -> set[str]:
    """The ``airlift/event_id`` of every materialization and observation of ``key`` stored after ``after``."""
    found: set[str] = set()
    records_filter = AssetRecordsFilter(asset_key=key, after_timestamp=after)
    for fetch in (dagster_instance.fetch_materializations, dagster_instance.fetch_observations):
        cursor = None
        while True:
            result = fetch(records_filter, limit=RECORDS_PER_PAGE, cursor=cursor)
            for record in result.records:
                event = record.asset_materialization or record.asset_observation
                value = event.metadata.get(EVENT_ID_METADATA_KEY) if event else None
                if value is not None:
                    found.add(str(getattr(value, "value", value)))
            if not result.has_more:
                break
            cursor = result.cursor
    return found


def store_event(dagster_instance: DagsterInstance, event: AssetEvent, timestamp: float) -> None:
    """Store a runless asset event with the given timestamp (``report_runless_asset_event`` uses now)."""
    from dagster._core.events import (
        AssetObservationData,
        DagsterEvent,
        DagsterEventType,
        StepMaterializationData,
    )
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    if isinstance(event, AssetMaterialization):
        kind, data = DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(event)
    else:
        kind, data = DagsterEventType.ASSET_OBSERVATION, AssetObservationData(event)
    dagster_event = DagsterEvent(
        event_type_value=kind.value, event_specific_data=data, job_name=RUNLESS_JOB_NAME
    )
    dagster_instance.report_dagster_event(dagster_event, run_id=RUNLESS_RUN_ID, timestamp=timestamp)


def import_instance_history(
    peered: PeeredInstance,
    dagster_instance: DagsterInstance,
    start: datetime,
    end: datetime,
    log: LogFn = lambda message: None,
) -> ImportResult:
    """Import the runs of one instance's DAGs (in the definitions) that finished in ``[start, end]``.

    Cost: the login (which also tells the API dialect), the paged run listing, and one paged task-instance query per 100 runs.
    """
    start, end = _utc_range(start, end)
    client = peered.resource.get_client()
    plan = peered.plan(client)
    runs = client.list_dag_runs(
        dag_ids=sorted(plan.dag_ids), states=list(FINISHED_RUN_STATES), end_date_gte=start, end_date_lte=end
    )
    by_run: dict[tuple[str, str], list[TaskInstanceRecord]] = defaultdict(list)
    for i in range(0, len(runs), RUN_IDS_PER_QUERY):
        chunk = runs[i : i + RUN_IDS_PER_QUERY]
        for ti in client.list_task_instances(
            dag_ids=sorted({run.dag_id for run in chunk}), run_ids=sorted({run.run_id for run in chunk})
        ):
            by_run[(ti.dag_id, ti.run_id)].append(ti)
    events = [
        event
        for run in sorted(runs, key=lambda run: run.end_date or end)
        for event in finished_run_events(plan, run, by_run.get((run.dag_id, run.run_id), []), log)
    ]
    earliest: dict[AssetKey, float] = {}
    for event in events:
        earliest[event.asset_key] = min(earliest.get(event.asset_key, _timestamp(event)), _timestamp(event))
    # Anything stored for this run (by the sensor or an import) is stored at or after its end date.
    stored = {key: stored_event_ids(dagster_instance, key, after - 1) for key, after in earliest.items()}
    imported = present = 0
    for event in events:
        identity = _event_id(event)
        if identity in stored[event.asset_key]:
            present += 1
            continue
        store_event(dagster_instance, event, _timestamp(event))
        stored[event.asset_key].add(identity)
        imported += 1
    log(f"{peered.name}: {len(runs)} runs, {imported} events imported, {present} already present")
    return ImportResult(peered.name, len(runs), imported, present)


def import_airflow_history(
    defs: Definitions,
    dagster_instance: DagsterInstance,
    start: datetime,
    end: datetime,
    *,
    instance_name: str | None = None,
    log: LogFn = lambda message: None,
) -> list[ImportResult]:
    """Import Airflow history for every instance peered in ``defs`` (or only ``instance_name``).

    Example::

        from dagster import DagsterInstance
        from airlift_components.cli.history import import_airflow_history

        with DagsterInstance.get() as instance:
            import_airflow_history(defs, instance, datetime(2024, 1, 1), datetime(2024, 2, 1))

    Naive datetimes are UTC. Runs are selected by their end date; partitions come from their logical date.
    """
    start, end = _utc_range(start, end)
    return [
        import_instance_history(peered, dagster_instance, start, end, log)
        for peered in peered_instances(defs, instance_name).values()
    ]
