"""Helpers for the core tests: load seed stages, tick a sensor like the daemon does, trigger runs."""

from __future__ import annotations

import time
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData

from airlift_components.airflow_api import AirflowClient, DagRunRecord
from airlift_components.core import AirflowInstance, BasicAuthBackend
from airlift_components.core.cursor import SensorCursor
from airlift_components.core.naming import sensor_name
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow

SEED_STAGES = Path(__file__).resolve().parent / "seed_stages"
SEED_URL = "http://localhost:8080"
SEED_INSTANCE = "airflow_instance_one"


def load_seed_stage(stage: str, airflow: LocalAirflow) -> types.ModuleType:
    """Execute a seed stage file with its Airflow URL pointed at the test Airflow; returns the module."""
    source = (SEED_STAGES / f"{stage}.py").read_text()
    assert SEED_URL in source
    module = types.ModuleType(f"seed_stage_{stage}")
    exec(
        compile(source.replace(SEED_URL, airflow.url), f"seed_stages/{stage}.py", "exec", dont_inherit=True),
        module.__dict__,
    )
    return module


def instance_for(
    airflow: LocalAirflow, name: str = "test_instance", **client_options: object
) -> AirflowInstance:
    """An AirflowInstance for the test Airflow."""
    return AirflowInstance(
        auth_backend=BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD),
        name=name,
        **client_options,
    )


def tick(
    defs: Definitions,
    dagster_instance: DagsterInstance,
    cursor: str | None,
    instance_name: str = SEED_INSTANCE,
    run_checks: bool = True,
) -> SensorExecutionData:
    """Evaluate the instance's sensor once, as the daemon would: report its asset events into the
    Dagster instance, then execute the runs it requests (asset checks)."""
    sensor = defs.resolve_sensor_def(sensor_name(instance_name))
    context = build_sensor_context(instance=dagster_instance, cursor=cursor, definitions=defs)
    data = sensor.evaluate_tick(context)
    for event in data.asset_events:
        dagster_instance.report_runless_asset_event(event)
    if run_checks:
        repository = defs.get_repository_def()
        for request in data.run_requests:
            job = repository.get_job(request.job_name).get_subset(
                asset_selection=set(request.asset_selection or ()),
                asset_check_selection=set(request.asset_check_keys or ()),
            )
            assert job.execute_in_process(instance=dagster_instance).success
    return data


def events_for_run(
    data: SensorExecutionData | Iterable[SensorExecutionData], run_id: str, dag_id: str | None = None
) -> list[AssetMaterialization | AssetObservation]:
    """The events of one Airflow run (by the run id / DAG id in their metadata), across ticks."""
    ticks = [data] if isinstance(data, SensorExecutionData) else list(data)
    found = []
    for one in ticks:
        for event in one.asset_events:
            meta = event.metadata
            if meta["airflow/run_id"].value != run_id:
                continue
            if dag_id is not None and meta["airflow/dag_id"].value != dag_id:
                continue
            found.append(event)
    return found


def keys_of(
    events: Iterable[AssetMaterialization | AssetObservation], kind: type = AssetMaterialization
) -> list[str]:
    """User strings of the asset keys of the events of one kind, in order."""
    return [event.asset_key.to_user_string() for event in events if isinstance(event, kind)]


def dag_key(dag_id: str, instance_name: str = SEED_INSTANCE) -> AssetKey:
    """The DAG asset key."""
    return AssetKey([instance_name, "dag", dag_id])


def run_and_wait(client: AirflowClient, dag_id: str, **trigger_args: object) -> DagRunRecord:
    """Trigger a run and wait until it finishes."""
    run = client.trigger_dag_run(dag_id, **trigger_args)  # type: ignore[arg-type]
    return client.wait_for_dag_run(run.dag_id, run.run_id, timeout=240, poll_interval=0.5)


@contextmanager
def gated_run(client: AirflowClient, dag_id: str) -> Iterator[tuple[DagRunRecord, Callable[[], None]]]:
    """Trigger a run of a DAG whose gated task (tests/dags/core_dags.py) blocks until released.

    Yields the run and ``release()``; the gate is released on exit in any case, so a failing test
    never leaves a task holding a worker slot.
    """
    key = f"core_release_{uuid.uuid4().hex}"
    run = client.trigger_dag_run(dag_id, conf={"release_variable": key})
    try:
        yield run, lambda: client.set_variable(key, "go")
    finally:
        client.set_variable(key, "go")


def wait_for_task_state(
    client: AirflowClient, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 240
) -> None:
    """Poll one task instance of a run until it is in ``state``."""
    deadline = time.monotonic() + timeout
    while not any(
        ti.task_id == task_id and ti.state == state
        for ti in client.list_task_instances(dag_ids=[dag_id], run_ids=[run_id])
    ):
        assert time.monotonic() < deadline, f"task {dag_id}.{task_id} was not {state} within {timeout}s"
        time.sleep(0.5)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(timezone.utc)


def tick_until_caught_up(
    defs: Definitions,
    dagster_instance: DagsterInstance,
    cursor: str | None,
    instance_name: str = SEED_INSTANCE,
    max_ticks: int = 20,
) -> list[SensorExecutionData]:
    """Tick until a tick ends its scan (no budget stop pending); returns every tick's data.

    The shared test Airflow also holds every other test's runs (thousands of task instances from the
    bad-input tests), so one tick's budget may stop before the run under test.
    """
    ticks: list[SensorExecutionData] = []
    for _ in range(max_ticks):
        data = tick(defs, dagster_instance, cursor, instance_name)
        ticks.append(data)
        cursor = data.cursor
        state = SensorCursor.parse(cursor) if cursor else None
        if state is None or state.scan_upper is None:
            return ticks
    raise AssertionError(f"the sensor did not catch up within {max_ticks} ticks")
