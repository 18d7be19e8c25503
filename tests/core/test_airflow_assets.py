"""Airflow assets (Airflow 3) and datasets (Airflow 2) as Dagster assets, against the real test Airflow.

The DAGs are in tests/dags/assets_dags.py: ``assets_producer`` writes ``s3://airlift-test/orders.csv``
(and a scratch file), ``assets_consumer`` is scheduled on the orders asset, ``assets_cyclic`` consumes
what it produces, ``assets_described`` writes an asset with a name, a group and extra (setting extra on
its event) and, from a mapped task, ``gs://airlift-test/parts`` (one event per map index).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)
from dagster.components.core.component_tree import ComponentTree

from airlift_components.airflow_api import AirflowAssetRecord, DagRecord
from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core import (
    AirflowInstance,
    AirflowSnapshot,
    BasicAuthBackend,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    build_defs_from_snapshot,
    dag_asset_key,
    fetch_snapshot,
)
from airlift_components.core.airflow_assets import (
    AirflowAssetsModel,
    AirflowAssetsSettings,
    AssetEventCursor,
    AssetEventPlan,
    poll_asset_events,
)
from airlift_components.core.naming import (
    airflow_asset_key,
    asset_event_sensor_name,
    uri_from_key_part,
    uri_key_part,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow, free_port
from tests.conftest import make_client
from tests.core.helpers import instance_for, run_and_wait, utcnow

NAME = "assets_test"
ORDERS = "s3://airlift-test/orders.csv"
SCRATCH = "file:///tmp/airlift-test/scratch_file.txt"
CYCLIC = "s3://airlift-test/cyclic"


def peer(airflow: LocalAirflow, **settings: object) -> Definitions:
    return build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow, NAME),
        airflow_assets=AirflowAssetsSettings(enabled=True, **settings),  # type: ignore[arg-type]
    )


def specs_by_key(defs: Definitions) -> dict[AssetKey, object]:
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_uri_key_rule_is_reversible_distinct_and_dagster_safe() -> None:
    uris = [
        ORDERS,
        "s3://airlift-test/orders_csv",
        "s3://airlift-test/orders/csv",
        "s3://airlift_test//orders.csv",
        "s3:__airlift-test/orders.csv",
        "postgres://db/schema.table?x=1",
        "file:///données/é.parquet",
        "a_2f",
        "a/",
    ]
    parts = [uri_key_part(uri) for uri in uris]
    assert len(set(parts)) == len(uris)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", part) for part in parts)
    assert [uri_from_key_part(part) for part in parts] == uris
    assert airflow_asset_key("prod", ORDERS) == AssetKey(
        ["prod", "airflow_asset", "s3_3a____airlift_2dtest__orders_2ecsv"]
    )


def test_asset_depends_on_its_producer_dag_and_its_consumer_dag_depends_on_it(
    any_airflow: LocalAirflow,
) -> None:
    specs = specs_by_key(peer(any_airflow))
    orders = specs[airflow_asset_key(NAME, ORDERS)]
    assert {dep.asset_key for dep in orders.deps} == {dag_asset_key(NAME, "assets_producer")}  # type: ignore[attr-defined]
    consumer = specs[dag_asset_key(NAME, "assets_consumer")]
    assert airflow_asset_key(NAME, ORDERS) in {dep.asset_key for dep in consumer.deps}  # type: ignore[attr-defined]
    meta = orders.metadata  # type: ignore[attr-defined]
    assert meta["URI"].value == ORDERS
    assert meta["Producing tasks"].value == "assets_producer.write_orders"
    assert meta["Consuming DAGs"].value == "assets_consumer"


def test_asset_depends_on_the_assets_mapped_to_its_producing_task(airflow3: LocalAirflow) -> None:
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow3, NAME),
        defs=Definitions(
            assets=assets_with_task_mappings("assets_producer", {"write_orders": [AssetSpec("orders_table")]})
        ),
        airflow_assets=AirflowAssetsSettings(enabled=True),
    )
    orders = specs_by_key(defs)[airflow_asset_key(NAME, ORDERS)]
    assert {dep.asset_key for dep in orders.deps} == {AssetKey("orders_table")}  # type: ignore[attr-defined]
    defs.get_repository_def()  # and the graph stays acyclic


def test_uri_pattern_keeps_only_matching_airflow_assets(airflow3: LocalAirflow) -> None:
    keys = set(specs_by_key(peer(airflow3, uri_patterns=("s3://airlift-test/*",))))
    assert airflow_asset_key(NAME, ORDERS) in keys and airflow_asset_key(NAME, CYCLIC) in keys
    assert airflow_asset_key(NAME, SCRATCH) not in keys


def test_dag_that_consumes_what_it_produces_does_not_make_a_cycle(airflow3: LocalAirflow) -> None:
    defs = peer(airflow3)
    defs.get_repository_def()  # raises on a cyclic asset graph
    cyclic = specs_by_key(defs)[airflow_asset_key(NAME, CYCLIC)]
    assert not cyclic.deps  # type: ignore[attr-defined]
    assert cyclic.metadata["Producers not drawn (cycle)"].value == "assets_cyclic.rewrite"  # type: ignore[attr-defined]


def test_off_by_default_adds_no_airflow_assets_and_no_sensor(airflow3: LocalAirflow) -> None:
    defs = build_defs_from_airflow_instance(airflow_instance=instance_for(airflow3, NAME))
    assert not [key for key in specs_by_key(defs) if key.path[1] == "airflow_asset"]
    sensor_names = {sensor.name for sensor in defs.sensors or ()}
    assert "assets_test__airflow_dag_status_sensor" in sensor_names
    assert asset_event_sensor_name(NAME) not in sensor_names


def tick(defs: Definitions, instance: DagsterInstance, cursor: str | None) -> tuple[list, str]:
    sensor = defs.resolve_sensor_def(asset_event_sensor_name(NAME))
    data = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    assert data.cursor is not None
    return list(data.asset_events), data.cursor


def test_real_run_materializes_the_produced_airflow_asset_exactly_once(any_airflow: LocalAirflow) -> None:
    defs = peer(any_airflow, uri_patterns=("s3://*",))
    cursor = AssetEventCursor(watermark=utcnow() - timedelta(seconds=1)).model_dump_json()
    run = run_and_wait(make_client(any_airflow), "assets_producer")
    assert run.state == "success"
    key = airflow_asset_key(NAME, ORDERS)
    with DagsterInstance.ephemeral() as instance:
        first, cursor = tick(defs, instance, cursor)
        ours = [
            e
            for e in first
            if e.metadata.get("Airflow run id") and e.metadata["Airflow run id"].value == run.run_id
        ]
        assert [e.asset_key for e in ours] == [key]  # the scratch file is filtered out
        assert isinstance(ours[0], AssetMaterialization)
        assert ours[0].metadata["Source"].value == "assets_producer.write_orders"
        second, _ = tick(defs, instance, cursor)
        assert not [
            e for e in second if getattr(e.metadata.get("Airflow run id"), "value", None) == run.run_id
        ]
        latest = instance.get_latest_materialization_event(key)
        assert latest is not None and latest.asset_materialization is not None
        assert latest.asset_materialization.metadata["Airflow run id"].value == run.run_id


def test_component_yaml_airflow_assets_block_adds_filtered_assets_and_sensor(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_PW", ADMIN_PASSWORD)
    component = AirflowInstanceComponent.resolve_from_dict(
        {
            "name": NAME,
            "auth": {
                "type": "basic",
                "webserver_url": airflow3.url,
                "username": ADMIN_USERNAME,
                "password_env": "AIRLIFT_TEST_PW",
            },
            "airflow_assets": {"enabled": True, "uri_patterns": ["file://*"]},
        }
    )
    state = tmp_path / "state"
    component.write_state_to_path(state)
    defs = component.build_defs_from_state(ComponentTree.for_test().load_context, state)
    keys = {key for key in specs_by_key(defs) if key.path[1] == "airflow_asset"}
    assert keys == {airflow_asset_key(NAME, SCRATCH)}
    assert asset_event_sensor_name(NAME) in {sensor.name for sensor in defs.sensors or ()}


def test_component_rejects_a_non_positive_asset_sensor_interval_naming_the_instance() -> None:
    with pytest.raises(ValueError, match="airflow instance 'prod'.*minimum_interval_seconds"):
        AirflowAssetsModel(minimum_interval_seconds=0).settings("airflow instance 'prod'")


def test_asset_event_tick_costs_one_request(airflow3: LocalAirflow) -> None:
    client = make_client(airflow3)
    plan = AssetEventPlan(
        instance_name=NAME, webserver_url=airflow3.url, api_version="v2", uris=frozenset({ORDERS})
    )
    settings = AirflowAssetsSettings(enabled=True)
    _events, cursor = poll_asset_events(client, plan, None, settings=settings)  # warms up login and version
    before = client.request_count
    _events, cursor = poll_asset_events(client, plan, cursor, settings=settings)
    assert client.request_count - before == 1


def test_asset_event_sensor_fails_the_tick_and_keeps_its_cursor_when_airflow_is_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    snapshot = AirflowSnapshot(
        instance_name=NAME,
        webserver_url=url,
        airflow_version="3.3.0",
        api_version="v2",
        fetched_at=utcnow(),
        dags=(DagRecord(dag_id="assets_producer"),),
        airflow_assets=(
            AirflowAssetRecord(uri=ORDERS, producing_tasks=(("assets_producer", "write_orders"),)),
        ),
    )
    dead = AirflowInstance(
        auth_backend=BasicAuthBackend(url, "admin", "admin"),
        name=NAME,
        max_retries=0,
        timeout=2,
        api_version="v2",
    )
    defs = build_defs_from_snapshot(
        snapshot, airflow_instance=dead, airflow_assets=AirflowAssetsSettings(enabled=True)
    )
    sensor = defs.resolve_sensor_def(asset_event_sensor_name(NAME))
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, cursor="unchanged", definitions=defs)
        with pytest.raises(Exception, match="cursor did not move"):
            sensor.evaluate_tick(context)
        assert context.cursor == "unchanged"


DESCRIBED = "gs://airlift-test/events.parquet"
PARTS = "gs://airlift-test/parts"


def test_airflow3_asset_spec_carries_the_asset_name_group_and_extra(airflow3: LocalAirflow) -> None:
    specs = specs_by_key(peer(airflow3, uri_patterns=("gs://*",)))
    meta = specs[airflow_asset_key(NAME, DESCRIBED)].metadata  # type: ignore[attr-defined]
    assert meta["URI"].value == DESCRIBED
    assert meta["Name"].value == "airlift_test_events"
    assert meta["Group"].value == "airlift_tests"
    assert meta["Extra"].value == {"owner": "data-team"}
    assert meta["Producing tasks"].value == "assets_described.write_events"
    # An asset whose name is its URI (Airflow's default) shows no separate name.
    assert "Name" not in specs[airflow_asset_key(NAME, PARTS)].metadata  # type: ignore[attr-defined]


def test_asset_events_created_after_the_snapshot_are_skipped_with_a_log_line_until_it_is_refreshed(
    airflow3: LocalAirflow, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = AirflowAssetsSettings(enabled=True, uri_patterns=("gs://*",))
    instance = instance_for(airflow3, NAME)
    fresh = fetch_snapshot(instance, include_airflow_assets=True)
    # The same Airflow as it was before the DAG declaring PARTS was deployed: the asset is not in it.
    assert {asset.uri for asset in fresh.airflow_assets or ()} >= {DESCRIBED, PARTS}
    before = fresh.model_copy(
        update={"airflow_assets": tuple(a for a in fresh.airflow_assets or () if a.uri != PARTS)}
    )
    stale_defs = build_defs_from_snapshot(before, airflow_instance=instance, airflow_assets=settings)
    assert airflow_asset_key(NAME, PARTS) not in specs_by_key(stale_defs)
    cursor = AssetEventCursor(watermark=utcnow() - timedelta(seconds=1)).model_dump_json()
    client = make_client(airflow3)
    run = run_and_wait(client, "assets_described")
    assert run.state == "success"

    def ours(events: list) -> list:
        return [e for e in events if getattr(e.metadata.get("Airflow run id"), "value", None) == run.run_id]

    with DagsterInstance.ephemeral() as dagster_instance:
        capfd.readouterr()
        events, cursor = tick(stale_defs, dagster_instance, cursor)
        (described,) = ours(events)  # the known asset's event is materialized; PARTS has none
        assert described.asset_key == airflow_asset_key(NAME, DESCRIBED)
        assert described.metadata["Extra"].value == {"rows": 3}
        assert described.metadata["Source"].value == "assets_described.write_events"
        assert described.metadata["Airflow run"].value == (
            f"{airflow3.url}/dags/assets_described/runs/{quote(run.run_id, safe='')}"
        )
        assert "Map index" not in described.metadata  # an unmapped task
        # The sensor's log (Dagster's logger writes to stderr; the daemon keeps it with the tick).
        logged = capfd.readouterr().err.splitlines()
        skipped = [line for line in logged if f"{PARTS} is not in the snapshot" in line]
        assert len(skipped) == 2, skipped  # one line per event (two map indexes)
        assert all("INFO - Skipped asset event " in line for line in skipped)
        assert AssetEventCursor.parse(cursor).watermark > utcnow() - timedelta(minutes=5)  # type: ignore[union-attr]

        # After the refresh, the asset is known: the next run's events are materialized, one per map index.
        fresh_defs = build_defs_from_snapshot(
            fetch_snapshot(instance, include_airflow_assets=True),
            airflow_instance=instance,
            airflow_assets=settings,
        )
        second = run_and_wait(client, "assets_described")
        assert second.state == "success"
        events, _ = tick(fresh_defs, dagster_instance, cursor)
        parts = [
            e
            for e in events
            if e.asset_key == airflow_asset_key(NAME, PARTS)
            and e.metadata["Airflow run id"].value == second.run_id
        ]
        assert sorted(e.metadata["Map index"].value for e in parts) == [0, 1]
        assert all(e.metadata["Source"].value == "assets_described.write_parts" for e in parts)
        # The events skipped before the refresh are not replayed: each event id is handled once.
        assert not [e for e in ours(events) if e.asset_key == airflow_asset_key(NAME, PARTS)]
