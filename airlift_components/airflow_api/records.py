"""Typed records for what the Airflow REST API returns, the same for Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

Each record reads both dialects' JSON itself (``DagRunRecord.from_api(row)``): the field names that
differ are listed as ``AliasChoices`` next to the field, so nothing above the client knows which Airflow
version answered; a JSON ``null`` means the field's default. They are pydantic models so that snapshots
serialize to JSON and back (by field name).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic_core import PydanticUndefined

#: Airflow DAG run states after which a run never changes again.
FINISHED_RUN_STATES = ("success", "failed")


def _either(*names: str, default: Any = PydanticUndefined) -> Any:
    """A field read from the first of ``names`` present (the field's own name first, then the API's)."""
    return Field(default, validation_alias=AliasChoices(*names))


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_api(cls, row: dict[str, Any]) -> Self:
        """The record from one row of either dialect's JSON (a ``null`` means the field's default)."""
        return cls.model_validate(cls._api_values({k: v for k, v in row.items() if v is not None}))

    @classmethod
    def _api_values(cls, row: dict[str, Any]) -> dict[str, Any]:
        # The values that differ by more than their name (names: AliasChoices). Only API rows go through
        # here: a snapshot read back validates in pydantic's core alone, which keeps cached loads fast.
        return row


def _names(rows: Any, key: str) -> tuple[str, ...]:
    """``[{"name": "a"}, "b"]`` -> ``("a", "b")``: the API lists objects where a record keeps their names."""
    return tuple(row[key] if isinstance(row, dict) else str(row) for row in rows or ())


def _v1_schedule(value: Any) -> str | None:
    """Airflow 2's ``schedule_interval`` object (cron or timedelta) as text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "CronExpression":
            return value.get("value")
        if kind == "TimeDelta":
            return f"every {value.get('days', 0)}d {value.get('seconds', 0)}s"
        return value.get("value") or kind
    return str(value)


class DagRecord(_Record):
    """One DAG as Airflow lists it."""

    dag_id: str
    is_paused: bool = False
    is_active: bool = True
    # Airflow 3 summarises the timetable; Airflow 2 gives the schedule_interval object.
    schedule: str | None = _either("schedule", "timetable_summary", "schedule_interval", default=None)
    schedule_description: str | None = _either("schedule_description", "timetable_description", default=None)
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    fileloc: str | None = None
    description: str | None = None
    file_token: str | None = None

    @classmethod
    def _api_values(cls, row: dict[str, Any]) -> dict[str, Any]:
        values = {**row, "tags": _names(row.get("tags"), "name")}
        if "schedule_interval" in row:
            values["schedule_interval"] = _v1_schedule(row["schedule_interval"])
        # Airflow 3 says whether a DAG is stale (its file is gone), Airflow 2 whether it is active.
        if "is_active" not in row and "is_stale" in row:
            values["is_active"] = not row["is_stale"]
        return values


class TaskRecord(_Record):
    """One task of a DAG, with its direct dependencies and operator."""

    dag_id: str
    task_id: str
    downstream_task_ids: tuple[str, ...] = ()
    upstream_task_ids: tuple[str, ...] = ()
    operator: str | None = None
    operator_module: str | None = None
    is_mapped: bool = False
    doc_md: str | None = None
    retries: float | None = None
    pool: str | None = None
    queue: str | None = None
    trigger_rule: str | None = None
    template_fields: tuple[str, ...] = ()

    @classmethod
    def _api_values(cls, row: dict[str, Any]) -> dict[str, Any]:
        # Both dialects name the operator class in class_ref; Airflow 3 also has operator_name.
        class_ref = row.get("class_ref") or {}
        operator = class_ref.get("class_name") or row.get("operator_name")
        return {**row, "operator": operator, "operator_module": class_ref.get("module_path")}

    @classmethod
    def list_from_api(cls, dag_id: str, rows: list[dict[str, Any]]) -> list[TaskRecord]:
        """The tasks of one DAG from its task listing, with upstream ids worked out from the downstream ones."""
        upstream: dict[str, list[str]] = {}
        for row in rows:
            for downstream in row.get("downstream_task_ids") or ():
                upstream.setdefault(downstream, []).append(row["task_id"])
        return [
            cls.from_api(
                {**row, "dag_id": dag_id, "upstream_task_ids": sorted(upstream.get(row["task_id"], ()))}
            )
            for row in rows
        ]


class DagRunRecord(_Record):
    """One DAG run. ``logical_date`` is None for Airflow 3 runs triggered without one."""

    dag_id: str
    run_id: str = _either("run_id", "dag_run_id")
    state: str | None = None
    run_type: str | None = None
    logical_date: datetime | None = _either("logical_date", "execution_date", default=None)
    run_after: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: dict[str, Any] | None = None

    def not_due_hint(self) -> str:
        """Why the run may not have started (its time is still ahead, and Airflow's scheduler waits), or ``""``."""
        dates = [date for date in (self.logical_date, self.run_after) if date is not None]
        when = max(dates, default=None)
        if when is None or when <= datetime.now(timezone.utc):
            return ""
        return (
            f"; it is not due until {when.isoformat()} (its logical date is in the future, and Airflow's"
            " scheduler starts no task of a run before then)"
        )


class TaskInstanceRecord(_Record):
    """One try of one task in one DAG run (``map_index`` is -1 for unmapped tasks)."""

    dag_id: str
    run_id: str = _either("run_id", "dag_run_id")
    task_id: str
    map_index: int = -1
    try_number: int = 0
    state: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    logical_date: datetime | None = _either("logical_date", "execution_date", default=None)
    operator: str | None = None
    rendered_fields: dict[str, Any] | None = None


class AirflowVersionInfo(_Record):
    """What ``/version`` says, plus the API dialect it implies."""

    version: str
    api_version: str  # "v1" or "v2"


class AirflowAssetRecord(_Record):
    """An Airflow 3 asset (an Airflow 2 dataset): its URI and which DAGs/tasks produce and consume it."""

    uri: str
    asset_id: int | None = _either("asset_id", "id", default=None)
    name: str | None = None  # Airflow 3 only (defaults to the URI there)
    group: str | None = None  # Airflow 3 only
    extra: dict[str, Any] | None = None
    # (dag_id, task_id) of the tasks that list it as an outlet.
    producing_tasks: tuple[tuple[str, str], ...] = ()
    # DAGs scheduled on it (Airflow 3 lists them as scheduled_dags, Airflow 2 as consuming_dags).
    consuming_dag_ids: tuple[str, ...] = _either(
        "consuming_dag_ids", "scheduled_dags", "consuming_dags", default=()
    )

    @classmethod
    def _api_values(cls, row: dict[str, Any]) -> dict[str, Any]:
        values = {**row, "extra": row.get("extra") or None}
        values["producing_tasks"] = sorted(
            (t["dag_id"], t["task_id"]) for t in row.get("producing_tasks") or ()
        )
        for name in ("scheduled_dags", "consuming_dags"):
            if name in row:
                values[name] = sorted(set(_names(row[name], "dag_id")))
        return values


class AssetEventRecord(_Record):
    """One asset (dataset) event: an update of an Airflow asset, by a task or through the REST API."""

    event_id: int = _either("event_id", "id")
    uri: str = _either("uri", "dataset_uri", default="")
    timestamp: datetime
    asset_id: int | None = _either("asset_id", "dataset_id", default=None)
    extra: dict[str, Any] | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None

    @classmethod
    def _api_values(cls, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "extra": row.get("extra") or None}
