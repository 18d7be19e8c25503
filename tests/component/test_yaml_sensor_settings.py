"""The YAML `sensor:` and `airflow_assets:` intervals reach the sensors Dagster runs, and DAG-level
`assets:` from YAML are materialized by a real tick (real Airflow 3, defs state written and read back)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from airlift_components.testing.local_airflow import LocalAirflow
from tests.component.test_component import _component, _component_defs
from tests.conftest import make_client
from tests.core.helpers import events_for_run, run_and_wait, tick_until_caught_up


def _defs(airflow: LocalAirflow, tmp_path: Path, name: str, **extra: object) -> dg.Definitions:
    """The component's definitions, from defs state written and read back (two DAGs peered)."""
    filtered = _component(
        airflow, name, filter={"dag_id_patterns": ["simple_chain", "always_fails"]}, **extra
    )
    return _component_defs(filtered, tmp_path)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_PW", "admin")


def test_sensor_intervals_from_yaml_reach_both_sensors(airflow3: LocalAirflow, tmp_path: Path) -> None:
    tuned = _defs(
        airflow3,
        tmp_path,
        "tuned",
        sensor={"minimum_interval_seconds": 7},
        airflow_assets={"enabled": True, "minimum_interval_seconds": 11},
    )
    assert tuned.resolve_sensor_def("tuned__airflow_dag_status_sensor").minimum_interval_seconds == 7
    assert tuned.resolve_sensor_def("tuned__airflow_asset_event_sensor").minimum_interval_seconds == 11

    default = _defs(airflow3, tmp_path, "plain", airflow_assets={"enabled": True})
    assert default.resolve_sensor_def("plain__airflow_dag_status_sensor").minimum_interval_seconds == 30
    assert default.resolve_sensor_def("plain__airflow_asset_event_sensor").minimum_interval_seconds == 30


def test_dag_level_assets_from_yaml_materialize_when_the_run_succeeds_only(
    airflow3: LocalAirflow, tmp_path: Path
) -> None:
    defs = _defs(
        airflow3,
        tmp_path,
        "daglevel",
        mappings=[
            {"dag_id": "simple_chain", "assets": [{"key": "daglevel_out/chain"}]},
            {"dag_id": "always_fails", "assets": [{"key": "daglevel_out/fails"}]},
        ],
    )
    client = make_client(airflow3)
    ok = run_and_wait(client, "simple_chain")
    bad = run_and_wait(client, "always_fails")
    assert (ok.state, bad.state) == ("success", "failed")

    with dg.DagsterInstance.ephemeral() as instance:
        ticks = tick_until_caught_up(defs, instance, None, instance_name="daglevel")
    ok_events = events_for_run(ticks, ok.run_id, "simple_chain")
    materialized = sorted(
        e.asset_key.to_user_string() for e in ok_events if isinstance(e, dg.AssetMaterialization)
    )
    assert materialized == ["daglevel/dag/simple_chain", "daglevel_out/chain"]
    bad_events = events_for_run(ticks, bad.run_id, "always_fails")
    # A failed run materializes neither its DAG asset nor its DAG-level asset; it is observed.
    assert not [e for e in bad_events if isinstance(e, dg.AssetMaterialization)]
    assert {e.asset_key.to_user_string() for e in bad_events if isinstance(e, dg.AssetObservation)} >= {
        "daglevel/dag/always_fails"
    }
