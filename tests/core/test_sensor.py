"""The sensor against a real Airflow 3 and a real (ephemeral) Dagster instance."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)

from airlift_components.airflow_api import AirflowClient
from airlift_components.conventions import PROXY_MARKER_FIELD, PROXY_MARKER_TASK
from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    SensorCursor,
    SensorSettings,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    build_defs_from_snapshot,
    fetch_snapshot,
)
from airlift_components.core.naming import sensor_name
from airlift_components.testing.local_airflow import LocalAirflow, free_port
from tests.conftest import make_client
from tests.core.helpers import (
    events_for_run,
    gated_run,
    instance_for,
    keys_of,
    run_and_wait,
    tick,
    utcnow,
    wait_for_task_state,
)

NAME = "sensor_test"


def fresh_cursor() -> str:
    """A cursor that starts now, so a test is not flooded by earlier tests' runs (the overlap still is)."""
    return SensorCursor.initial(utcnow(), timedelta(0)).serialize()


def peer(airflow: LocalAirflow, *assets: object, settings: SensorSettings | None = None) -> Definitions:
    return build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow, NAME),
        defs=Definitions(assets=list(assets)),
        sensor_settings=settings,
    )


def test_task_asset_materializes_when_its_task_succeeds_before_the_run_ends(airflow3: LocalAirflow) -> None:
    defs = peer(
        airflow3, *assets_with_task_mappings("core_quick_then_slow", {"quick": [AssetSpec("quick_out")]})
    )
    client = make_client(airflow3)
    cursor = fresh_cursor()
    # "slow" blocks until released: the run is surely still running when the first tick reads it.
    with gated_run(client, "core_quick_then_slow") as (run, release):
        wait_for_task_state(client, run.dag_id, run.run_id, "quick", "success")
        with DagsterInstance.ephemeral() as instance:
            early = tick(defs, instance, cursor, NAME)
            assert keys_of(events_for_run(early, run.run_id)) == ["quick_out"]
            assert client.get_dag_run(run.dag_id, run.run_id).state == "running"
            release()
            assert client.wait_for_dag_run(run.dag_id, run.run_id, timeout=240).state == "success"
            late = tick(defs, instance, early.cursor, NAME)
            assert keys_of(events_for_run(late, run.run_id)) == ["sensor_test/dag/core_quick_then_slow"]


def test_failed_run_materializes_succeeded_tasks_and_shows_the_failure(airflow3: LocalAirflow) -> None:
    defs = peer(
        airflow3,
        *assets_with_task_mappings(
            "always_fails", {"ok": [AssetSpec("ok_out")], "boom": [AssetSpec("boom_out")]}
        ),
    )
    cursor = fresh_cursor()
    run = run_and_wait(make_client(airflow3), "always_fails")
    assert run.state == "failed"
    with DagsterInstance.ephemeral() as instance:
        events = events_for_run(tick(defs, instance, cursor, NAME), run.run_id)
        assert keys_of(events, AssetMaterialization) == ["ok_out"]
        assert keys_of(events, AssetObservation) == ["boom_out", "sensor_test/dag/always_fails"]
        failure = [e for e in events if isinstance(e, AssetObservation)][-1]
        assert failure.metadata["airflow/state"].value == "failed"
        assert failure.metadata["airflow/url"].value.startswith(f"{airflow3.url}/dags/always_fails/runs/")
        assert (
            instance.get_latest_materialization_event(AssetKey(["sensor_test", "dag", "always_fails"]))
            is None
        )


def test_runs_finishing_out_of_order_are_each_emitted_once(airflow3: LocalAirflow) -> None:
    defs = peer(
        airflow3,
        *assets_with_task_mappings("core_slow", {"sleep": [AssetSpec("slow_out")]}),
        *assets_with_task_mappings("core_fast", {"quick": [AssetSpec("fast_out")]}),
    )
    client = make_client(airflow3)
    cursor = fresh_cursor()
    # core_slow starts first and finishes last: its task blocks until released after the first tick.
    with gated_run(client, "core_slow") as (slow, release), DagsterInstance.ephemeral() as instance:
        wait_for_task_state(client, "core_slow", slow.run_id, "sleep", "running")
        fast = run_and_wait(client, "core_fast")
        ticks = [tick(defs, instance, cursor, NAME)]
        assert client.get_dag_run("core_slow", slow.run_id).state != "success"
        release()
        assert client.wait_for_dag_run("core_slow", slow.run_id, timeout=240).state == "success"
        ticks.append(tick(defs, instance, ticks[-1].cursor, NAME))
        ticks.append(tick(defs, instance, ticks[-1].cursor, NAME))
        assert keys_of(events_for_run(ticks, fast.run_id)) == ["fast_out", "sensor_test/dag/core_fast"]
        assert keys_of(events_for_run(ticks, slow.run_id)) == ["slow_out", "sensor_test/dag/core_slow"]
        assert keys_of(events_for_run(ticks[0], fast.run_id)) == ["fast_out", "sensor_test/dag/core_fast"]


