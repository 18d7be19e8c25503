"""Cursor rules of one sensor tick (:func:`poll_airflow`), with an in-memory stand-in for Airflow's
batch endpoints so that late commits, poison records and budgets can be staged exactly.
The same rules run against a real Airflow in test_sensor.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from dagster import AssetKey, AssetMaterialization

from airlift_components.airflow_api import AirflowUnavailableError, DagRunRecord, TaskInstanceRecord
from airlift_components.core.cursor import SensorCursor
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.sensor import SensorSettings, poll_airflow

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
PLAN = AirflowSensorPlan(
    instance_name="inst",
    webserver_url="http://af",
    api_version="v2",
    dag_ids=frozenset({"d"}),
    task_keys={"d": {"t": [AssetKey("a")], "bad": [None]}},  # type: ignore[list-item]
)


class InMemoryAirflow:
    """Answers the two batch listings like Airflow 3: filtered by end date, ordered by it, paged."""

    api_version = "v2"

    def __init__(self, page_size: int = 2) -> None:
        self.tis: list[TaskInstanceRecord] = []
        self.runs: list[DagRunRecord] = []
        self.page_size = page_size
        self.request_count = 0
        self.down = False

    def _pages(self, rows: list, gte: datetime | None, lte: datetime | None) -> Iterator[list]:
        rows = sorted(
            (
                r
                for r in rows
                if r.end_date and (gte is None or r.end_date >= gte) and (lte is None or r.end_date <= lte)
            ),
            key=lambda r: r.end_date,
        )
        for start in range(0, max(len(rows), 1), self.page_size):
            if self.down:
                raise AirflowUnavailableError("connection refused", webserver_url="http://af")
            self.request_count += 1
            yield rows[start : start + self.page_size]

    def iter_task_instance_pages(self, *, end_date_gte=None, end_date_lte=None, **_: object):
        return self._pages(self.tis, end_date_gte, end_date_lte)

    def iter_dag_run_pages(self, *, end_date_gte=None, end_date_lte=None, **_: object):
        return self._pages(self.runs, end_date_gte, end_date_lte)

    def list_task_instances(self, **_: object) -> list[TaskInstanceRecord]:
        self.request_count += 1
        return list(self.tis)

    def add(self, run_id: str, task_id: str, end: datetime) -> None:
        self.tis.append(
            TaskInstanceRecord(
                dag_id="d",
                run_id=run_id,
                task_id=task_id,
                state="success",
                try_number=1,
                start_date=end,
                end_date=end,
            )
        )

    def finish_run(self, run_id: str, end: datetime, state: str = "success") -> None:
        self.runs.append(DagRunRecord(dag_id="d", run_id=run_id, state=state, start_date=T0, end_date=end))


def materialized(result) -> list[tuple[str, str]]:
    return [
        (e.asset_key.to_user_string(), e.metadata["airflow/run_id"].value)
        for e in result.events
        if isinstance(e, AssetMaterialization)
    ]


def test_late_committed_task_instance_is_emitted_once_and_repeats_are_skipped() -> None:
    airflow = InMemoryAirflow()
    airflow.add("r1", "t", T0)
    first = poll_airflow(airflow, PLAN, None, now=T0 + timedelta(seconds=10))  # type: ignore[arg-type]
    assert materialized(first) == [("a", "r1")]
    # r2 ended before the first tick's upper bound but was committed after it ran.
    airflow.add("r2", "t", T0 + timedelta(seconds=5))
    airflow.finish_run("r1", T0 + timedelta(seconds=11))
    second = poll_airflow(airflow, PLAN, first.cursor, now=T0 + timedelta(seconds=20))  # type: ignore[arg-type]
    assert materialized(second) == [("a", "r2"), ("inst/dag/d", "r1")]
    third = poll_airflow(airflow, PLAN, second.cursor, now=T0 + timedelta(seconds=30))  # type: ignore[arg-type]
    assert materialized(third) == []


def test_one_bad_record_is_logged_and_skipped_without_blocking_later_ones() -> None:
    airflow = InMemoryAirflow()
    airflow.add("r1", "bad", T0)
    airflow.add("r1", "t", T0 + timedelta(seconds=1))
    logs: list[str] = []
    result = poll_airflow(airflow, PLAN, None, now=T0 + timedelta(seconds=10), log=logs.append)  # type: ignore[arg-type]
    assert materialized(result) == [("a", "r1")]
    assert any("Skipped ti|d|r1|bad" in line for line in logs)
    again = poll_airflow(airflow, PLAN, result.cursor, now=T0 + timedelta(seconds=20))  # type: ignore[arg-type]
    assert materialized(again) == []  # not retried forever, not re-emitted


def test_budget_stops_a_tick_and_the_next_tick_resumes_without_loss_or_duplicates() -> None:
    airflow = InMemoryAirflow(page_size=2)
    for i in range(7):
        airflow.add(f"r{i}", "t", T0 + timedelta(seconds=i))
    settings = SensorSettings(max_task_instances_per_tick=2)
    cursor, seen, ticks = None, [], 0
    while True:
        ticks += 1
        result = poll_airflow(airflow, PLAN, cursor, now=T0 + timedelta(minutes=1), settings=settings)  # type: ignore[arg-type]
        seen += materialized(result)
        cursor = result.cursor
        if result.complete:
            break
    assert ticks >= 4
    assert sorted(seen) == sorted(("a", f"r{i}") for i in range(7))


def test_airflow_down_raises_and_leaves_the_cursor_alone() -> None:
    airflow = InMemoryAirflow()
    airflow.add("r1", "t", T0)
    cursor = SensorCursor.initial(T0 - timedelta(minutes=1), timedelta(0))
    before = cursor.serialize()
    airflow.down = True
    with pytest.raises(AirflowUnavailableError):
        poll_airflow(airflow, PLAN, cursor, now=T0 + timedelta(seconds=10))  # type: ignore[arg-type]
    assert cursor.serialize() == before
    airflow.down = False
    result = poll_airflow(airflow, PLAN, cursor, now=T0 + timedelta(seconds=10))  # type: ignore[arg-type]
    assert materialized(result) == [("a", "r1")]


def test_cursor_round_trips_and_unreadable_cursor_is_none() -> None:
    cursor = SensorCursor.initial(T0, timedelta(days=1))
    assert SensorCursor.parse(cursor.serialize()) == cursor
    assert SensorCursor.parse("1700000000.0") is None  # e.g. a cursor of another sensor version
    assert SensorCursor.parse(None) is None
