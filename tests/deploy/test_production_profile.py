"""The migrate stage on the production profile (``example_project/deploy``), every part real and separate.

One Postgres holds Dagster's storage and Airflow 3's database (LocalExecutor); ``dg utils refresh-defs-state``
stores the Airflow snapshot in the shared defs-state storage; Dagster's code server, webserver and daemon run
as three processes from the Procfile. The tests share one deployment and run in file order. The Dagster side reaches Airflow through a fault proxy, so a test can make
Airflow unreachable from Dagster and count every request Dagster sends.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend
from airlift_components.conventions import EVENT_ID_METADATA_KEY, RUN_TAG_DAG_RUN_ID
from airlift_components.core.cursor import run_identity
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow, free_port
from airlift_components.testing.postgres import LocalPostgres
from example_project import demo
from example_project.dagster_dev import DagsterDev
from example_project.deploy.processes import (
    AIRFLOW_STATE_KEY,
    DagsterDeployment,
    airflow_postgres_env,
    dagster_postgres_env,
    warm_up_execution_api,
)
from tests.faults.proxy import Fault, FaultProxy

TIMEOUT = 600.0
DBT_MODELS = {
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "customers",
    "orders",
    "raw_orders",
    "raw_payments",
}
PROXIED_MAIN = "Dagster (proxied from rebuild_customers_list)"
PROXIED_SUMMARY = "Dagster (proxied from summarize_orders)"

_SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { id status ticks(limit: 100) { status timestamp } } }
  }
}
"""
_STOP_SENSOR = """
mutation Stop($id: String!) { stopSensor(id: $id) { __typename ... on PythonError { message } } }
"""
_RUN_EVENTS = """
query Events($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { eventConnection(afterCursor: null) { events { __typename ... on MessageEvent { message } } } }
  }
}
"""
_SERVED_STATE = """
query { workspaceOrError { ... on Workspace { locationEntries {
  defsStateInfo { keyStateInfo { name info { version } } } } } } }
"""
_RUNS_BY_TAG = """
query Runs($key: String!, $value: String!) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}) {
    ... on Runs { results { runId status } }
  }
}
"""


@dataclass
class Production:
    """The running deployment and what the tests read from it."""

    postgres: LocalPostgres
    airflow: LocalAirflow
    dagster: DagsterDeployment
    airflow_seen_by_dagster: FaultProxy
    paths: demo.DemoPaths
    client: AirflowClient


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    base = tmp_path_factory.mktemp("deploy")
    paths = demo.prepare_workdir(base / "work")
    airflow_port, dagster_port = free_port(), free_port()
    postgres = LocalPostgres(log_path=paths.workdir / "logs" / "postgres.log").start()
    proxy = FaultProxy(f"http://127.0.0.1:{airflow_port}").start()
    airflow = dagster = None
    try:
        postgres.create_database("dagster")
        postgres.create_database("airflow")
        env = demo.demo_env(
            paths,
            airflow_url=proxy.url,
            dagster_url=f"http://127.0.0.1:{dagster_port}",
            stage="migrate",
            form="yaml",
        )
        env.update(dagster_postgres_env(postgres, database="dagster", shared_dir=paths.workdir / "shared"))
        demo.build_dbt_manifest(env)
        airflow = LocalAirflow(
            demo.VENV_BIN / "airflow",
            paths.dags_dir,
            paths.airflow_home,
            port=airflow_port,
            extra_env={
                **env,
                "AIRLIFT_AIRFLOW_URL": f"http://127.0.0.1:{airflow_port}",
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                **airflow_postgres_env(postgres, database="airflow"),
            },
        )
        airflow.start(timeout=TIMEOUT)
        airflow.wait_for_dags([demo.MAIN_DAG, demo.DAG_LEVEL_DAG, demo.MAPPED_TASK_DAG], timeout=TIMEOUT)
        warm_up_execution_api(airflow.url)
        dagster = DagsterDeployment(
            paths.dagster_home,
            env=env,
            webserver_port=dagster_port,
            working_directory=demo.REPO,
            log_dir=paths.workdir / "logs",
            venv_bin=demo.VENV_BIN,
        )
        dagster.refresh_defs_state()
        dagster.start().wait_until_loaded(timeout=TIMEOUT)
        client = AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))
        yield Production(postgres, airflow, dagster, proxy, paths, client)
    finally:
        if dagster is not None:
            dagster.stop()
        if airflow is not None:
            airflow.stop()
        proxy.stop()
        postgres.stop()