def test_restart_from_the_stored_cursor_loses_and_repeats_nothing(airflow3: LocalAirflow) -> None:
    mapped = assets_with_task_mappings("simple_chain", {"third": [AssetSpec("chain_out")]})
    client = make_client(airflow3)
    cursor = fresh_cursor()
    first = run_and_wait(client, "simple_chain")
    with DagsterInstance.ephemeral() as instance:
        before = tick(peer(airflow3, *mapped), instance, cursor, NAME)
        stored = before.cursor  # what Dagster keeps across a daemon restart
        second = run_and_wait(client, "simple_chain")
        # A new process: new definitions, new client, only the stored cursor survives.
        after = tick(peer(airflow3, *mapped), instance, stored, NAME)
        assert keys_of(events_for_run(before, first.run_id)) == ["chain_out", "sensor_test/dag/simple_chain"]
        assert events_for_run(after, first.run_id) == []
        assert keys_of(events_for_run(after, second.run_id)) == ["chain_out", "sensor_test/dag/simple_chain"]


def test_a_tick_replayed_after_the_daemon_died_mid_storing_stores_no_event_twice(
    airflow3: LocalAirflow,
) -> None:
    defs = peer(airflow3, *assets_with_task_mappings("simple_chain", {"third": [AssetSpec("chain_out")]}))
    sensor = defs.resolve_sensor_def(sensor_name(NAME))
    client = make_client(airflow3)
    cursor = fresh_cursor()
    first = run_and_wait(client, "simple_chain")
    with DagsterInstance.ephemeral() as instance:
        crashed = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        )
        emitted = events_for_run(crashed, first.run_id)
        assert keys_of(emitted) == ["chain_out", "sensor_test/dag/simple_chain"]
        # The daemon stored the first event, then died before saving the tick's cursor.
        instance.report_runless_asset_event(emitted[0])
        replayed = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        )
        assert keys_of(events_for_run(replayed, first.run_id)) == ["sensor_test/dag/simple_chain"]
        for event in replayed.asset_events:
            instance.report_runless_asset_event(event)
        # The replayed tick's cursor is saved; the next run is reported in full (no fence applies).
        second = run_and_wait(client, "simple_chain")
        after = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=replayed.cursor, definitions=defs)
        )
        assert events_for_run(after, first.run_id) == []
        assert keys_of(events_for_run(after, second.run_id)) == ["chain_out", "sensor_test/dag/simple_chain"]


def test_same_run_id_in_two_dags_proxied_task_is_not_materialized_twice(airflow3: LocalAirflow) -> None:
    defs = peer(
        airflow3,
        *assets_with_task_mappings("core_proxied", {"work": [AssetSpec("proxied_out")]}),
        *assets_with_task_mappings("core_not_proxied", {"work": [AssetSpec("not_proxied_out")]}),
    )
    client = make_client(airflow3)
    cursor = fresh_cursor()
    run_id = f"shared_{uuid.uuid4().hex[:8]}"
    # core_proxied.work is the real task proxy operator (tests/dags/core_dags.py); its Dagster is not
    # there, so the try fails in Airflow, with the proxy marker in its rendered fields.
    assert run_and_wait(client, "core_proxied", run_id=run_id).state == "failed"
    run_and_wait(client, "core_not_proxied", run_id=run_id)
    (work,) = client.list_task_instances(dag_ids=["core_proxied"], run_ids=[run_id])
    assert work.operator == "ProxyToUnreachableDagster" and work.state == "failed"
    assert work.rendered_fields and work.rendered_fields[PROXY_MARKER_FIELD] == PROXY_MARKER_TASK
    with DagsterInstance.ephemeral() as instance:
        data = tick(defs, instance, cursor, NAME)
        # Nothing for the proxied task's asset (no materialization, no failure observation either):
        # only the DAG asset's observation of the failed run.
        proxied = events_for_run(data, run_id, "core_proxied")
        assert keys_of(proxied) == []
        assert keys_of(proxied, AssetObservation) == ["sensor_test/dag/core_proxied"]
        assert keys_of(events_for_run(data, run_id, "core_not_proxied")) == [
            "not_proxied_out",
            "sensor_test/dag/core_not_proxied",
        ]


def test_mapped_task_rolls_up_into_one_materialization(airflow3: LocalAirflow) -> None:
    defs = peer(airflow3, *assets_with_task_mappings("core_mapped", {"per_item": [AssetSpec("items")]}))
    cursor = fresh_cursor()
    run = run_and_wait(make_client(airflow3), "core_mapped")
    with DagsterInstance.ephemeral() as instance:
        ticks = [tick(defs, instance, cursor, NAME)]
        ticks.append(tick(defs, instance, ticks[-1].cursor, NAME))
        events = events_for_run(ticks, run.run_id)
        assert keys_of(events) == ["items", "sensor_test/dag/core_mapped"]
        assert events[0].metadata["airflow/map_indexes"].value == 3


