"""The seed tutorial's peer and observe stages, run against a real Airflow 3 and a real Dagster instance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from dagster import AssetCheckKey, AssetKey, AssetMaterialization, DagsterInstance

from airlift_components.conventions import DAG_ID_METADATA_KEY
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import (
    dag_key,
    events_for_run,
    keys_of,
    load_seed_stage,
    run_and_wait,
    tick_until_caught_up,
)

DAG_ID = "rebuild_customers_list"
DBT_KEYS = ["stg_customers", "customers"]


def run_url(airflow: LocalAirflow, run_id: str) -> str:
    return f"{airflow.url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"


def test_peer_stage_materializes_the_dag_asset_after_a_real_run(airflow3: LocalAirflow) -> None:
    defs = load_seed_stage("peer", airflow3).defs
    dag_asset = defs.resolve_assets_def(dag_key(DAG_ID))
    # The peered DAG's asset: named after the DAG, recorded by the sensor, never executed by Dagster.
    assert dag_asset.specs_by_key[dag_key(DAG_ID)].metadata[DAG_ID_METADATA_KEY] == DAG_ID
    assert not dag_asset.is_executable
    run = run_and_wait(make_client(airflow3), DAG_ID)
    assert run.state == "success"

    with DagsterInstance.ephemeral() as instance:
        data = tick_until_caught_up(defs, instance, None)
        events = events_for_run(data, run.run_id, DAG_ID)
        assert keys_of(events) == ["airflow_instance_one/dag/rebuild_customers_list"]
        meta = events[0].metadata
        assert meta["airflow/dag_id"].value == DAG_ID
        assert (
            run.logical_date is None and meta["airflow/logical_date"].value == "none"
        )  # manual Airflow 3 run
        assert meta["airflow/try_number"].value == 1
        assert meta["airflow/start_date"].value <= meta["airflow/end_date"].value
        assert meta["airflow/url"].value == run_url(airflow3, run.run_id)
        latest = instance.get_latest_materialization_event(dag_key(DAG_ID))
        assert (
            latest is not None and latest.asset_materialization.metadata["airflow/run_id"].value == run.run_id
        )


def test_peer_with_check_runs_the_check_after_the_dag_materializes(
    airflow3: LocalAirflow, tutorial_env: Path
) -> None:
    (tutorial_env / "customers.csv").write_text("id,name\n1,a\n2,b\n")
    defs = load_seed_stage("peer_with_check", airflow3).defs
    run = run_and_wait(make_client(airflow3), DAG_ID)
    check_key = AssetCheckKey(dag_key(DAG_ID), "validate_exported_csv")

    with DagsterInstance.ephemeral() as instance:
        data = tick_until_caught_up(defs, instance, None)
        assert keys_of(events_for_run(data, run.run_id)) == [
            "airflow_instance_one/dag/rebuild_customers_list"
        ]
        requests = [request for one in data for request in one.run_requests]
        assert requests and all(list(request.asset_check_keys) == [check_key] for request in requests)
        execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
        evaluation = execution.event.dagster_event.asset_check_evaluation_data
        assert evaluation.passed
        # The check evaluated the materialization the sensor just reported.
        latest = instance.fetch_materializations(dag_key(DAG_ID), limit=1).records[0]
        assert evaluation.target_materialization_data.storage_id == latest.storage_id


def test_observe_stage_materializes_task_assets_including_dbt(
    airflow3: LocalAirflow, tutorial_env: Path
) -> None:
    defs = load_seed_stage("observe", airflow3).defs
    dag_spec = defs.resolve_assets_def(dag_key(DAG_ID)).specs_by_key[dag_key(DAG_ID)]
    assert {dep.asset_key for dep in dag_spec.deps} == {AssetKey("customers_csv")}  # the leaf mapped asset
    run = run_and_wait(make_client(airflow3), DAG_ID)

    with DagsterInstance.ephemeral() as instance:
        events = events_for_run(tick_until_caught_up(defs, instance, None), run.run_id, DAG_ID)
        materialized = keys_of(events)
        assert sorted(materialized) == sorted(
            [
                "raw_data/raw_customers",
                *DBT_KEYS,
                "customers_csv",
                "airflow_instance_one/dag/rebuild_customers_list",
            ]
        )
        assert materialized[-1] == "airflow_instance_one/dag/rebuild_customers_list"  # tasks first
        by_key = {event.asset_key.to_user_string(): event for event in events}
        raw = by_key["raw_data/raw_customers"].metadata
        assert raw["airflow/task_id"].value == "load_raw_customers"
        assert raw["airflow/try_number"].value == 1
        assert "/runs/" in raw["airflow/url"].value and raw["airflow/url"].value.endswith(
            "/tasks/load_raw_customers"
        )
        assert by_key["customers"].metadata["airflow/task_id"].value == "build_dbt_models"
        assert instance.get_latest_materialization_event(AssetKey("customers")) is not None


def test_observe_with_partitions_uses_the_logical_date(
    airflow3: LocalAirflow, tutorial_env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    stage = load_seed_stage("observe_with_partitions", airflow3)
    defs = stage.defs
    client = make_client(airflow3)
    midnight = stage.PARTITIONS_DEF.start  # today's midnight, the first partition
    on_partition = run_and_wait(client, DAG_ID, logical_date=midnight)
    # Off the partition grid but already past: Airflow's scheduler starts no run whose logical date is
    # still ahead (a fixed 03:00 hung this test whenever the suite ran between midnight and 03:00).
    since_midnight = datetime.now(timezone.utc) - midnight
    off_date = midnight + max(since_midnight / 2, timedelta(seconds=1))
    off_partition = run_and_wait(client, DAG_ID, logical_date=off_date)
    no_logical_date = run_and_wait(client, DAG_ID)
    assert no_logical_date.logical_date is None

    with DagsterInstance.ephemeral() as instance:
        data = tick_until_caught_up(defs, instance, None)
        events = events_for_run(data, on_partition.run_id)
        partitions = {event.asset_key.to_user_string(): event.partition for event in events}
        expected_key = on_partition.logical_date.strftime("%Y-%m-%d")
        assert partitions == {
            "raw_data/raw_customers": expected_key,
            "stg_customers": expected_key,
            "customers": expected_key,
            "customers_csv": expected_key,
            "airflow_instance_one/dag/rebuild_customers_list": None,  # the DAG asset is not partitioned
        }
        # No partition matches: only the (unpartitioned) DAG asset, and a clear log line.
        for skipped in (off_partition, no_logical_date):
            assert keys_of(events_for_run(data, skipped.run_id)) == [
                "airflow_instance_one/dag/rebuild_customers_list"
            ]
        text = capfd.readouterr().err  # the sensor logs through context.log (to stderr here)
        assert "does not start a partition" in text and "has no logical date" in text


def test_observe_dag_level_materializes_mapped_assets_when_the_run_succeeds(
    airflow3: LocalAirflow, tutorial_env: Path
) -> None:
    defs = load_seed_stage("observe_dag_level", airflow3).defs
    run = run_and_wait(make_client(airflow3), DAG_ID)
    with DagsterInstance.ephemeral() as instance:
        events = events_for_run(tick_until_caught_up(defs, instance, None), run.run_id, DAG_ID)
        assert sorted(keys_of(events)) == sorted(
            [
                "raw_data/raw_customers",
                *DBT_KEYS,
                "customers_csv",
                "airflow_instance_one/dag/rebuild_customers_list",
            ]
        )
        for event in events:
            assert isinstance(event, AssetMaterialization)
            assert "airflow/task_id" not in event.metadata  # run-level events
            assert event.metadata["airflow/url"].value.startswith(f"{airflow3.url}/dags/{DAG_ID}/runs/")