def _sensor(production: Production) -> dict:
    ((location, repository),) = production.dagster.repositories()
    (sensor,) = repository["sensors"]
    selector = {
        "repositoryLocationName": location,
        "repositoryName": repository["name"],
        "sensorName": sensor["name"],
    }
    return production.dagster.graphql(_SENSOR, {"selector": selector})["sensorOrError"]["sensorState"]


def _latest_state_version(production: Production) -> str:
    with production.postgres.connect("dagster") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT value FROM kvs WHERE key = '__latest_defs_state_info__'")
        (raw,) = cursor.fetchone()
    from dagster_shared.serdes.objects.models.defs_state_info import DefsStateInfo
    from dagster_shared.serdes.serdes import deserialize_value

    version = deserialize_value(raw, DefsStateInfo).get_version(AIRFLOW_STATE_KEY)
    assert version, f"no defs state version stored for {AIRFLOW_STATE_KEY}"
    return version


def _served_state_version(production: Production) -> str:
    """The state version the code server loaded, as the webserver reports it."""
    (entry,) = production.dagster.graphql(_SERVED_STATE)["workspaceOrError"]["locationEntries"]
    versions = {
        item["name"]: (item["info"] or {}).get("version") for item in entry["defsStateInfo"]["keyStateInfo"]
    }
    return versions[AIRFLOW_STATE_KEY]


def _state_files(production: Production) -> set[str]:
    """The versions stored under the shared directory (one file per version, in a folder named after the key)."""
    folder = re.sub(r"[^A-Za-z0-9._-]", "__", AIRFLOW_STATE_KEY)  # Dagster's sanitising of state keys
    directory = production.paths.workdir / "shared" / "defs_state" / folder
    return {path.name for path in directory.iterdir()} if directory.exists() else set()


def test_migrate_stage_end_to_end_with_the_sensor_in_the_daemon_and_state_refreshed_on_reload(
    production: Production,
) -> None:
    """The demo's migrate stage on Postgres: Airflow runs observed by the daemon's sensor, then proxied runs."""
    dagster = production.dagster
    version_before = _latest_state_version(production)
    assert version_before in _state_files(production)
    assert _served_state_version(production) == version_before
    dagster.ensure_sensors_running()
    rows = demo.run_airflow_stages("migrate", production.paths, production.airflow, dagster, TIMEOUT, "yaml")
    by_asset = {row.asset: row.materialized_by for row in rows}
    assert {by_asset[key] for key in DBT_MODELS} == {PROXIED_MAIN}, by_asset
    assert by_asset["raw_data/raw_customers"] == "Airflow", by_asset
    assert by_asset["customers_csv"] == "Airflow", by_asset
    assert by_asset["order_summary"] == PROXIED_SUMMARY, by_asset
    assert by_asset["airflow_instance_one/dag/rebuild_customers_list"] == "Airflow", by_asset
    # Only the daemon evaluates sensors: its successful ticks are in Postgres.
    ticks = [tick["status"] for tick in _sensor(production)["ticks"]]
    assert "SUCCESS" in ticks, ticks
    # The flip to proxied ran refresh-defs-state before the reload: a new version, stored beside the old one.
    version_after = _latest_state_version(production)
    assert version_after != version_before
    assert _served_state_version(production) == version_after
    assert {version_before, version_after} <= _state_files(production)


