"""Exactly-once across a daemon crash: the fence a tick leaves before the daemon stores its events.

The daemon stores a tick's asset events one by one and saves the cursor only after the last one. A
daemon killed in between (deploy, OOM, node loss) leaves some events stored and the old cursor; the next
tick reads the same Airflow window again and would store those events a second time.

So a tick that returns events first writes a fence into Dagster's key-value store (one small row per
sensor): a hash of the cursor it was given, a hash of the cursor it returns, and the event log's highest
storage id at that moment. The next tick that has events to return reads the fence. When it was given the
fenced tick's *starting* cursor again, that tick's cursor was never saved, so the events stored since
the fenced storage id are read back and every event already there (same asset key, same
``airlift/event_id``) is dropped. In the normal case the check costs one key-value read per tick with
events; only a replayed tick reads the event log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from dagster import (
    AssetMaterialization,
    AssetObservation,
    DagsterEventType,
    DagsterInstance,
    EventRecordsFilter,
)

from airlift_components.conventions import EVENT_ID_METADATA_KEY

FENCE_KEY_PREFIX = "airlift/sensor_fence/"
_PAGE = 1000


def _digest(cursor: str | None) -> str:
    return hashlib.sha256((cursor or "").encode()).hexdigest()[:32]


def _identity(event: AssetMaterialization | AssetObservation) -> tuple[str, str] | None:
    value = event.metadata.get(EVENT_ID_METADATA_KEY)
    event_id = getattr(value, "value", value)
    if not isinstance(event_id, str):
        return None
    return (event.asset_key.to_user_string(), event_id)


def drop_events_stored_by_an_interrupted_tick(
    instance: DagsterInstance,
    sensor_name: str,
    given_cursor: str | None,
    events: Sequence[AssetMaterialization | AssetObservation],
) -> list[AssetMaterialization | AssetObservation]:
    """``events`` without those an interrupted earlier tick from ``given_cursor`` already stored.

    Cost: one key-value read; the event log is read (from the fenced storage id on) only when the tick
    replays a tick whose cursor was not saved.
    """
    if not events:
        return list(events)
    raw = instance.run_storage.get_cursor_values({FENCE_KEY_PREFIX + sensor_name}).get(
        FENCE_KEY_PREFIX + sensor_name
    )
    if not raw:
        return list(events)
    fence = json.loads(raw)
    if fence.get("from") != _digest(given_cursor) or fence.get("to") == _digest(given_cursor):
        return list(events)
    stored = _identities_stored_after(instance, int(fence["after_storage_id"]))
    return [event for event in events if _identity(event) not in stored]


def write_fence(
    instance: DagsterInstance, sensor_name: str, given_cursor: str | None, new_cursor: str
) -> None:
    """Record, before the daemon stores this tick's events, where the event log stood and which cursors
    the tick went between (one key-value write)."""
    after = instance.event_log_storage.get_maximum_record_id() or 0
    body = {"from": _digest(given_cursor), "to": _digest(new_cursor), "after_storage_id": after}
    instance.run_storage.set_cursor_values({FENCE_KEY_PREFIX + sensor_name: json.dumps(body)})


def _identities_stored_after(instance: DagsterInstance, storage_id: int) -> set[tuple[str, str]]:
    stored: set[tuple[str, str]] = set()
    for event_type in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
        after = storage_id
        while True:
            records = instance.event_log_storage.get_event_records(
                EventRecordsFilter(event_type=event_type, after_cursor=after), limit=_PAGE, ascending=True
            )
            for record in records:
                entry = record.event_log_entry
                event = entry.asset_materialization or entry.asset_observation
                identity = _identity(event) if event is not None else None
                if identity is not None:
                    stored.add(identity)
            if len(records) < _PAGE:
                break
            after = records[-1].storage_id
    return stored
