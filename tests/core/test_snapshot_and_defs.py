"""Snapshot fetching and caching, and the definitions built from it (real Airflow 3 and 2)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
from dagster import AssetKey, AssetSpec, DailyPartitionsDefinition, Definitions, multi_asset
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.repository_definition import RepositoryLoadData

from airlift_components.conventions import (
    DAG_ID_METADATA_KEY,
    INSTANCE_NAME_METADATA_KEY,
    PROXY_TARGETS_METADATA_KEY,
    TASK_MAPPINGS_METADATA_KEY,
)
from airlift_components.core import (
    AirflowFilter,
    AirflowMappingError,
    AirflowMappingWarning,
    AirflowSnapshot,
    assets_with_dag_mappings,
    assets_with_multiple_task_mappings,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    build_defs_from_snapshot,
    fetch_snapshot,
)
from airlift_components.core.naming import reconstruction_key
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import expected_test_dag_ids
from tests.core.helpers import instance_for

DAILY = DailyPartitionsDefinition(start_date="2024-01-01")


def dag_spec(defs: Definitions, instance_name: str, dag_id: str) -> AssetSpec:
    key = AssetKey([instance_name, "dag", dag_id])
    return defs.resolve_assets_def(key).specs_by_key[key]


def test_peering_costs_the_version_probe_the_paged_dag_listing_and_proxied_dags_tasks(
    any_airflow: LocalAirflow,
) -> None:
    instance = instance_for(any_airflow, "peer_cost")
    # The version probe: 1 request on Airflow 3, 2 on Airflow 2 (/api/v2/version answers 404 first).
    assert instance.client.version_info
    probe = instance.client.request_count
    assert probe == (1 if any_airflow.major_version == 3 else 2)
    snapshot = fetch_snapshot(instance)
    pages = math.ceil(len(expected_test_dag_ids()) / instance.client.page_size)
    # Plus the tasks of the one DAG that proxying_to_dagster tagged (core_proxied), for migration
    # progress; no other DAG's tasks are fetched.
    assert instance.client.request_count - probe == pages + 1
    assert set(snapshot.dag_ids) == expected_test_dag_ids()
    assert set(snapshot.tasks) == {"core_proxied"}
    assert snapshot.proxied_task_ids == {"core_proxied": ("work",)}
    assert snapshot.api_version == ("v2" if any_airflow.major_version == 3 else "v1")
    assert AirflowSnapshot.model_validate_json(snapshot.model_dump_json()) == snapshot


def test_snapshot_fetches_tasks_only_for_mapped_dags_and_sees_proxy_markers(
    any_airflow: LocalAirflow,
) -> None:
    instance = instance_for(any_airflow, "tasks")
    snapshot = fetch_snapshot(instance, {"core_proxied", "simple_chain"})
    assert set(snapshot.tasks) == {"core_proxied", "simple_chain"}
    assert snapshot.proxied_task_ids == {"core_proxied": ("work",), "simple_chain": ()}
    second = {t.task_id: t for t in snapshot.tasks["simple_chain"]}["second"]
    assert second.upstream_task_ids == ("first",) and second.downstream_task_ids == ("third",)


def test_dag_asset_metadata(any_airflow: LocalAirflow) -> None:
    mapped = assets_with_task_mappings(
        "core_proxied", {"work": [AssetSpec("daily_table", partitions_def=DAILY), AssetSpec("plain")]}
    )
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance_for(any_airflow, "meta"), defs=Definitions(assets=mapped)
    )
    spec = dag_spec(defs, "meta", "core_proxied")
    meta = spec.metadata
    expected_url = f"{any_airflow.url}/dags/core_proxied" + (
        "" if any_airflow.major_version == 3 else "/grid"
    )
    assert meta["Airflow UI"].value == expected_url
    assert meta["Owners"].value == "airflow"
    # core_proxied.work is proxied by proxying_to_dagster, which tags the DAG (the order differs by version).
    assert set(meta["Airflow tags"].value.split(", ")) == {"core_test", "airlift:proxied-tasks"}
    assert meta["Schedule"].value in ("none", "None")
    assert meta["Source file"].value.endswith("core_dags.py")
    assert meta["Task count"].value == 1 and meta["Tasks proxied"].value == "1/1"
    assert meta[DAG_ID_METADATA_KEY] == "core_proxied" and meta[INSTANCE_NAME_METADATA_KEY] == "meta"
    assert meta[PROXY_TARGETS_METADATA_KEY].value == {
        "dag": [],
        "tasks": {"work": [["daily_table"], ["plain"]]},
        "partitions": {"daily_table": {"fmt": "%Y-%m-%d", "timezone": "UTC"}},
    }
    assert {dep.asset_key for dep in spec.deps} == {AssetKey("daily_table"), AssetKey("plain")}
    # An unmapped DAG: listing metadata only, no task structure fetched.
    simple = dag_spec(defs, "meta", "simple_chain").metadata
    assert "Task count" not in simple and simple["Airflow tags"].value == "test"


def test_loading_from_the_cached_snapshot_makes_zero_requests(airflow3: LocalAirflow, tmp_path: Path) -> None:
    mapped = assets_with_task_mappings("simple_chain", {"third": [AssetSpec("cached_out")]})
    first = instance_for(airflow3, "cached")
    build_defs_from_airflow_instance(
        airflow_instance=first, defs=Definitions(assets=mapped), snapshot_cache_dir=tmp_path
    )
    assert first.client.request_count > 0
    again = instance_for(airflow3, "cached")
    defs = build_defs_from_airflow_instance(
        airflow_instance=again, defs=Definitions(assets=mapped), snapshot_cache_dir=tmp_path
    )
    assert again.client.request_count == 0
    assert dag_spec(defs, "cached", "simple_chain").metadata["Task count"].value == 3
    # A newly mapped DAG is not in the cache's task structure: one refetch, then cached again.
    more = [*mapped, *assets_with_task_mappings("always_fails", {"ok": [AssetSpec("x")]})]
    third = instance_for(airflow3, "cached")
    build_defs_from_airflow_instance(
        airflow_instance=third, defs=Definitions(assets=more), snapshot_cache_dir=tmp_path
    )
    assert third.client.request_count > 0


def test_run_workers_reuse_the_snapshot_from_reconstruction_metadata(airflow3: LocalAirflow) -> None:
    defs = build_defs_from_airflow_instance(airflow_instance=instance_for(airflow3, "recon"))
    stored = defs.metadata[reconstruction_key("recon")].data
    context = DefinitionsLoadContext(
        load_type=DefinitionsLoadType.RECONSTRUCTION,
        repository_load_data=RepositoryLoadData(
            cacheable_asset_data={},
            reconstruction_metadata=defs.metadata,  # as a run worker receives it
        ),
    )
    worker_instance = instance_for(airflow3, "recon")
    with DefinitionsLoadContext.scoped(context):
        rebuilt = build_defs_from_airflow_instance(airflow_instance=worker_instance)
    assert worker_instance.client.request_count == 0
    assert rebuilt.metadata[reconstruction_key("recon")].data == stored
    # The same DAG assets as the code location that fetched the snapshot, with the same metadata.
    assert {spec.key for spec in rebuilt.resolve_all_asset_specs()} == {
        spec.key for spec in defs.resolve_all_asset_specs()
    }
    assert (
        dag_spec(rebuilt, "recon", "simple_chain").metadata
        == dag_spec(defs, "recon", "simple_chain").metadata
    )


def test_mapping_to_a_missing_dag_or_task_names_it(airflow3: LocalAirflow) -> None:
    snapshot = fetch_snapshot(instance_for(airflow3, "missing"), {"simple_chain"})
    bad_dag = Definitions(assets=assets_with_dag_mappings({"no_such_dag": [AssetSpec("a")]}))
    with pytest.raises(AirflowMappingError, match="no_such_dag"):
        build_defs_from_snapshot(snapshot, bad_dag, airflow_instance=instance_for(airflow3, "missing"))
    bad_task = Definitions(assets=assets_with_task_mappings("simple_chain", {"fourth": [AssetSpec("b")]}))
    with pytest.raises(
        AirflowMappingError, match=r"task 'fourth' of DAG 'simple_chain'.*first, second, third"
    ):
        build_defs_from_snapshot(snapshot, bad_task, airflow_instance=instance_for(airflow3, "missing"))
    # End to end through the seed API too.
    with pytest.raises(AirflowMappingError, match="no_such_dag"):
        build_defs_from_airflow_instance(airflow_instance=instance_for(airflow3, "missing"), defs=bad_dag)


def test_missing_mapping_can_be_a_warning(airflow3: LocalAirflow) -> None:
    snapshot = fetch_snapshot(instance_for(airflow3, "warn"), {"simple_chain"})
    defs = Definitions(assets=assets_with_task_mappings("simple_chain", {"fourth": [AssetSpec("b")]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build_defs_from_snapshot(
            snapshot, defs, airflow_instance=instance_for(airflow3, "warn"), on_missing_mapping="warn"
        )
    assert any(issubclass(w.category, AirflowMappingWarning) and "fourth" in str(w.message) for w in caught)
    # The user's asset stays, unmapped: the DAG asset does not list it as produced by the DAG.
    assert AssetKey("b") in {spec.key for spec in built.resolve_all_asset_specs()}
    assert AssetKey("b") not in {dep.asset_key for dep in dag_spec(built, "warn", "simple_chain").deps}
    assert dag_spec(built, "warn", "simple_chain").metadata[PROXY_TARGETS_METADATA_KEY].value["tasks"] == {}


def test_two_instances_merge_without_collisions(airflow3: LocalAirflow) -> None:
    one = build_defs_from_airflow_instance(airflow_instance=instance_for(airflow3, "instance_one"))
    two = build_defs_from_airflow_instance(airflow_instance=instance_for(airflow3, "instance_two"))
    merged = Definitions.merge(one, two)
    repository = merged.get_repository_def()
    keys = repository.asset_graph.get_all_asset_keys()
    assert AssetKey(["instance_one", "dag", "simple_chain"]) in keys
    assert AssetKey(["instance_two", "dag", "simple_chain"]) in keys
    assert {s.name for s in repository.sensor_defs} == {
        "instance_one__airflow_dag_status_sensor",
        "instance_two__airflow_dag_status_sensor",
    }


def test_filters_select_dags(airflow3: LocalAirflow) -> None:
    snapshot = fetch_snapshot(
        instance_for(airflow3, "filtered"),
        retrieval_filter=AirflowFilter(dag_id_glob="generated_0*", airflow_tags=("group_1",)),
        dag_selector_fn=lambda dag: dag.dag_id != "generated_001",
    )
    assert set(snapshot.dag_ids) == {f"generated_{i:03d}" for i in range(100) if i % 4 == 1} - {
        "generated_001"
    }


def test_mapping_helpers_annotate_specs_and_executable_assets() -> None:
    @multi_asset(specs=[AssetSpec("a"), AssetSpec("b", deps=["a"])])
    def both():  # no return annotation: dagster would read it as the outputs' type
        pass

    mapped = assets_with_task_mappings("d", {"t": [both]})
    mapped = assets_with_multiple_task_mappings(mapped, [{"dag_id": "d2", "task_id": "t2"}])
    spec = mapped[0].specs_by_key[AssetKey("b")]
    assert spec.metadata[TASK_MAPPINGS_METADATA_KEY] == [
        {"dag_id": "d", "task_id": "t"},
        {"dag_id": "d2", "task_id": "t2"},
    ]
    assert mapped[0].op.name == both.op.name  # still the user's executable asset