def test_proxied_run_goes_through_queue_and_launcher_with_airflow_unreachable_from_dagster(
    production: Production,
) -> None:
    """The run worker and the code server build definitions from the shared state: zero requests to Airflow.

    Runs after the migrate stage, whose dbt models ``summarize_orders`` reads.
    """
    dagster, proxy = production.dagster, production.airflow_seen_by_dagster
    # The sensor is the one part of Dagster that must call Airflow: stopped, so every request counted is another's.
    state = _sensor(production)
    result = dagster.graphql(_STOP_SENSOR, {"id": state["id"]})["stopSensor"]
    assert result["__typename"] == "StopSensorMutationResult", result
    time.sleep(2)  # a tick already under way finishes
    proxy.clear()
    proxy.inject(Fault("status", times=10**9, status=503))
    try:
        run_id = demo.run_dag(production.client, demo.DAG_LEVEL_DAG, None, TIMEOUT)
        runs = dagster.graphql(_RUNS_BY_TAG, {"key": RUN_TAG_DAG_RUN_ID, "value": run_id})
        requests_to_airflow = proxy.count()
    finally:
        proxy.clear()
    ((dagster_run_id, status),) = [(run["runId"], run["status"]) for run in runs["runsOrError"]["results"]]
    assert status == "SUCCESS", f"{dagster.url}/runs/{dagster_run_id} (Airflow run {run_id})"
    assert requests_to_airflow == 0, proxy.requests_by_path
    events = dagster.graphql(_RUN_EVENTS, {"runId": dagster_run_id})["runOrError"]["eventConnection"][
        "events"
    ]
    kinds = [event["__typename"] for event in events]
    # Queued by the webserver; the daemon's run queue hands it to the launcher (starting), and the code server
    # starts a run worker process for it ("Started process for run").
    for kind in ("RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent", "RunSuccessEvent"):
        assert kind in kinds, kinds
    assert kinds.index("RunEnqueuedEvent") < kinds.index("RunStartingEvent") < kinds.index("RunStartEvent")
    assert any("Started process for run" in (event.get("message") or "") for event in events), events


BACKLOG_DAG = demo.MAPPED_TASK_DAG  # peered only: one event per finished run, nothing launched in Dagster
BACKLOG_RUNS = 40
ADDED_DAG = "added_after_the_snapshot"
_ADDED_DAG_FILE = f"""
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="{ADDED_DAG}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task
    def noop() -> None:
        pass

    noop()
"""
_ASSET_KEYS = "query { assetNodes { assetKey { path } } }"


def _stored_events(production: Production, dag_id: str) -> list[tuple[int, str, str]]:
    """(id, event type, ``airlift/event_id``) of every event of the DAG's asset in Dagster's Postgres event log."""
    from dagster import AssetKey
    from dagster._core.events.log import EventLogEntry
    from dagster_shared.serdes.serdes import deserialize_value

    key = AssetKey(list(demo.dag_asset_key(dag_id))).to_string()
    with production.postgres.connect("dagster") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, dagster_event_type, event FROM event_logs WHERE asset_key = %s"
            " AND dagster_event_type IN ('ASSET_MATERIALIZATION', 'ASSET_OBSERVATION') ORDER BY id",
            (key,),
        )
        rows = cursor.fetchall()
    stored = []
    for row_id, kind, raw in rows:
        entry = deserialize_value(raw, EventLogEntry)
        event = entry.asset_materialization or entry.asset_observation
        stored.append((row_id, kind, str(event.metadata[EVENT_ID_METADATA_KEY].value)))
    return stored


def _wait(what: str, check, timeout: float = TIMEOUT, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)


def _finish_runs_by_hand(client: AirflowClient, dag_id: str, run_ids: list[str]) -> None:
    """Queued runs of a paused DAG, marked success (every fourth failed) through Airflow's REST API."""
    for number, run_id in enumerate(run_ids):
        client.trigger_dag_run(dag_id, run_id=run_id)
        state = "failed" if number % 4 == 3 else "success"
        client.request(
            "PATCH",
            client._path(f"/dags/{dag_id}/dagRuns/{run_id}"),
            json={"state": state},
            idempotent=True,
        )


