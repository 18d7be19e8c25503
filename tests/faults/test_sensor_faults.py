"""Airflow faults during sensor ticks, injected by a proxy in front of the real Airflow 3.

Each case: the faulty tick either absorbs the fault with bounded retries or fails with a clear message
(and Dagster keeps the old cursor); after recovery every finished run is emitted exactly once, checked
against what Airflow's API says happened.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
from dagster import DagsterInstance

from airlift_components.core.sensor import AirflowSensorError
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import tick
from tests.faults.conftest import (
    CLIENT_OPTIONS,
    DAG_KEY,
    MAPPED_KEY,
    NAME,
    FinishedRuns,
    assert_each_run_emitted_exactly_once,
    materialized_run_ids,
    proxied_instance,
    sensor_defs,
)
from tests.faults.proxy import Fault, FaultProxy

TI_LIST = "/taskInstances/list"
ATTEMPTS = int(CLIENT_OPTIONS["max_retries"]) + 1
FOREVER = 1000


@dataclass(frozen=True)
class Case:
    """A fault, what the faulty tick must do, and how many requests it may send to the faulty path."""

    faults: list[Fault] = field(default_factory=list)
    error: str | None = None  # a regex the tick's error must match; None = the tick absorbs the fault
    path: str = TI_LIST
    requests: int = 1
    server_down: bool = False


CASES = {
    "5xx_burst_absorbed_by_retries": Case([Fault("status", TI_LIST, times=2, status=503)], requests=3),
    # The task listing comes after the tick's run page: its failure fails the whole tick (nothing reported).
    "5xx_persisting_fails_the_tick": Case(
        [Fault("status", TI_LIST, times=FOREVER, status=500)], "kept answering HTTP 500", requests=ATTEMPTS
    ),
    "429_with_retry_after_is_waited_out": Case(
        [Fault("status", TI_LIST, times=1, status=429, retry_after="2")], requests=2
    ),
    "connection_resets_fail_the_tick": Case(
        [Fault("reset", TI_LIST, times=FOREVER)], "ConnectionError", requests=ATTEMPTS
    ),
    "answers_slower_than_the_timeout_fail_the_tick": Case(
        [Fault("slow", TI_LIST, times=FOREVER, delay=CLIENT_OPTIONS["timeout"] + 1.5)],
        "Timeout",
        requests=ATTEMPTS,
    ),
    "truncated_json_fails_the_tick": Case(
        [Fault("truncate", TI_LIST, times=FOREVER)], "not valid JSON", requests=2
    ),
    "one_truncated_json_is_retried": Case([Fault("truncate", TI_LIST, times=1)], requests=2),
    "connection_dropped_mid_body_fails_the_tick": Case(
        [Fault("cut", TI_LIST, times=FOREVER)], "ChunkedEncodingError", requests=ATTEMPTS
    ),
    "server_gone_fails_the_tick": Case(error="ConnectionError", requests=0, server_down=True),
}


@pytest.mark.parametrize("case_name", list(CASES))
def test_sensor_survives_airflow_fault_and_emits_each_run_exactly_once(
    case_name: str,
    airflow3: LocalAirflow,
    proxy: FaultProxy,
    chain_snapshot,
    finished_runs: FinishedRuns,
) -> None:
    case = CASES[case_name]
    defs = sensor_defs(chain_snapshot, proxied_instance(proxy.url))
    proxy.inject(*case.faults)
    if case.server_down:
        proxy.go_down()
    cursor = finished_runs.cursor
    ticks = []
    with DagsterInstance.ephemeral() as instance:
        started = time.monotonic()
        if case.error:
            with pytest.raises(AirflowSensorError) as failure:
                tick(defs, instance, cursor, NAME)
            message = str(failure.value)
            assert f"instance {NAME!r}" in message and "the cursor did not move" in message, message
            # The failing endpoint is named: an API path, or the login when the server is gone.
            assert re.search(rf"{re.escape(proxy.url)}/(api/v2|auth/token)", message), message
            assert re.search(case.error, message), message
            # Nothing was reported from the failed tick.
            assert materialized_run_ids(instance, MAPPED_KEY) == []
        else:
            ticks.append(tick(defs, instance, cursor, NAME))
            cursor = ticks[-1].cursor
        if case_name.startswith("429"):
            assert time.monotonic() - started >= 1.5  # Retry-After: 2 (with at most 20% jitter)
        assert proxy.count(case.path) == case.requests, dict(proxy.requests_by_path)

        # Recovery: the same stored cursor (or the one the absorbing tick produced) catches everything up.
        proxy.clear()
        if case.server_down:
            proxy.come_back()
        for _ in range(2):
            ticks.append(tick(defs, instance, cursor, NAME))
            cursor = ticks[-1].cursor

        assert_each_run_emitted_exactly_once(make_client(airflow3), finished_runs.run_ids, ticks)
        # The Dagster instance agrees: one stored DAG materialization per succeeded run, no repeats.
        stored = [r for r in materialized_run_ids(instance, DAG_KEY) if r in finished_runs.run_ids]
        assert len(stored) == len(set(stored))
