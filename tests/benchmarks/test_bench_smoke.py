"""The benchmark at its smallest size against its own real Airflow 3: correctness, not time.

Its own Airflow (not the shared ``airflow3``): the seeded history would show up in other tests' run queries.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import (
    RUN_FAILED,
    RUN_SUCCEEDED,
    TASK_SUCCEEDED_RUN_FAILED,
    TASK_SUCCEEDED_RUN_SUCCEEDED,
    identity_check,
)
from benchmarks.ours import run_scenarios
from benchmarks.run import SIZES, seed, start_airflow

pytestmark = pytest.mark.timeout(1200)
SIZE = SIZES["smoke"]


@pytest.fixture(scope="module")
def smoke_result() -> Iterator[dict[str, Any]]:
    """Scenarios 1-4 (ours) on a seeded Airflow 3 of the smoke size, then one latency sample."""
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        work = Path(tmp)
        airflow = start_airflow(3, SIZE, work / "airflow")
        try:
            truth = seed(airflow, 3, SIZE, work)
            result = run_scenarios(airflow.url, truth, repeats=SIZE.repeats)
            latency = run_scenarios(airflow.url, truth, repeats=1, latency_samples=1, only="latency")
            yield {"truth": truth, **result, "latency": latency["latency"]}
        finally:
            airflow.stop()


def test_seeding_writes_the_requested_history_into_airflow(smoke_result: dict[str, Any]) -> None:
    truth = smoke_result["truth"]
    assert truth["runs"] == SIZE.runs
    assert truth["task_instances"] == SIZE.runs * SIZE.tasks
    assert truth["runs_by_state"]["failed"] > 0
    assert len(truth["run_rows"]) == SIZE.runs
    assert len(truth["mapped_task_rows"]) == sum(
        1 for dag_id, *_ in truth["run_rows"] if dag_id in truth["mapped_dag_ids"]
    )


def test_catch_up_stores_each_event_airflow_calls_for_exactly_once(smoke_result: dict[str, Any]) -> None:
    catch_up = smoke_result["catch_up"]
    check = catch_up["identity_check"]
    assert catch_up["caught_up"]
    assert (check["lost"], check["duplicated"], check["unexpected"]) == (0, 0, 0), check["examples"]
    assert check["equal"] and check["stored"] == check["expected"] == sum(catch_up["events"].values())
    by_category = check["by_category"]
    for category in (RUN_SUCCEEDED, RUN_FAILED, TASK_SUCCEEDED_RUN_SUCCEEDED, TASK_SUCCEEDED_RUN_FAILED):
        assert by_category[category]["in_airflow"] > 0, category  # the seed stages every category
        assert by_category[category]["stored"] == by_category[category]["in_airflow"], category


def test_identity_check_reports_a_lost_and_a_duplicated_run_apart_even_when_totals_match() -> None:
    runs = [("materialization", ("bench", "dag", "d"), "d", f"run_{i}", None, None) for i in range(3)]
    stored = Counter([runs[0], runs[0], runs[1]])  # run_2 lost, run_0 stored twice: the totals agree
    check = identity_check(stored, {RUN_SUCCEEDED: runs}, [RUN_SUCCEEDED])
    assert check["stored"] == check["expected"] == 3
    assert (check["lost"], check["duplicated"], check["unexpected"], check["equal"]) == (1, 1, 0, False)
    assert check["examples"]["lost"] == [["materialization", "bench/dag/d", "d", "run_2", None, None]]
    assert check["by_category"][RUN_SUCCEEDED] == {"in_airflow": 3, "expected": True, "stored": 2}


def test_cached_definitions_loads_send_no_request(smoke_result: dict[str, Any]) -> None:
    component = smoke_result["cached_load_component_defs_state"]
    assert component["state_write_requests"] > 0  # the state is written from Airflow once
    assert component["requests_per_sample"] == [0] * SIZE.repeats
    assert smoke_result["cached_load_reconstruction"]["requests_per_sample"] == [0] * SIZE.repeats


def test_idle_tick_sends_one_request_and_emits_nothing(smoke_result: dict[str, Any]) -> None:
    idle = smoke_result["idle_tick"]
    # Mapped and peered-only DAGs alike: one page of the runs Airflow changed, no task instances.
    assert idle["requests_per_sample"] == [1] * SIZE.repeats
    assert idle["events_emitted"] == 0


def test_refresh_fetches_tasks_only_for_mapped_dags(smoke_result: dict[str, Any]) -> None:
    assert smoke_result["refresh"]["dags"] == SIZE.dags + 1
    assert smoke_result["refresh"]["dags_with_tasks_fetched"] == SIZE.mapped_dags


def test_latency_sample_counts_the_sensor_requests_it_took(smoke_result: dict[str, Any]) -> None:
    latency = smoke_result["latency"]
    assert latency["samples"] == 1
    # Every tick sends at least one listing request; the sample took at least one tick.
    assert latency["requests_per_sample"][0] >= latency["ticks_per_sample"][0] >= 1


def test_every_scenario_records_the_machine_load_before_and_after(smoke_result: dict[str, Any]) -> None:
    for name in (
        "cached_load_component_defs_state",
        "cached_load_reconstruction",
        "catch_up",
        "idle_tick",
        "latency",
    ):
        machine = smoke_result[name]["machine"]
        assert len(machine["before"]["load_avg_1_5_15"]) == 3 and machine["after"]["cpus"], name
    assert smoke_result["machine_refresh"]["before"]["cpus"]
