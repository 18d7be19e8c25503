"""Odd but valid Airflow shapes against the real Airflow 3 and the real sensor.

One set of runs (tests/dags/badinput_dags.py) is triggered after the snapshot; then one DAG is deleted
and one paused; then the sensor ticks until it has caught up. Each test checks one outcome of that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from dagster import (
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData

from airlift_components.airflow_api import DagRunRecord
from airlift_components.core import AirflowFilter, assets_with_task_mappings, build_defs_from_airflow_instance
from airlift_components.core.cursor import SensorCursor
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import events_for_run, instance_for, keys_of, tick, utcnow

pytestmark = pytest.mark.timeout(600)

NAME = "badinput"
DOTTED = "badinput.dotted-dag"
UNICODE = "badinput_ünïcødé"
LONG_DAG = "badinput_" + "d" * 241
LONG_TASK = "t" * 250
LONG_PYTHON_DAG = "badinput_" + "p" * 241
GROUP = "badinput_task_group"
MANY = "badinput_many_mapped"
DELETED = "badinput_deleted"
PAUSED = "badinput_paused"
ALL = [DOTTED, UNICODE, LONG_DAG, LONG_PYTHON_DAG, GROUP, MANY, DELETED, PAUSED]

MAPPINGS = {
    DOTTED: {"extract.v2": [AssetSpec(["dotted", "extract.v2"])], "load-final": [AssetSpec("load-final")]},
    UNICODE: {"tâche_été": [AssetSpec(["unicode", "tâche_été"])]},
    LONG_DAG: {LONG_TASK: [AssetSpec(["long", LONG_TASK])]},
    LONG_PYTHON_DAG: {
        LONG_TASK: [AssetSpec(["long_python", LONG_TASK])],
        "never_started": [AssetSpec(["long_python", "never_started"])],
    },
    GROUP: {"grp.inner": [AssetSpec(["group", "grp.inner"])]},
    MANY: {"many": [AssetSpec("many_out")]},
    DELETED: {"work": [AssetSpec("deleted_out")]},
    PAUSED: {
        "work": [
            AssetSpec("paused_out"),
            AssetSpec("paused_daily", partitions_def=DailyPartitionsDefinition(start_date="2024-01-01")),
        ]
    },
}


@dataclass
class Outcome:
    runs: dict[str, DagRunRecord]
    ticks: list[SensorExecutionData]
    defs: Definitions


@pytest.fixture(scope="module")
def outcome(airflow3: LocalAirflow) -> Iterator[Outcome]:
    """Snapshot, then runs, then delete/pause, then ticks until caught up."""
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow3, NAME),
        defs=Definitions(
            assets=[a for dag_id, m in MAPPINGS.items() for a in assets_with_task_mappings(dag_id, m)]
        ),
        retrieval_filter=AirflowFilter(dag_id_glob="badinput*"),
    )
    client = make_client(airflow3)
    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    runs: dict[str, DagRunRecord] = {}
    # Two waves: on SQLite, creating 2000 task instances at once starves the other tasks' state updates.
    for wave in ([dag_id for dag_id in ALL if dag_id != MANY], [MANY]):
        triggered = [client.trigger_dag_run(dag_id) for dag_id in wave]
        runs.update(
            {run.dag_id: client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300) for run in triggered}
        )
    client.request("DELETE", f"/api/v2/dags/{DELETED}", idempotent=False)
    client.set_dag_paused(PAUSED, True)
    ticks: list[SensorExecutionData] = []
    try:
        with DagsterInstance.ephemeral() as instance:
            while len(ticks) < 8:
                data = tick(defs, instance, cursor, NAME, run_checks=False)
                ticks.append(data)
                cursor = data.cursor
                state = SensorCursor.parse(cursor)
                if state and state.scan_upper is None and not state.open_runs and not state.pending_rollups:
                    break
        yield Outcome(runs, ticks, defs)
    finally:
        client.set_dag_paused(PAUSED, False)


def _events(outcome: Outcome, dag_id: str) -> list[AssetMaterialization | AssetObservation]:
    return events_for_run(outcome.ticks, outcome.runs[dag_id].run_id, dag_id)


def _materialized(outcome: Outcome, dag_id: str) -> list[str]:
    return keys_of(_events(outcome, dag_id), AssetMaterialization)


def _all_events(outcome: Outcome) -> list[AssetMaterialization | AssetObservation]:
    return [event for data in outcome.ticks for event in data.asset_events]


def test_dotted_and_dashed_ids_materialize_their_assets(outcome: Outcome) -> None:
    assert outcome.runs[DOTTED].state == "success"
    assert _materialized(outcome, DOTTED) == ["dotted/extract.v2", "load-final", f"{NAME}/dag/{DOTTED}"]


def test_unicode_ids_materialize_their_assets(outcome: Outcome) -> None:
    assert _materialized(outcome, UNICODE) == ["unicode/tâche_été", f"{NAME}/dag/{UNICODE}"]


def test_250_character_dag_and_task_ids_materialize_their_assets(outcome: Outcome) -> None:
    assert _materialized(outcome, LONG_DAG) == [f"long/{LONG_TASK}", f"{NAME}/dag/{LONG_DAG}"]


def test_250_character_ids_whose_task_airflow_cannot_run_are_reported_as_failed(outcome: Outcome) -> None:
    # Airflow parses them but the task process fails: "dag_id=<250 chars>" is too long for a folder name.
    assert outcome.runs[LONG_PYTHON_DAG].state == "failed"
    events = _events(outcome, LONG_PYTHON_DAG)
    observed = keys_of(events, AssetObservation)
    assert observed[0] == f"long_python/{LONG_TASK}" and observed[-1] == f"{NAME}/dag/{LONG_PYTHON_DAG}"
    assert keys_of(events, AssetMaterialization) == []


def test_task_that_never_ran_is_observed_with_try_zero_and_null_logical_date(outcome: Outcome) -> None:
    (event,) = [e for e in _events(outcome, LONG_PYTHON_DAG) if e.asset_key.path[-1] == "never_started"]
    assert isinstance(event, AssetObservation)
    assert event.metadata["airflow/state"].value == "upstream_failed"
    assert event.metadata["airflow/try_number"].value == 0
    assert event.metadata["airflow/logical_date"].value == "none"


def test_dag_without_schedule_or_description_gets_readable_defaults(outcome: Outcome) -> None:
    (spec,) = [s for s in outcome.defs.resolve_all_asset_specs() if s.key.path == [NAME, "dag", PAUSED]]
    assert spec.metadata["Schedule"].value == "none"
    assert spec.description == f"Airflow DAG {PAUSED!r}: materialized when a run of it succeeds."


def test_task_group_task_id_maps_as_group_dot_task(outcome: Outcome) -> None:
    assert _materialized(outcome, GROUP) == ["group/grp.inner", f"{NAME}/dag/{GROUP}"]


def test_two_thousand_map_indexes_roll_up_into_one_materialization(outcome: Outcome) -> None:
    events = _events(outcome, MANY)
    assert keys_of(events, AssetMaterialization) == ["many_out", f"{NAME}/dag/{MANY}"]
    assert events[0].metadata["airflow/map_indexes"].value == 2000
    assert len(outcome.ticks) <= 3


def test_dag_deleted_between_snapshot_and_tick_does_not_stop_other_events(
    airflow3: LocalAirflow, outcome: Outcome
) -> None:
    # Airflow's DELETE took the DAG's finished run and task instances with it: nothing is left to
    # report for it (no event of any kind), and the ticks still caught up with every other DAG.
    deleted_run = outcome.runs[DELETED]
    assert deleted_run.state == "success"
    client = make_client(airflow3)
    assert deleted_run.run_id not in {run.run_id for run in client.list_dag_runs(dag_ids=[DELETED])}
    assert client.list_task_instances(dag_ids=[DELETED], run_ids=[deleted_run.run_id]) == []
    assert _events(outcome, DELETED) == []
    final = SensorCursor.parse(outcome.ticks[-1].cursor)
    assert final is not None and final.scan_upper is None and not final.open_runs
    other_dags = {e.metadata["airflow/dag_id"].value for e in _all_events(outcome)}
    assert other_dags == set(ALL) - {DELETED}


def test_dag_paused_between_snapshot_and_tick_still_reports_its_finished_run(outcome: Outcome) -> None:
    assert "paused_out" in _materialized(outcome, PAUSED)


def test_manual_run_without_logical_date_skips_only_the_partitioned_asset(outcome: Outcome) -> None:
    assert outcome.runs[PAUSED].logical_date is None
    assert _materialized(outcome, PAUSED) == ["paused_out", f"{NAME}/dag/{PAUSED}"]


def test_each_event_is_emitted_once(outcome: Outcome) -> None:
    identities = [
        (e.asset_key, e.metadata["airflow/dag_id"].value, e.metadata["airflow/run_id"].value)
        for e in _all_events(outcome)
    ]
    assert len(identities) == len(set(identities))
