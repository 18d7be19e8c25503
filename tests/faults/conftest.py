"""Fixtures of the fault scenarios: a fault proxy in front of the shared Airflow 3, finished runs to observe."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from dagster import AssetKey, AssetMaterialization, AssetSpec, DagsterInstance, Definitions
from dagster._core.definitions.sensor_definition import SensorExecutionData

from airlift_components.airflow_api import AirflowClient
from airlift_components.core import (
    AirflowInstance,
    AirflowSnapshot,
    BasicAuthBackend,
    SensorCursor,
    SensorSettings,
    assets_with_task_mappings,
    build_defs_from_snapshot,
    fetch_snapshot,
)
from airlift_components.core.events import AssetEvent
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import instance_for, utcnow
from tests.faults.proxy import FaultProxy

NAME = "faults"
DAG_ID = "simple_chain"
MAPPED_TASK = "third"
MAPPED_KEY = AssetKey("fault_chain_out")
DAG_KEY = AssetKey([NAME, "dag", DAG_ID])
# Small client settings so a failing tick costs seconds, not minutes.
CLIENT_OPTIONS = {"timeout": 3.0, "max_retries": 2, "backoff_seconds": 0.2}


@dataclass(frozen=True)
class FinishedRuns:
    """Runs of ``simple_chain`` that finished before the scenario's first tick, and a cursor from before them."""

    run_ids: tuple[str, ...]
    cursor: str


@pytest.fixture
def proxy(airflow3: LocalAirflow) -> Iterator[FaultProxy]:
    """A fault proxy in front of the shared Airflow 3 (stopped after the test)."""
    with FaultProxy(airflow3.url) as running:
        yield running


@pytest.fixture(scope="session")
def chain_snapshot(airflow3: LocalAirflow) -> AirflowSnapshot:
    """The snapshot of ``simple_chain`` only (fetched once, straight from Airflow), so ticks query one DAG."""
    return fetch_snapshot(
        instance_for(airflow3, NAME), {DAG_ID}, dag_selector_fn=lambda dag: dag.dag_id == DAG_ID
    )


@pytest.fixture(scope="session")
def finished_runs(airflow3: LocalAirflow) -> FinishedRuns:
    """Three finished ``simple_chain`` runs (triggered together) and a cursor that has not seen them."""
    client = make_client(airflow3)
    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    run_ids = [client.trigger_dag_run(DAG_ID).run_id for _ in range(3)]
    wait_for_runs(client, run_ids)
    return FinishedRuns(tuple(run_ids), cursor)


def wait_for_runs(client: AirflowClient, run_ids: list[str], timeout: float = 300) -> None:
    """Block until every run of ``simple_chain`` in ``run_ids`` finished."""
    deadline = time.monotonic() + timeout
    for run_id in run_ids:
        client.wait_for_dag_run(
            DAG_ID, run_id, timeout=max(1.0, deadline - time.monotonic()), poll_interval=1
        )


def proxied_instance(
    url: str, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD, **options: object
) -> AirflowInstance:
    """An AirflowInstance talking to ``url`` (usually a fault proxy) with small timeouts and retries."""
    return AirflowInstance(
        auth_backend=BasicAuthBackend(url, username, password),
        name=NAME,
        api_version="v2",
        **{**CLIENT_OPTIONS, **options},
    )


def sensor_defs(
    snapshot: AirflowSnapshot, instance: AirflowInstance, settings: SensorSettings | None = None
) -> Definitions:
    """What a code location (re)loaded from the cached snapshot builds: the DAG asset, a mapped asset, the sensor."""
    return build_defs_from_snapshot(
        snapshot,
        Definitions(assets=assets_with_task_mappings(DAG_ID, {MAPPED_TASK: [AssetSpec(MAPPED_KEY)]})),
        airflow_instance=instance,
        sensor_settings=settings,
    )


def materialized_run_ids(instance: DagsterInstance, key: AssetKey) -> list[str]:
    """The Airflow run id of every materialization of ``key`` stored in the Dagster instance (repeats kept)."""
    records = instance.fetch_materializations(key, limit=1000).records
    return [
        record.asset_materialization.metadata["airflow/run_id"].value  # type: ignore[union-attr]
        for record in records
    ]


def assert_each_run_emitted_exactly_once(
    client: AirflowClient,
    run_ids: Iterable[str],
    ticks: Iterable[SensorExecutionData | AssetEvent],
    dag_key: AssetKey = DAG_KEY,
    mapped_key: AssetKey = MAPPED_KEY,
) -> None:
    """Compare the events of ``ticks`` (sensor ticks, or asset events) with what Airflow's API says happened to each run.

    Every finished run has exactly one DAG-level event (a materialization if it succeeded, an observation
    if it failed) and the mapped asset is materialized exactly once iff the mapped task succeeded.
    """
    wanted = set(run_ids)
    task_state = {
        ti.run_id: ti.state
        for ti in client.list_task_instances(dag_ids=[DAG_ID], run_ids=sorted(wanted), task_ids=[MAPPED_TASK])
    }
    run_state = {
        run.run_id: run.state for run in client.list_dag_runs(dag_ids=[DAG_ID]) if run.run_id in wanted
    }
    assert set(run_state) == wanted and all(state in ("success", "failed") for state in run_state.values())
    events = [
        event
        for one in ticks
        for event in (one.asset_events if isinstance(one, SensorExecutionData) else [one])
    ]
    for run_id in sorted(wanted):
        of_run = [e for e in events if e.metadata["airflow/run_id"].value == run_id]
        dag_events = [e for e in of_run if e.asset_key == dag_key]
        mapped = [e for e in of_run if e.asset_key == mapped_key and isinstance(e, AssetMaterialization)]
        assert len(dag_events) == 1, (run_id, run_state[run_id], dag_events)
        assert isinstance(dag_events[0], AssetMaterialization) == (run_state[run_id] == "success")
        assert len(mapped) == (1 if task_state.get(run_id) == "success" else 0), (run_id, task_state, mapped)
