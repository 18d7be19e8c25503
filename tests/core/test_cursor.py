"""Cursor rules of one sensor tick (:func:`poll_airflow`) against the real Airflow 3.

Late commits and bad records are staged on real answers: a small proxy in front of the real Airflow
holds back or alters rows of the task-instance listing in flight (tests/core/rewriting_proxy.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from dagster import AssetKey, AssetSpec, DagsterInstance, Definitions

from airlift_components.airflow_api import AirflowClient, AirflowUnavailableError, BasicAuthBackend
from airlift_components.conventions import EVENT_ID_METADATA_KEY
from airlift_components.core import assets_with_task_mappings, build_defs_from_airflow_instance
from airlift_components.core.cursor import SensorCursor
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.sensor import PollResult, SensorSettings, poll_airflow
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import instance_for, tick, utcnow
from tests.core.rewriting_proxy import RewritingProxy

NAME = "cursor_test"
DAG_ID = "simple_chain"
MAPPED_TASK = "third"
TI_LIST = "/taskInstances/list"
# Wide enough that no row of this module's runs leaves the re-read window on a loaded machine.
SETTINGS = SensorSettings(overlap=timedelta(minutes=10))


@dataclass(frozen=True)
class Runs:
    """Finished runs of ``simple_chain`` and a cursor from before they were triggered."""

    run_ids: tuple[str, ...]
    cursor: SensorCursor
    since: datetime


@pytest.fixture(scope="module")
def runs(airflow3: LocalAirflow) -> Runs:
    client = make_client(airflow3)
    since = utcnow()
    run_ids = [client.trigger_dag_run(DAG_ID).run_id for _ in range(3)]
    for run_id in run_ids:
        assert client.wait_for_dag_run(DAG_ID, run_id, timeout=300, poll_interval=0.5).state == "success"
    return Runs(tuple(run_ids), SensorCursor.initial(since, timedelta(0)), since)


@pytest.fixture
def proxy(airflow3: LocalAirflow) -> Iterator[RewritingProxy]:
    with RewritingProxy(airflow3.url) as running:
        yield running


def plan_for(url: str) -> AirflowSensorPlan:
    return AirflowSensorPlan(
        instance_name=NAME,
        webserver_url=url,
        api_version="v2",
        dag_ids=frozenset({DAG_ID}),
        task_keys={DAG_ID: {MAPPED_TASK: [AssetKey("chain_out")]}},
    )


def client_through(proxy: RewritingProxy, **options: object) -> AirflowClient:
    return AirflowClient(BasicAuthBackend(proxy.url, ADMIN_USERNAME, ADMIN_PASSWORD), **options)  # type: ignore[arg-type]


DAG_ASSET = f"{NAME}/dag/{DAG_ID}"
BOTH = ["chain_out", DAG_ASSET]


def keys_for(result: PollResult | Iterable[PollResult], run_id: str) -> list[str]:
    results = [result] if isinstance(result, PollResult) else list(result)
    return [
        event.asset_key.to_user_string()
        for one in results
        for event in one.events
        if event.metadata["airflow/run_id"].value == run_id
    ]


def event_ids(results: Iterable[PollResult]) -> list[str]:
    return [event.metadata[EVENT_ID_METADATA_KEY].value for one in results for event in one.events]


def _rows_of_run_removed(run_id: str):
    def change(body: dict) -> dict:
        kept = [row for row in body["task_instances"] if row["dag_run_id"] != run_id]
        removed = len(body["task_instances"]) - len(kept)
        return {**body, "task_instances": kept, "total_entries": body["total_entries"] - removed}

    return change


def _start_date_without_offset(run_id: str, task_id: str):
    # A valid ISO timestamp without its UTC offset: it parses, but Dagster refuses it as event metadata.
    def change(body: dict) -> dict:
        for row in body["task_instances"]:
            if row["dag_run_id"] == run_id and row["task_id"] == task_id:
                row["start_date"] = datetime.fromisoformat(row["start_date"]).replace(tzinfo=None).isoformat()
        return body

    return change


def test_late_committed_task_instance_is_emitted_once_and_repeats_are_skipped(
    airflow3: LocalAirflow, runs: Runs, proxy: RewritingProxy
) -> None:
    early, late, _ = runs.run_ids
    client, plan = client_through(proxy), plan_for(proxy.url)
    # The first tick does not see `late`'s task instances yet (as if Airflow committed them after it).
    proxy.rewrite(TI_LIST, _rows_of_run_removed(late))
    first = poll_airflow(client, plan, runs.cursor, settings=SETTINGS)
    proxy.stop_rewriting()
    assert proxy.rewritten >= 1
    assert keys_for(first, early) == BOTH and keys_for(first, late) == []
    assert first.cursor is not None
    late_end = max(
        ti.end_date
        for ti in make_client(airflow3).list_task_instances(dag_ids=[DAG_ID], run_ids=[late])
        if ti.end_date
    )
    assert late_end < first.cursor.watermark  # it ended inside the window the first tick already passed
    second = poll_airflow(client, plan, first.cursor, settings=SETTINGS)
    assert keys_for(second, late) == BOTH and keys_for(second, early) == []
    third = poll_airflow(client, plan, second.cursor, settings=SETTINGS)
    assert keys_for(third, early) == [] and keys_for(third, late) == []
    ids = event_ids([first, second, third])
    assert len(ids) == len(set(ids))


def test_one_bad_record_is_logged_and_skipped_without_blocking_later_ones(
    runs: Runs, proxy: RewritingProxy
) -> None:
    bad, good, other = runs.run_ids
    client, plan = client_through(proxy), plan_for(proxy.url)
    proxy.rewrite(TI_LIST, _start_date_without_offset(bad, MAPPED_TASK))
    logs: list[str] = []
    result = poll_airflow(client, plan, runs.cursor, settings=SETTINGS, log=logs.append)
    assert proxy.rewritten >= 1
    # The bad row yields no event; its run's own row and every other run are unaffected.
    assert keys_for(result, bad) == [DAG_ASSET]
    assert keys_for(result, good) == BOTH and keys_for(result, other) == BOTH
    assert any(line.startswith(f"Skipped ti|{DAG_ID}|{bad}|{MAPPED_TASK}|-1|") for line in logs), logs
    # Still bad in the next tick: not retried forever, not re-emitted, nothing else repeated.
    again = poll_airflow(client, plan, result.cursor, settings=SETTINGS)
    assert [keys_for(again, run_id) for run_id in runs.run_ids] == [[], [], []]


def test_budget_stops_a_tick_and_the_next_tick_resumes_without_loss_or_duplicates(
    runs: Runs, proxy: RewritingProxy
) -> None:
    # 3 runs x 3 task instances, two rows per page and per tick.
    client, plan = client_through(proxy, page_size=2), plan_for(proxy.url)
    settings = SensorSettings(overlap=SETTINGS.overlap, max_task_instances_per_tick=2)
    cursor, results = runs.cursor, []
    for _ in range(30):
        results.append(poll_airflow(client, plan, cursor, settings=settings))
        cursor = results[-1].cursor
        if results[-1].complete:
            break
    assert results[-1].complete
    assert len(results) >= 4
    assert [keys_for(results, run_id) for run_id in runs.run_ids] == [BOTH, BOTH, BOTH]
    ids = event_ids(results)
    assert len(ids) == len(set(ids))


def test_airflow_down_raises_and_leaves_the_cursor_alone(runs: Runs, proxy: RewritingProxy) -> None:
    client = client_through(proxy, max_retries=0, timeout=2)
    plan = plan_for(proxy.url)
    assert client.api_version == "v2"  # detected while Airflow answers
    before = runs.cursor.serialize()
    proxy.go_down()
    with pytest.raises(AirflowUnavailableError):
        poll_airflow(client, plan, runs.cursor, settings=SETTINGS)
    assert runs.cursor.serialize() == before
    proxy.come_back()
    result = poll_airflow(client, plan, runs.cursor, settings=SETTINGS)
    assert [keys_for(result, run_id) for run_id in runs.run_ids] == [BOTH, BOTH, BOTH]


def test_tick_with_an_unreadable_stored_cursor_starts_from_the_lookback_with_a_warning(
    airflow3: LocalAirflow, runs: Runs, capfd: pytest.CaptureFixture[str]
) -> None:
    overlap = timedelta(seconds=1)
    started = utcnow()
    lookback = started - runs.since + timedelta(minutes=2)  # building the defs and the tick take time
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow3, NAME),
        defs=Definitions(assets=assets_with_task_mappings(DAG_ID, {MAPPED_TASK: [AssetSpec("chain_out")]})),
        sensor_settings=SensorSettings(lookback=lookback, overlap=overlap),
        dag_selector_fn=lambda dag: dag.dag_id == DAG_ID,
    )
    unreadable = "1700000000.0"  # e.g. the cursor of another sensor version
    assert SensorCursor.parse(unreadable) is None
    with DagsterInstance.ephemeral() as instance:
        data = tick(defs, instance, unreadable, NAME)
    # The sensor context's log writes to the process's stderr.
    assert "WARNING - The stored cursor is unreadable" in capfd.readouterr().err
    # Every run inside the look-back is emitted, and nothing that ended before it.
    for run_id in runs.run_ids:
        events = [e for e in data.asset_events if e.metadata["airflow/run_id"].value == run_id]
        assert [event.asset_key.to_user_string() for event in events] == BOTH
    earliest = (started - lookback - overlap).timestamp()
    assert all(event.metadata["airflow/end_date"].value >= earliest for event in data.asset_events)
    assert SensorCursor.parse(data.cursor) is not None


def test_cursor_round_trips_and_unreadable_cursor_is_none() -> None:
    cursor = SensorCursor.initial(utcnow(), timedelta(days=1))
    assert SensorCursor.parse(cursor.serialize()) == cursor
    assert SensorCursor.parse("1700000000.0") is None  # e.g. a cursor of another sensor version
    assert SensorCursor.parse(None) is None
