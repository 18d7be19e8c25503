"""The Airflow API server killed and restarted mid catch-up, the sensor process restarted from its stored
cursor, and clock skew between Airflow's end dates and the sensor's clock.

The restart test stops and restarts the API server of the shared session Airflow 3 (its scheduler and DAG
processor keep running; the JWT secret survives, so other tests' tokens stay valid). Tests run one at a
time, so no other test talks to it meanwhile.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from dagster import DagsterInstance

from airlift_components.core import SensorCursor, SensorSettings
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.sensor import AirflowSensorError, poll_airflow
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import tick, utcnow
from tests.faults.conftest import (
    DAG_ID,
    MAPPED_KEY,
    MAPPED_TASK,
    NAME,
    FinishedRuns,
    assert_each_run_emitted_exactly_once,
    proxied_instance,
    sensor_defs,
)

# Three task instances per tick (pages of three): the finished runs' nine task instances need several ticks.
SMALL_BUDGET = SensorSettings(max_task_instances_per_tick=3)
SMALL_PAGES = 3
MAX_TICKS = 100


def test_api_server_restart_mid_catch_up_and_sensor_restart_lose_and_repeat_nothing(
    airflow3: LocalAirflow, chain_snapshot, finished_runs: FinishedRuns
) -> None:
    def new_sensor_process():  # new definitions and a new client: only the stored cursor survives
        return sensor_defs(
            chain_snapshot, proxied_instance(airflow3.url, page_size=SMALL_PAGES), SMALL_BUDGET
        )

    with DagsterInstance.ephemeral() as dagster:
        ticks = [tick(new_sensor_process(), dagster, finished_runs.cursor, NAME)]
        stored = SensorCursor.parse(ticks[-1].cursor)
        assert stored is not None and stored.scan_position is not None  # the catch-up is mid-way
        airflow3.stop_process("api-server")
        try:
            with pytest.raises(AirflowSensorError, match="ConnectionError.*cursor did not move"):
                tick(new_sensor_process(), dagster, ticks[-1].cursor, NAME)
        finally:
            airflow3.restart_api_server()
        # The first tick's window starts an overlap (2 min) before the runs, so it also holds the runs
        # other tests left on the shared Airflow: at 3 rows a tick that can take dozens of ticks.
        for _ in range(MAX_TICKS):
            ticks.append(tick(new_sensor_process(), dagster, ticks[-1].cursor, NAME))
            cursor = SensorCursor.parse(ticks[-1].cursor)
            assert cursor is not None
            if cursor.scan_position is None and not cursor.open_runs and len(ticks) > 2:
                break
        else:
            raise AssertionError(f"the catch-up did not finish within {MAX_TICKS} ticks after the restart")
    assert len(ticks) >= 4  # the budget really split the catch-up
    assert_each_run_emitted_exactly_once(make_client(airflow3), finished_runs.run_ids, ticks)


def test_clock_skew_of_seconds_between_airflow_and_the_sensor_loses_and_repeats_nothing(
    airflow3: LocalAirflow, finished_runs: FinishedRuns
) -> None:
    client = make_client(airflow3)
    plan = AirflowSensorPlan(
        instance_name=NAME,
        webserver_url=airflow3.url,
        api_version="v2",
        dag_ids=frozenset({DAG_ID}),
        task_keys={DAG_ID: {MAPPED_TASK: [MAPPED_KEY]}},
    )
    ends = sorted(
        ti.end_date
        for ti in client.list_task_instances(dag_ids=[DAG_ID], run_ids=list(finished_runs.run_ids))
        if ti.end_date
    )
    middle = ends[len(ends) // 2]
    cursor = SensorCursor.parse(finished_runs.cursor)
    events = []
    # The sensor's clock is behind Airflow's: at its "now", Airflow already stamped later end dates.
    # Then its clock is a few seconds ahead, then it is corrected back.
    for now in (middle, utcnow() + timedelta(seconds=5), utcnow()):
        result = poll_airflow(client, plan, cursor, now=now)
        events.extend(result.events)
        cursor = result.cursor
    assert_each_run_emitted_exactly_once(client, finished_runs.run_ids, events)
