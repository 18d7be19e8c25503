"""The benchmark at its smallest size against its own real Airflow 3: correctness, not time.

Its own Airflow (not the shared ``airflow3``): the seeded history would show up in other tests' run queries.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.ours import run_scenarios
from benchmarks.run import SIZES, seed, start_airflow

pytestmark = pytest.mark.timeout(900)
SIZE = SIZES["smoke"]


@pytest.fixture(scope="module")
def smoke_result() -> Iterator[dict[str, Any]]:
    """Scenarios 1-4 (ours) on a seeded Airflow 3 of the smoke size, and the ground truth."""
    with tempfile.TemporaryDirectory(prefix="bench-smoke-") as tmp:
        work = Path(tmp)
        airflow = start_airflow(3, SIZE, work / "airflow")
        try:
            truth = seed(airflow, 3, SIZE, work)
            yield {"truth": truth, **run_scenarios(airflow.url, truth, repeats=SIZE.repeats)}
        finally:
            airflow.stop()


def test_seeding_writes_the_requested_history_into_airflow(smoke_result: dict[str, Any]) -> None:
    truth = smoke_result["truth"]
    assert truth["runs"] == SIZE.runs
    assert truth["task_instances"] == SIZE.runs * SIZE.tasks
    assert truth["runs_by_state"]["failed"] > 0


def test_catch_up_stores_exactly_the_ground_truth_events(smoke_result: dict[str, Any]) -> None:
    catch_up = smoke_result["catch_up"]
    assert catch_up["events"] == catch_up["expected_events"]
    assert catch_up["events"]["materializations"] > 0 and catch_up["events"]["observations"] > 0


def test_cached_definitions_load_sends_no_request(smoke_result: dict[str, Any]) -> None:
    assert smoke_result["cached_load"]["requests_per_sample"] == [0] * SIZE.repeats


def test_idle_tick_sends_one_request_per_listing_and_emits_nothing(smoke_result: dict[str, Any]) -> None:
    idle = smoke_result["idle_tick"]
    # Mapped DAGs (their task instances) and peered-only DAGs (their runs): one page each.
    assert idle["requests_per_sample"] == [2] * SIZE.repeats
    assert idle["events_emitted"] == 0


def test_refresh_fetches_tasks_only_for_mapped_dags(smoke_result: dict[str, Any]) -> None:
    assert smoke_result["refresh"]["dags"] == SIZE.dags + 1
    assert smoke_result["refresh"]["dags_with_tasks_fetched"] == SIZE.mapped_dags
