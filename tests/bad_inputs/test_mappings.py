"""Mapping mistakes in the Python API, checked against a real snapshot of the test Airflow 3."""

from __future__ import annotations

import pytest
from dagster import AssetSpec, Definitions

from airlift_components.core import (
    AirflowFilter,
    AirflowSnapshot,
    assets_with_multiple_task_mappings,
    assets_with_task_mappings,
    build_defs_from_snapshot,
    fetch_snapshot,
)
from airlift_components.core.defs_builder import AirflowMappingError
from airlift_components.testing.local_airflow import LocalAirflow
from tests.core.helpers import instance_for

NAME = "badinput_mappings"
DOTTED = "badinput.dotted-dag"
GROUP = "badinput_task_group"


@pytest.fixture(scope="module")
def airflow_and_snapshot(airflow3: LocalAirflow) -> tuple[LocalAirflow, AirflowSnapshot]:
    """The badinput DAGs with the tasks of two of them (what a load with these mappings fetches)."""
    instance = instance_for(airflow3, NAME)
    return airflow3, fetch_snapshot(
        instance, {DOTTED, GROUP}, retrieval_filter=AirflowFilter(dag_id_glob="badinput*")
    )


def _build(airflow_and_snapshot: tuple[LocalAirflow, AirflowSnapshot], *assets: object) -> Definitions:
    airflow, snapshot = airflow_and_snapshot
    return build_defs_from_snapshot(
        snapshot, Definitions(assets=list(assets)), airflow_instance=instance_for(airflow, NAME)
    )


def test_one_key_mapped_by_two_separate_specs_names_both_tasks(airflow_and_snapshot) -> None:
    with pytest.raises(AirflowMappingError) as info:
        _build(
            airflow_and_snapshot,
            *assets_with_task_mappings(DOTTED, {"extract.v2": [AssetSpec("orders")]}),
            *assets_with_task_mappings(GROUP, {"grp.inner": [AssetSpec("orders")]}),
        )
    message = str(info.value)
    assert "asset 'orders' is mapped twice" in message
    assert f"task {DOTTED}.extract.v2" in message and f"task {GROUP}.grp.inner" in message
    assert "assets_with_multiple_task_mappings" in message


def test_one_spec_mapped_to_two_tasks_with_the_helper_builds(airflow_and_snapshot) -> None:
    handles = [{"dag_id": DOTTED, "task_id": "extract.v2"}, {"dag_id": GROUP, "task_id": "grp.inner"}]
    defs = _build(airflow_and_snapshot, *assets_with_multiple_task_mappings([AssetSpec("orders")], handles))
    assert "orders" in {key.to_user_string() for key in defs.resolve_all_asset_keys()}


def test_same_spec_listed_twice_for_one_task_is_one_asset(airflow_and_snapshot) -> None:
    spec = AssetSpec("orders")
    defs = _build(airflow_and_snapshot, *assets_with_task_mappings(DOTTED, {"extract.v2": [spec, spec]}))
    keys = [key.to_user_string() for key in defs.resolve_all_asset_keys()]
    assert keys.count("orders") == 1


def test_task_group_id_instead_of_group_dot_task_lists_the_real_ids(airflow_and_snapshot) -> None:
    with pytest.raises(AirflowMappingError, match=r"task 'grp' of DAG 'badinput_task_group'.*grp\.inner"):
        _build(airflow_and_snapshot, *assets_with_task_mappings(GROUP, {"grp": [AssetSpec("x")]}))


def test_task_id_in_the_wrong_case_names_it_and_lists_the_real_ids(airflow_and_snapshot) -> None:
    with pytest.raises(
        AirflowMappingError, match=r"task 'Extract\.v2' of DAG 'badinput\.dotted-dag'.*extract\.v2"
    ):
        _build(airflow_and_snapshot, *assets_with_task_mappings(DOTTED, {"Extract.v2": [AssetSpec("x")]}))


def test_dag_left_out_by_the_retrieval_filter_says_so(airflow_and_snapshot) -> None:
    with pytest.raises(AirflowMappingError, match=r"DAG 'simple_chain'.*retrieval_filter left it out"):
        _build(airflow_and_snapshot, *assets_with_task_mappings("simple_chain", {"first": [AssetSpec("x")]}))


def test_dag_id_longer_than_airflow_allows_is_reported_missing(airflow_and_snapshot) -> None:
    too_long = "badinput_" + "x" * 242  # 251 characters: Airflow refuses such a DAG
    with pytest.raises(AirflowMappingError, match=f"DAG '{too_long}'"):
        _build(airflow_and_snapshot, *assets_with_task_mappings(too_long, {"t": [AssetSpec("x")]}))


def test_mapping_a_plain_string_names_the_accepted_types() -> None:
    with pytest.raises(TypeError, match="expected AssetSpec or AssetsDefinition, got str"):
        assets_with_task_mappings(DOTTED, {"extract.v2": ["orders"]})  # type: ignore[list-item]
