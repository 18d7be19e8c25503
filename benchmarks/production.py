"""Catch-up with Dagster on Postgres vs on SQLite, each against Dagster's own storage floor, per Airflow database.

    python -m benchmarks.production --size small          # 100 DAGs x 10 tasks, 500 runs
    python -m benchmarks.production --size full --no-daemon --airflow-db postgres,sqlite
    python -m benchmarks.production --size full --runs 2000

For each Airflow database (``--airflow-db``: ``postgres``, Airflow 3 with LocalExecutor on the throwaway
Postgres this script starts, as in the production profile; ``sqlite``, as in ``make bench``) one seeded
Airflow 3 (``benchmarks.run.start_airflow``: the time to start it, to parse the DAGs and to seed the history
recorded), then for each Dagster storage, side by side in one process:

1. our catch-up (``benchmarks.harness.catch_up``): the sensor ticks from the start of the history until
   caught up, its events stored with ``report_runless_asset_event`` as the sensor daemon stores them, in a
   fresh Dagster storage; the identity check against Airflow's database; the time spent in requests to
   Airflow's REST API;
2. Dagster's storage floor: the very events the catch-up stored, read back and stored again, one call to
   ``instance.report_runless_asset_event`` each, into another fresh storage: nothing of ours runs;
3. what batching Dagster's event log supports (``EventLogStorage.store_event_batch``, 500 events a call),
   for comparison only: the sensor daemon stores a sensor's events one call each, so a sensor cannot use it.

Then (unless ``--no-daemon``; alone with ``--daemon-only``) the production profile of ``tests/deploy/`` with
the sensor in the real daemon at its configured interval: idle ticks as the daemon records them, and the
latency from an Airflow run's end to its event stored in Dagster's Postgres.

Every storage call's SQL statements are counted (SQLAlchemy's ``before_cursor_execute``), so the profile
says what one stored event costs. Results go to ``benchmarks/results/production[-<size>][-runs<N>].json``
(``airflow_db.<database>.<storage>``; ``production-small.json`` predates ``--airflow-db``: its Airflow was
on SQLite and its rows sit at the top level).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from dagster import AssetMaterialization, DagsterInstance, Definitions
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Engine

from airlift_components.core import build_defs_from_airflow_instance
from airlift_components.testing.postgres import LocalPostgres
from benchmarks.harness import RequestCounter, _event_records, resolve
from benchmarks.machine import machine_facts
from benchmarks.ours import instance_for, mapped_assets, scenario_catch_up
from benchmarks.run import BENCH, SIZES, Size, seed, start_airflow
from example_project.deploy.processes import airflow_postgres_env

BATCH = 500
AIRFLOW_DBS = ("postgres", "sqlite")
_PG_ENV = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)
_POSTGRES_YAML = """
storage:
  postgres:
    postgres_db:
      hostname: { env: DAGSTER_PG_HOST }
      port: { env: DAGSTER_PG_PORT }
      username: { env: DAGSTER_PG_USERNAME }
      password: { env: DAGSTER_PG_PASSWORD }
      db_name: { env: DAGSTER_PG_DB }
      scheme: postgresql+psycopg2
telemetry:
  enabled: false
