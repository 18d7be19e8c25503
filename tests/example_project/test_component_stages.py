"""The YAML (component) form of each tutorial stage builds what its Python form builds.

Loaded the way ``dagster dev`` loads them (``DAGSTER_IS_DEV_CLI`` set: component state is fetched from
the real Airflow 3 running the example DAGs), and compared with the Python stage module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import AssetKey, Definitions

from airlift_components.conventions import PROXY_TARGETS_METADATA_KEY
from airlift_components.testing.local_airflow import LocalAirflow
from example_project.components import COMPONENT_STAGES, load_component_stage
from tests.example_project.conftest import ExampleDirs, fresh_import
from tests.example_project.test_stages import EXECUTABLE, EXPECTED_ASSETS, INSTANCE

REBUILD_DAG = AssetKey([INSTANCE, "dag", "rebuild_customers_list"])


def _env(monkeypatch: pytest.MonkeyPatch, dirs: ExampleDirs, airflow_url: str) -> None:
    for key, value in dirs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRLIFT_AIRFLOW_URL", airflow_url)
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")  # refresh component state at load, as `dagster dev` does


def _yaml_stage(stage: str) -> Definitions:
    fresh_import(f"example_project.components.{stage}")
    return load_component_stage(stage)


def _graph_facts(defs: Definitions) -> tuple[set[AssetKey], set[AssetKey], set[str]]:
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    executable = {key for key in keys if graph.get(key).is_executable}
    checks = {key.name for key in graph.asset_check_keys if not graph.get(key.asset_key).is_executable}
    return keys, executable, checks


def _proxy_targets(defs: Definitions, dag_asset: AssetKey) -> dict:
    spec = defs.resolve_asset_graph().get(dag_asset)
    raw = getattr(spec.metadata[PROXY_TARGETS_METADATA_KEY], "value", None)
    targets = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(targets, dict) and targets, f"{dag_asset.to_user_string()}: no proxy targets"
    # The order of keys within a task is irrelevant: the proxy operator launches them as one selection.
    return {
        "dag": sorted(targets["dag"]),
        "tasks": {task: sorted(paths) for task, paths in targets["tasks"].items()},
        "partitions": targets["partitions"],
    }


@pytest.mark.parametrize("stage", COMPONENT_STAGES)
def test_yaml_stage_builds_the_assets_checks_and_sensor_of_the_python_stage(
    stage: str,
    example_airflow: tuple[LocalAirflow, ExampleDirs],
    dbt_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    airflow, dirs = example_airflow
    _env(monkeypatch, dirs, airflow.url)
    yaml_defs = _yaml_stage(stage)
    python_defs = fresh_import(f"example_project.dagster_defs.stages.{stage}").defs
    keys, executable, checks = _graph_facts(yaml_defs)
    assert keys == EXPECTED_ASSETS[stage]
    assert executable == EXECUTABLE[stage]
    assert checks == _graph_facts(python_defs)[2]
    assert [sensor.name for sensor in yaml_defs.sensors or []] == [
        sensor.name for sensor in python_defs.sensors or []
    ]
    # What a proxied task launches in Dagster is read from the DAG asset: both forms must agree.
    assert _proxy_targets(yaml_defs, REBUILD_DAG) == _proxy_targets(python_defs, REBUILD_DAG)


def test_yaml_partitioned_stage_partitions_airflow_mapped_and_dbt_assets_daily(
    example_airflow: tuple[LocalAirflow, ExampleDirs], dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, dirs = example_airflow
    _env(monkeypatch, dirs, airflow.url)
    graph = _yaml_stage("observe_with_partitions").resolve_asset_graph()
    for key in EXPECTED_ASSETS["observe"] - EXPECTED_ASSETS["peer"]:
        partitions_def = graph.get(key).partitions_def
        assert partitions_def is not None and partitions_def.get_cron_schedule() == "0 0 * * *", key


def test_definitions_file_loads_the_yaml_form_when_asked(
    example_airflow: tuple[LocalAirflow, ExampleDirs], dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, dirs = example_airflow
    _env(monkeypatch, dirs, airflow.url)
    monkeypatch.setenv("AIRLIFT_STAGE", "peer")
    monkeypatch.setenv("AIRLIFT_STAGE_FORM", "yaml")
    defs = fresh_import("example_project.dagster_defs.definitions").defs
    assert _graph_facts(defs)[0] == EXPECTED_ASSETS["peer"]


def test_unknown_form_and_standalone_yaml_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing definitions.py loads a stage: standalone needs no Airflow.
    monkeypatch.setenv("AIRLIFT_STAGE", "standalone")
    load_stage_defs = fresh_import("example_project.dagster_defs.definitions").load_stage_defs
    with pytest.raises(ValueError, match="'toml'.*python, yaml"):
        load_stage_defs("peer", form="toml")
    with pytest.raises(ValueError, match="'standalone' has no YAML form"):
        load_stage_defs("standalone", form="yaml")