def test_airflow_unreachable_fails_the_tick_and_the_cursor_does_not_move(airflow3: LocalAirflow) -> None:
    snapshot = fetch_snapshot(instance_for(airflow3, NAME))
    dead = AirflowInstance(
        auth_backend=BasicAuthBackend(f"http://127.0.0.1:{free_port()}", "admin", "admin"),
        name=NAME,
        max_retries=0,
        timeout=2,
        api_version="v2",
    )
    cursor = fresh_cursor()
    run = run_and_wait(make_client(airflow3), "simple_chain")
    with DagsterInstance.ephemeral() as instance:
        with pytest.raises(Exception, match="cursor did not move"):
            tick(build_defs_from_snapshot(snapshot, airflow_instance=dead), instance, cursor, NAME)
        # Airflow is back: the same (unmoved) cursor still delivers the run.
        data = tick(
            build_defs_from_snapshot(snapshot, airflow_instance=instance_for(airflow3, NAME)),
            instance,
            cursor,
            NAME,
        )
        assert keys_of(events_for_run(data, run.run_id)) == ["sensor_test/dag/simple_chain"]


def _trigger_all(client: AirflowClient, dag_ids: list[str]) -> dict[str, str]:
    return {dag_id: client.trigger_dag_run(dag_id).run_id for dag_id in dag_ids}


def _wait_all(client: AirflowClient, runs: dict[str, str], since, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = {
            (r.dag_id, r.run_id)
            for r in client.list_dag_runs(
                dag_ids=list(runs), states=["success", "failed"], end_date_gte=since
            )
        }
        if all((dag_id, run_id) in done for dag_id, run_id in runs.items()):
            return
        assert time.monotonic() < deadline, f"{len(runs) - len(done)} runs still not finished"
        time.sleep(2)


def test_200_dags_over_bounded_ticks_without_loss_or_duplicates(airflow3: LocalAirflow) -> None:
    # Half the DAGs are mapped (their task instances are listed), half only peered (their runs are):
    # both listings stop at the budget and resume, each at its own pace.
    dag_ids = [f"generated_{i:03d}" for i in range(200)]
    mapped_ids = dag_ids[::2]
    mapped = [
        asset
        for dag_id in mapped_ids
        for asset in assets_with_task_mappings(dag_id, {"end": [AssetSpec(f"{dag_id}_out")]})
    ]
    defs = peer(airflow3, *mapped, settings=SensorSettings(max_task_instances_per_tick=60))
    client = make_client(airflow3)
    since = utcnow()
    cursor = fresh_cursor()
    runs = _trigger_all(client, dag_ids)
    _wait_all(client, runs, since - timedelta(seconds=5))
    with DagsterInstance.ephemeral() as instance:
        ticks = []
        for _ in range(20):
            ticks.append(tick(defs, instance, cursor, NAME, run_checks=False))
            cursor = ticks[-1].cursor
            if SensorCursor.parse(cursor).scan_upper is None and len(ticks) > 1:
                break
        else:
            raise AssertionError("the sensor did not catch up within 20 ticks")
        assert len(ticks) >= 3  # 200 task instances of mapped DAGs at a budget of 60 rows per tick
        for dag_id, run_id in runs.items():
            expected = [f"{dag_id}_out"] if dag_id in mapped_ids else []
            assert keys_of(events_for_run(ticks, run_id, dag_id)) == [*expected, f"sensor_test/dag/{dag_id}"]


def test_peered_only_dags_cost_no_task_instance_listing(airflow3: LocalAirflow) -> None:
    instance = instance_for(airflow3, NAME)
    defs = build_defs_from_airflow_instance(  # no mappings at all
        airflow_instance=instance, sensor_settings=SensorSettings(overlap=timedelta(seconds=1))
    )
    cursor = fresh_cursor()
    ok = run_and_wait(make_client(airflow3), "simple_chain")
    failed = run_and_wait(make_client(airflow3), "always_fails")
    with DagsterInstance.ephemeral() as dagster_instance:
        sent = instance.client.request_count  # read-only: count from here
        data = tick(defs, dagster_instance, cursor, NAME)
        assert instance.client.request_count - sent == 1  # one page of finished runs; no task instances
        assert keys_of(events_for_run(data, ok.run_id), AssetMaterialization) == [
            "sensor_test/dag/simple_chain"
        ]
        assert keys_of(events_for_run(data, failed.run_id, "always_fails"), AssetObservation) == [
            "sensor_test/dag/always_fails"
        ]
        again = tick(defs, dagster_instance, data.cursor, NAME)
        assert events_for_run(again, ok.run_id) == [] and events_for_run(again, failed.run_id) == []