"""


class StatementCounter:
    """Counts the SQL statements every SQLAlchemy engine in this process sends (Dagster's storages use it)."""

    def __init__(self) -> None:
        self.count = 0
        sqlalchemy_event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


class RequestTimer:
    """Sums the wall time of every HTTP request sent through ``requests`` in this process (the body read
    included); a request's redirects are counted within it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        original = requests.Session.send
        timer = self
        depth = [0]

        def timed_send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            started = time.perf_counter()
            try:
                return original(session, request, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:  # a redirect's nested send is already inside the outer call's time
                    timer.seconds += time.perf_counter() - started

        requests.Session.send = timed_send  # type: ignore[method-assign]


@contextmanager
def dagster_instance(kind: str, work: Path, postgres: LocalPostgres, name: str) -> Iterator[DagsterInstance]:
    """A fresh Dagster instance: ``"sqlite"`` (the default local storage) or ``"postgres"`` (a new database)."""
    home = work / name
    home.mkdir(parents=True)
    if kind == "sqlite":
        with DagsterInstance.local_temp(str(home)) as instance:
            yield instance
        return
    postgres.create_database(name)
    os.environ.update(
        {
            "DAGSTER_PG_HOST": postgres.host,
            "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_USERNAME": postgres.username,
            "DAGSTER_PG_PASSWORD": postgres.password,  # read by dagster.yaml's { env: ... }, never written
            "DAGSTER_PG_DB": name,
        }
    )
    (home / "dagster.yaml").write_text(_POSTGRES_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def stored_events(instance: DagsterInstance) -> list[Any]:
    """The asset events stored in ``instance``, in the order they were stored."""
    records = [record for group in _event_records(instance).values() for record in group]
    records.sort(key=lambda record: record.storage_id)
    entries = [record.event_log_entry for record in records]
    return [entry.asset_materialization or entry.asset_observation for entry in entries]


def timed_stores(events: list[Any], store: Callable[[list[Any]], None], statements: StatementCounter) -> dict:
    """Seconds and SQL statements to store ``events`` with ``store`` (given consecutive slices)."""
    before = statements.count
    started = time.perf_counter()
    store(events)
    seconds = time.perf_counter() - started
    sent = statements.count - before
    return {
        "events": len(events),
        "seconds": round(seconds, 3),
        "ms_per_event": round(1000 * seconds / max(len(events), 1), 3),
        "events_per_s": round(len(events) / max(seconds, 1e-9), 1),
        "sql_statements": sent,
        "sql_statements_per_event": round(sent / max(len(events), 1), 2),
    }


def one_call_each(instance: DagsterInstance) -> Callable[[list[Any]], None]:
    """The sensor daemon's way: ``report_runless_asset_event`` per event."""

    def store(events: list[Any]) -> None:
        for one in events:
            instance.report_runless_asset_event(one)

    return store


def batched(instance: DagsterInstance) -> Callable[[list[Any]], None]:
    """``store_event_batch`` over runs of one event type, ``BATCH`` events a call (the daemon never does this)."""
    from dagster import DagsterEvent, DagsterEventType, EventLogEntry
    from dagster._core.events import AssetObservationData, StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    def entry(one: Any) -> EventLogEntry:
        if isinstance(one, AssetMaterialization):
            kind, data = DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(one)
        else:
            kind, data = DagsterEventType.ASSET_OBSERVATION, AssetObservationData(one)
        dagster_event = DagsterEvent(
            event_type_value=kind.value, event_specific_data=data, job_name=RUNLESS_JOB_NAME
        )
        return EventLogEntry(
            error_info=None,
            level="debug",
            user_message="",
            run_id=RUNLESS_RUN_ID,
            timestamp=time.time(),
            dagster_event=dagster_event,
        )

    def store(events: list[Any]) -> None:
        chunk: list[EventLogEntry] = []
        for one in events:
            item = entry(one)
            if chunk and (len(chunk) == BATCH or chunk[-1].dagster_event_type != item.dagster_event_type):
                instance.event_log_storage.store_event_batch(chunk)
                chunk = []
            chunk.append(item)
        if chunk:
            instance.event_log_storage.store_event_batch(chunk)

    return store


def bench_storage(
    kind: str,
    url: str,
    truth: dict[str, Any],
    work: Path,
    postgres: LocalPostgres,
    statements: StatementCounter,
    timer: RequestTimer,
    prefix: str = "",
) -> dict[str, Any]:
    """Our catch-up, then the floor and the batched store of the same events, each in a fresh storage
    (Postgres databases named ``<prefix><kind>_...``)."""
    counter = RequestCounter()
    defs = resolve(
        build_defs_from_airflow_instance(
            airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
        )
    )
    result: dict[str, Any] = {"storage": kind}
    before = machine_facts()
    with dagster_instance(kind, work, postgres, f"{prefix}{kind}_catch_up") as instance:
        sql_before, requests_before = statements.count, timer.seconds
        catch_up, _ = scenario_catch_up(truth, counter, instance, defs)
        catch_up["sql_statements"] = statements.count - sql_before
        catch_up["airflow_request_s"] = round(timer.seconds - requests_before, 2)
        catch_up["dagster_store_ms_per_event"] = round(
            1000 * catch_up["dagster_store_s"] / max(sum(catch_up["events"].values()), 1), 3
        )
        catch_up.pop("sensor_evaluate_s_per_tick", None)
        events = stored_events(instance)
    catch_up["machine"] = {"before": before, "after": machine_facts()}
    result["catch_up"] = catch_up
    with dagster_instance(kind, work, postgres, f"{prefix}{kind}_floor") as instance:
        result["floor_one_call_each"] = timed_stores(events, one_call_each(instance), statements)
    with dagster_instance(kind, work, postgres, f"{prefix}{kind}_batched") as instance:
        result["store_event_batch"] = timed_stores(events, batched(instance), statements)
    floor = result["floor_one_call_each"]["seconds"]
    result["ratio_end_to_end_over_floor"] = round(catch_up["wall_s"] / floor, 2)
    result["ratio_store_over_floor"] = round(catch_up["dagster_store_s"] / floor, 2)
    result["machine_after"] = machine_facts()
    return result


_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 200) { status timestamp endTimestamp } } }
  }
}
"""


def _sensor_ticks(dagster: Any) -> list[dict[str, Any]]:
    ((location, repository),) = dagster.repositories()
    (sensor,) = repository["sensors"]
    selector = {
        "repositoryLocationName": location,
        "repositoryName": repository["name"],
        "sensorName": sensor["name"],
    }
    return dagster.graphql(_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]


def _stored_at(postgres: LocalPostgres, dag_id: str, run_id: str) -> float | None:
    """When the event of ``run_id``'s DAG asset was stored (Dagster's event timestamp), if it was."""
    from dagster import AssetKey

    from example_project import demo

    key = AssetKey(list(demo.dag_asset_key(dag_id))).to_string()
    with postgres.connect("dagster") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch from timestamp) FROM event_logs WHERE asset_key = %s AND event LIKE %s",
            (key, f"%{run_id}%"),
        )
        row = cursor.fetchone()
    return float(row[0]) if row else None


def daemon_profile(work: Path, idle_seconds: float, latency_samples: int) -> dict[str, Any]:
    """Idle ticks and run end -> stored latency with the sensor in the real daemon, on the production profile.

    The deployment of ``tests/deploy/``: Postgres for Dagster and Airflow 3 (LocalExecutor), the code server,
    webserver and daemon from the Procfile; the sensor's interval is the profile's (``defs.yaml``).
    """
    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend
    from airlift_components.testing.local_airflow import (
        ADMIN_PASSWORD,
        ADMIN_USERNAME,
        LocalAirflow,
        free_port,
    )
    from example_project import demo
    from example_project.deploy.processes import (
        DagsterDeployment,
        airflow_postgres_env,
        dagster_postgres_env,
        warm_up_execution_api,
    )

    paths = demo.prepare_workdir(work / "deploy")
    airflow_port, dagster_port = free_port(), free_port()
    result: dict[str, Any] = {"machine_before": machine_facts()}
    with LocalPostgres(log_path=paths.workdir / "logs" / "postgres.log") as postgres:
        postgres.create_database("dagster")
        postgres.create_database("airflow")
        airflow_url = f"http://127.0.0.1:{airflow_port}"
        env = demo.demo_env(
            paths,
            airflow_url=airflow_url,
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
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs triggered here
                **airflow_postgres_env(postgres, database="airflow"),
            },
        )
        dagster = None
        try:
            airflow.start(timeout=900)
            airflow.wait_for_dags([demo.MAPPED_TASK_DAG], timeout=900)
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
            dagster.start().wait_until_loaded(timeout=900)
            client = AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))
            client.set_dag_paused(demo.MAPPED_TASK_DAG, False)
            dagster.ensure_sensors_running()
            started = time.time()
            time.sleep(idle_seconds)  # nothing runs in Airflow meanwhile: every tick is idle
            idle = [
                tick
                for tick in _sensor_ticks(dagster)
                if tick["timestamp"] > started and tick["endTimestamp"] and tick["status"] == "SKIPPED"
            ]
            durations = sorted(tick["endTimestamp"] - tick["timestamp"] for tick in idle)
            starts = sorted(tick["timestamp"] for tick in idle)
            gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
            result["idle_tick"] = {
                "ticks": len(idle),
                "median_s": round(durations[len(durations) // 2], 3) if durations else None,
                "max_s": round(durations[-1], 3) if durations else None,
                "median_interval_s": round(sorted(gaps)[len(gaps) // 2], 1) if gaps else None,
                "note": "tick duration as the daemon records it (start to end, the gRPC call to the code "
                "server and storing the tick included); interval: between tick starts",
            }
            latencies = []
            for _ in range(latency_samples):
                run_id = demo.run_dag(client, demo.MAPPED_TASK_DAG, None, 900)
                end = client.get_dag_run(demo.MAPPED_TASK_DAG, run_id).end_date.timestamp()
                deadline = time.monotonic() + 300
                while (stored := _stored_at(postgres, demo.MAPPED_TASK_DAG, run_id)) is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"run {run_id} not stored by the daemon's sensor within 300 s")
                    time.sleep(0.2)
                latencies.append(round(stored - end, 2))
            result["latency_run_end_to_stored"] = {
                "samples_s": latencies,
                "median_s": sorted(latencies)[len(latencies) // 2] if latencies else None,
                "dag": demo.MAPPED_TASK_DAG,
                "note": "Airflow's run end_date -> the DAG asset event's timestamp in Dagster's Postgres",
            }
        finally:
            if dagster is not None:
                dagster.stop()
            airflow.stop()
    result["machine_after"] = machine_facts()
    return result


def bench_airflow_db(
    database: str,
    size: Size,
    work: Path,
    postgres: LocalPostgres,
    storages: list[str],
    statements: StatementCounter,
    timer: RequestTimer,
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """One Airflow 3 on ``database`` ("postgres": LocalExecutor on ``postgres``; "sqlite"): start, parse and
    seed it (timed), then :func:`bench_storage` per Dagster storage; ``save`` gets the row after each step."""
    if database not in AIRFLOW_DBS:
        raise ValueError(f"--airflow-db: unknown database {database!r} (expected one of {AIRFLOW_DBS})")
    extra_env: dict[str, str] = {}
    if database == "postgres":
        postgres.create_database("airflow")
        extra_env = airflow_postgres_env(postgres, database="airflow")
    timings: dict[str, float] = {}
    row: dict[str, Any] = {"database": database, "machine_before": machine_facts()}
    airflow = start_airflow(3, size, work / "airflow", extra_env, timings)
    try:
        row["executor"] = airflow.env.get("AIRFLOW__CORE__EXECUTOR", "Airflow's default (LocalExecutor)")
        started = time.perf_counter()
        truth = seed(airflow, 3, size, work)
        timings["seed_s"] = round(time.perf_counter() - started, 1)
        row.update({"airflow_version": truth["airflow_version"], "timings": timings})
        row["ground_truth"] = {k: v for k, v in truth.items() if k not in ("run_rows", "mapped_task_rows")}
        row["machine_after_seed"] = machine_facts()
        save(row)
        print(
            f"[bench] Airflow on {database}: started in {timings['start_s']} s, parsed in "
            f"{timings['parse_s']} s, seeded {truth['runs']} runs, {truth['task_instances']} task "
            f"instances in {timings['seed_s']} s",
            flush=True,
        )
        for kind in storages:
            row[kind] = bench_storage(
                kind, airflow.url, truth, work / "dagster", postgres, statements, timer, f"{database}_"
            )
            save(row)
            one = row[kind]
            print(
                f"[bench] Airflow on {database}, Dagster on {kind}: end to end "
                f"{one['catch_up']['events_per_s']} events/s, Airflow requests "
                f"{one['catch_up']['airflow_request_s']} s, store "
                f"{one['catch_up']['dagster_store_ms_per_event']} ms/event, floor "
                f"{one['floor_one_call_each']['ms_per_event']} ms/event, ratio "
                f"{one['ratio_end_to_end_over_floor']}, identities equal "
                f"{one['catch_up']['identity_check']['equal']}",
                flush=True,
            )
    finally:
        airflow.stop()
    row["machine_after"] = machine_facts()
    return row


def main() -> None:
    """Start Postgres and a seeded Airflow per Airflow database, benchmark both storages, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--runs", type=int, default=None, help="another history length at the size's DAG count"
    )
    parser.add_argument("--storages", default="sqlite,postgres", help="Dagster's storages")
    parser.add_argument(
        "--airflow-db",
        default="postgres",
        help="Airflow 3's databases, comma-separated, each its own seeded Airflow: postgres, sqlite",
    )
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="idle time watched on the daemon")
    parser.add_argument("--latency-samples", type=int, default=5)
    parser.add_argument(
        "--no-daemon", action="store_true", help="skip the idle tick and latency on the daemon"
    )
    parser.add_argument(
        "--daemon-only",
        action="store_true",
        help="only the daemon part, added to the size's existing results",
    )
    args = parser.parse_args()
    databases = args.airflow_db.split(",")
    unknown = [database for database in databases if database not in AIRFLOW_DBS]
    if unknown:
        parser.error(f"--airflow-db: unknown {unknown} (expected {', '.join(AIRFLOW_DBS)})")
    size = SIZES[args.size] if args.runs is None else replace(SIZES[args.size], runs=args.runs)
    name = "production" + ("" if args.size == "full" else f"-{args.size}")
    name += "" if args.runs is None else f"-runs{args.runs}"
    out = BENCH / "results" / f"{name}.json"
    statements = StatementCounter()
    timer = RequestTimer()
    if args.daemon_only:
        result = json.loads(out.read_text())
        with tempfile.TemporaryDirectory(prefix="airlift-bench-daemon-") as tmp:
            result["daemon"] = daemon_profile(Path(tmp), args.idle_seconds, args.latency_samples)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"[bench] daemon: {json.dumps(result['daemon'])}; wrote {out.relative_to(BENCH.parent)}",
            flush=True,
        )
        return
    result: dict[str, Any] = {"size": size.__dict__, "machine_before": machine_facts(), "airflow_db": {}}
    with tempfile.TemporaryDirectory(prefix="airlift-bench-production-") as tmp:
        work = Path(tmp)
        with LocalPostgres(log_path=work / "postgres.log") as postgres:
            for database in databases:

                def save(row: dict[str, Any], database: str = database) -> None:
                    result["airflow_db"][database] = row
                    out.write_text(json.dumps(result, indent=2) + "\n")

                save(
                    bench_airflow_db(
                        database,
                        size,
                        work / f"airflow_{database}",
                        postgres,
                        args.storages.split(","),
                        statements,
                        timer,
                        save,
                    )
                )
    for name_ in _PG_ENV:
        os.environ.pop(name_, None)
    if not args.no_daemon:
        with tempfile.TemporaryDirectory(prefix="airlift-bench-daemon-") as tmp:
            result["daemon"] = daemon_profile(Path(tmp), args.idle_seconds, args.latency_samples)
        print(f"[bench] daemon: {json.dumps(result['daemon'])}", flush=True)
    result["machine_after"] = machine_facts()
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"[bench] wrote {out.relative_to(BENCH.parent)}", flush=True)


if __name__ == "__main__":
    main()
