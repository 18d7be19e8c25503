"""What a sensor tick costs on an instance mixing task-mapped and peered-only DAGs, on Airflow 3 and 2.

An idle tick reads one page of the runs Airflow changed; task instances are read only while a mapped DAG
has a run running or newly finished. These tests count the requests of real ticks against a real Airflow.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import AssetSpec, DagsterInstance, Definitions

from airlift_components.core import (
    SensorCursor,
    SensorSettings,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import LocalAirflow
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

NAME = "idle_test"
# Mapped: core_not_proxied or core_quick_then_slow; peered only: core_mapped. Other tests' runs of other
# DAGs on the shared Airflow may show up in the changed runs, but never make a tick read task instances.
PEERED_ONLY = "core_mapped"


def _mixed_defs(airflow: LocalAirflow, mapped_dag: str, task_id: str, asset: str):
    """Definitions peering one task-mapped DAG and one peered-only DAG, with the instance counting requests."""
    instance = instance_for(airflow, NAME)
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance,
        defs=Definitions(assets=assets_with_task_mappings(mapped_dag, {task_id: [AssetSpec(asset)]})),
        sensor_settings=SensorSettings(overlap=timedelta(seconds=30)),
        dag_selector_fn=lambda dag: dag.dag_id in {mapped_dag, PEERED_ONLY},
    )
    return instance, defs


def test_idle_tick_on_a_mixed_instance_costs_one_request(any_airflow: LocalAirflow) -> None:
    instance, defs = _mixed_defs(any_airflow, "core_not_proxied", "work", "idle_out")
    start = SensorCursor.initial(utcnow() - timedelta(seconds=1), timedelta(0)).serialize()
    run = run_and_wait(make_client(any_airflow), "core_not_proxied")
    with DagsterInstance.ephemeral() as dagster_instance:
        busy = tick(defs, dagster_instance, start, NAME)
        assert keys_of(events_for_run(busy, run.run_id)) == ["idle_out", f"{NAME}/dag/core_not_proxied"]
        assert SensorCursor.parse(busy.cursor).open_runs == {}
        # The finished run is still inside the re-read window: handled, so it does not make the tick busy.
        sent = instance.client.request_count  # read-only: count from here
        idle = tick(defs, dagster_instance, busy.cursor, NAME)
        assert idle.asset_events == [] and instance.client.request_count - sent == 1
        sent = instance.client.request_count  # read-only: count from here
        again = tick(defs, dagster_instance, idle.cursor, NAME)
        assert again.asset_events == [] and instance.client.request_count - sent == 1


def test_task_mapped_asset_still_materializes_during_the_run(any_airflow: LocalAirflow) -> None:
    instance, defs = _mixed_defs(any_airflow, "core_quick_then_slow", "quick", "quick_idle_out")
    client = make_client(any_airflow)
    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    with gated_run(client, "core_quick_then_slow") as (run, release):
        wait_for_task_state(client, run.dag_id, run.run_id, "quick", "success")
        with DagsterInstance.ephemeral() as dagster_instance:
            sent = instance.client.request_count  # read-only: count from here
            early = tick(defs, dagster_instance, cursor, NAME)
            assert keys_of(events_for_run(early, run.run_id)) == ["quick_idle_out"]
            # The changed runs and the running mapped DAG's task instances; its run end comes from the first.
            assert instance.client.request_count - sent == 2
            assert client.get_dag_run(run.dag_id, run.run_id).state == "running"
            release()
            assert client.wait_for_dag_run(run.dag_id, run.run_id, timeout=240).state == "success"
            late = tick(defs, dagster_instance, early.cursor, NAME)
            assert keys_of(events_for_run(late, run.run_id)) == [f"{NAME}/dag/core_quick_then_slow"]
            assert SensorCursor.parse(late.cursor).open_runs == {}
            sent = instance.client.request_count  # read-only: count from here
            idle = tick(defs, dagster_instance, late.cursor, NAME)
            assert idle.asset_events == [] and instance.client.request_count - sent == 1
