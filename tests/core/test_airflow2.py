"""The sensor against Airflow 2.11 (``/api/v1``); the snapshot tests run on both versions via ``any_airflow``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import AssetObservation, AssetSpec, DagsterInstance, Definitions

from airlift_components.core import SensorCursor, assets_with_task_mappings, build_defs_from_airflow_instance
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import events_for_run, instance_for, keys_of, run_and_wait, tick, utcnow


@pytest.mark.airflow2
def test_airflow2_run_materializes_task_and_dag_assets(airflow2: LocalAirflow) -> None:
    mapped = assets_with_task_mappings(
        "simple_chain", {"first": [AssetSpec("v1_first")], "third": [AssetSpec("v1_out")]}
    )
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow2, "af2"), defs=Definitions(assets=mapped)
    )
    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    client = make_client(airflow2)
    ok = run_and_wait(client, "simple_chain")
    failed = run_and_wait(client, "always_fails")
    with DagsterInstance.ephemeral() as instance:
        first = tick(defs, instance, cursor, "af2")
        events = events_for_run(first, ok.run_id, "simple_chain")
        assert keys_of(events) == ["v1_first", "v1_out", "af2/dag/simple_chain"]
        assert (
            events[-1]
            .metadata["airflow/url"]
            .value.startswith(f"{airflow2.url}/dags/simple_chain/grid?dag_run_id=")
        )
        assert events[0].metadata["airflow/logical_date"].value == ok.logical_date.timestamp()
        failed_events = events_for_run(first, failed.run_id, "always_fails")
        assert keys_of(failed_events) == []  # no materialization of a failed run: an observation only
        assert keys_of(failed_events, AssetObservation) == ["af2/dag/always_fails"]
        assert failed_events[0].metadata["airflow/state"].value == "failed"
        idle_client = instance_for(airflow2, "af2")
        idle = build_defs_from_airflow_instance(airflow_instance=idle_client, defs=Definitions(assets=mapped))
        sent = idle_client.client.request_count  # read-only: count from here
        second = tick(idle, instance, first.cursor, "af2")
        assert events_for_run(second, ok.run_id) == []
        # One page of the runs Airflow changed: the finished run is handled, no task instances are read.
        assert idle_client.client.request_count - sent == 1
