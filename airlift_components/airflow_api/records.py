"""Typed records for what the Airflow REST API returns, the same for Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

The client turns each dialect's JSON into these frozen models, so nothing above the client knows which
Airflow version answered. They are pydantic models so that snapshots serialize to JSON and back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DagRecord(_Record):
    """One DAG as Airflow lists it."""

    dag_id: str
    is_paused: bool = False
    is_active: bool = True
    schedule: str | None = None
    schedule_description: str | None = None
    tags: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    fileloc: str | None = None
    description: str | None = None
    file_token: str | None = None


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


class DagRunRecord(_Record):
    """One DAG run. ``logical_date`` is None for Airflow 3 runs triggered without one."""

    dag_id: str
    run_id: str
    state: str | None = None
    run_type: str | None = None
    logical_date: datetime | None = None
    run_after: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    conf: dict[str, Any] | None = None


class TaskInstanceRecord(_Record):
    """One try of one task in one DAG run (``map_index`` is -1 for unmapped tasks)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 0
    state: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    logical_date: datetime | None = None
    operator: str | None = None
    rendered_fields: dict[str, Any] | None = None


class AirflowVersionInfo(_Record):
    """What ``/version`` says, plus the API dialect it implies."""

    version: str
    api_version: str  # "v1" or "v2"


class AirflowAssetRecord(_Record):
    """An Airflow 3 asset (an Airflow 2 dataset): its URI and which DAGs/tasks produce and consume it."""

    uri: str
    asset_id: int | None = None
    name: str | None = None  # Airflow 3 only (defaults to the URI there)
    group: str | None = None  # Airflow 3 only
    extra: dict[str, Any] | None = None
    # (dag_id, task_id) of the tasks that list it as an outlet.
    producing_tasks: tuple[tuple[str, str], ...] = ()
    # DAGs scheduled on it.
    consuming_dag_ids: tuple[str, ...] = ()


class AssetEventRecord(_Record):
    """One asset (dataset) event: an update of an Airflow asset, by a task or through the REST API."""

    event_id: int
    uri: str
    timestamp: datetime
    asset_id: int | None = None
    extra: dict[str, Any] | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None
