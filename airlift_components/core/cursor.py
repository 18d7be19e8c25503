"""The sensor's cursor: where the last tick stopped, and what it already emitted.

Exactly-once without trusting Airflow's clock or commit order: each tick re-reads task instances
that ended in ``[watermark - overlap, now]`` and skips the identities it already handled (kept in the
cursor while they are inside that window). A tick that hits its work budget stores the position it
reached inside a fixed scan range and the next tick continues from there.

A tick may skip the task-instance listing (``sensor_tick``) and still advance the watermark: only when
the runs Airflow changed in the same window show no run of a mapped DAG running or newly finished, and
no run is open here. A task ends only while its run runs, and a run ends only after its tasks' rows are
committed, so no task instance of a mapped DAG can have ended in that window unseen.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airlift_components.airflow_api import DagRunRecord, TaskInstanceRecord

CURSOR_FORMAT_VERSION = 1


class OpenRun(BaseModel):
    """A DAG run with finished task instances whose run-level event is not emitted yet."""

    model_config = ConfigDict(frozen=True)

    dag_id: str
    run_id: str
    first_seen: datetime
    dag_proxied: bool = False


class SensorCursor(BaseModel):
    """The serialized state between two sensor ticks (stored by Dagster as the sensor cursor string)."""

    format_version: int = CURSOR_FORMAT_VERSION
    # Everything that ended before ``watermark - overlap`` has been handled.
    watermark: datetime
    # A scan cut short by the work budget: its fixed upper bound and the end_date it reached.
    scan_upper: datetime | None = None
    scan_position: datetime | None = None
    # Identity -> end_date of task instances, roll-ups and runs already handled (pruned with the window).
    seen: dict[str, datetime] = Field(default_factory=dict)
    open_runs: dict[str, OpenRun] = Field(default_factory=dict)
    # Mapped (dynamic) tasks waiting for all their map indexes to finish: "dag_id|run_id|task_id".
    pending_rollups: list[str] = Field(default_factory=list)

    @classmethod
    def initial(cls, now: datetime, lookback: timedelta) -> SensorCursor:
        """The cursor of a first tick: look back ``lookback`` in time."""
        return cls(watermark=now - lookback)

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor | None:
        """The cursor from its stored string, or None when there is none or it is unreadable."""
        return parse_versioned_cursor(cls, text, CURSOR_FORMAT_VERSION)

    def serialize(self) -> str:
        """The string Dagster stores."""
        return self.model_dump_json()

    def prune(self, overlap: timedelta) -> None:
        """Forget identities that the next query window cannot return any more."""
        floor = self.watermark - overlap
        if self.scan_upper is not None and self.scan_position is not None:
            # Mid-scan, only the resumed scan (from scan_position) and the next one's overlap can repeat rows.
            floor = max(floor, min(self.scan_position, self.scan_upper - overlap))
        self.seen = {identity: end for identity, end in self.seen.items() if end >= floor}


def task_instance_identity(ti: TaskInstanceRecord) -> str:
    """One try of one task instance (map index included)."""
    return f"ti|{ti.dag_id}|{ti.run_id}|{ti.task_id}|{ti.map_index}|{ti.try_number}"


def rollup_key(dag_id: str, run_id: str, task_id: str) -> str:
    """One mapped task in one run (all its map indexes)."""
    return f"{dag_id}|{run_id}|{task_id}"


def rollup_identity(dag_id: str, run_id: str, task_id: str) -> str:
    """The identity of the single rolled-up event of a mapped task in a run."""
    return f"rollup|{rollup_key(dag_id, run_id, task_id)}"


def run_key(dag_id: str, run_id: str) -> str:
    """One DAG run."""
    return f"{dag_id}|{run_id}"


def run_identity(run: DagRunRecord) -> str:
    """One finish of one DAG run (a cleared and re-run DAG run finishes again with a new end date)."""
    end = run.end_date.isoformat() if run.end_date else "none"
    return f"run|{run.dag_id}|{run.run_id}|{end}"


CursorT = TypeVar("CursorT", bound=BaseModel)


def parse_versioned_cursor(model: type[CursorT], text: str | None, version: int) -> CursorT | None:
    """A cursor model from its stored JSON; None when absent, unreadable or of another format version."""
    if not text:
        return None
    try:
        cursor = model.model_validate_json(text)
    except ValidationError:
        return None
    return cursor if getattr(cursor, "format_version", None) == version else None