def test_daemon_killed_mid_catch_up_and_restarted_stores_each_finished_run_exactly_once(
    production: Production,
) -> None:
    """SIGKILL of the daemon's process group while the sensor's events are being stored, then a restart.

    Identity check against Airflow's own runs: every finished run of the backlog has exactly one stored
    event with its ``airlift/event_id`` (a materialization if it succeeded, an observation if it failed).
    """
    dagster, client = production.dagster, production.client
    # The sensor stopped (the previous test stops it): the backlog piles up in Airflow meanwhile.
    state = _sensor(production)
    if state["status"] == "RUNNING":
        stopped = dagster.graphql(_STOP_SENSOR, {"id": state["id"]})["stopSensor"]
        assert stopped["__typename"] == "StopSensorMutationResult", stopped
    client.set_dag_paused(BACKLOG_DAG, True)  # its runs stay queued until marked, no task runs
    run_ids = [f"backlog_{number:03d}" for number in range(BACKLOG_RUNS)]
    _finish_runs_by_hand(client, BACKLOG_DAG, run_ids)
    runs = {run.run_id: run for run in client.list_dag_runs(dag_ids=[BACKLOG_DAG]) if run.run_id in run_ids}
    assert sorted(runs) == run_ids and {run.state for run in runs.values()} == {"success", "failed"}
    expected = {run_identity(run): run.state for run in runs.values()}

    def of_backlog() -> list[tuple[int, str, str]]:
        return [row for row in _stored_events(production, BACKLOG_DAG) if row[2] in expected]

    assert of_backlog() == []
    dagster.ensure_sensors_running()
    stored_at_kill = len(_wait("the sensor's first backlog event", of_backlog, interval=0.02))
    os.killpg(dagster.pid("daemon"), signal.SIGKILL)
    dagster.stop_process("daemon")  # reaps it
    assert stored_at_kill < BACKLOG_RUNS, "the kill came after the catch-up: it tested nothing"
    dagster.start_process("daemon")
    _wait("every backlog run stored", lambda: {row[2] for row in of_backlog()} == set(expected))
    # A later tick re-reads the overlap window: it must not store anything again. (A tick that reports
    # only asset events ends SKIPPED: Dagster's tick status counts run requests.)
    caught_up = time.time()
    _wait(
        "a finished tick after the catch-up",
        lambda: any(
            tick["status"] in ("SUCCESS", "SKIPPED") and tick["timestamp"] > caught_up
            for tick in _sensor(production)["ticks"]
        ),
    )
    stored = of_backlog()
    by_identity: dict[str, list[str]] = {}
    for _, kind, identity in stored:
        by_identity.setdefault(identity, []).append(kind)
    duplicated = {identity: kinds for identity, kinds in by_identity.items() if len(kinds) > 1}
    assert duplicated == {}, f"stored more than once after the kill ({stored_at_kill} stored at it)"
    for identity, state in expected.items():
        wanted = "ASSET_MATERIALIZATION" if state == "success" else "ASSET_OBSERVATION"
        assert by_identity[identity] == [wanted], (identity, state)


def test_refreshed_state_is_served_only_after_a_reload_then_by_webserver_and_daemon(
    production: Production,
) -> None:
    """A DAG added in Airflow: ``refresh-defs-state`` stores a new version, the running code server keeps the
    old one (no asset for the DAG) until the location is reloaded; then the webserver lists the DAG's asset
    and the sensor in the daemon stores the event of its first finished run."""
    dagster, client = production.dagster, production.client
    (production.paths.dags_dir / f"{ADDED_DAG}.py").write_text(_ADDED_DAG_FILE)
    production.airflow.wait_for_dags([ADDED_DAG], timeout=TIMEOUT)
    added_key = list(demo.dag_asset_key(ADDED_DAG))

    def asset_keys() -> list[list[str]]:
        return [node["assetKey"]["path"] for node in dagster.graphql(_ASSET_KEYS)["assetNodes"]]

    served_before = _served_state_version(production)
    assert added_key not in asset_keys()
    dagster.refresh_defs_state((AIRFLOW_STATE_KEY,))
    refreshed = _latest_state_version(production)
    assert refreshed != served_before and refreshed in _state_files(production)
    # The running code server keeps serving what it loaded.
    assert _served_state_version(production) == served_before
    assert added_key not in asset_keys()
    DagsterDev.reload_locations(dagster)  # the webserver's "Reload": no second refresh
    assert _served_state_version(production) == refreshed
    assert added_key in asset_keys()
    run = client.trigger_dag_run(ADDED_DAG, run_id="first_after_reload")
    client.request(
        "PATCH",
        client._path(f"/dags/{ADDED_DAG}/dagRuns/{run.run_id}"),
        json={"state": "success"},
        idempotent=True,
    )
    (finished,) = [r for r in client.list_dag_runs(dag_ids=[ADDED_DAG]) if r.run_id == run.run_id]
    _wait(
        f"the daemon's sensor storing {ADDED_DAG}'s run",
        lambda: [row[2] for row in _stored_events(production, ADDED_DAG)] == [run_identity(finished)],
    )


def test_postgres_password_appears_in_no_log_of_any_process(production: Production) -> None:
    """Dagster's and Airflow's processes got the password from the environment; none of them logged it."""
    password = production.postgres.password
    logs = [
        *(production.paths.workdir / "logs").glob("*.log"),
        *production.paths.airflow_home.rglob("*.log"),
    ]
    assert len(logs) > 5, logs
    leaked = [str(path) for path in logs if password in path.read_text(errors="replace")]
    assert leaked == []
