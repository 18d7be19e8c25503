"""`make demo`: the migration tutorial, run for real on this machine.

1. ``dbt parse`` builds the dbt manifest the Dagster definitions read (not for ``migrate_zero_code``).
2. Airflow 3 starts on 127.0.0.1:8080 (admin/admin) with a working copy of ``example_project/airflow_dags``
   under ``.demo/`` (the repository's files are never edited), and ``dagster dev`` on 127.0.0.1:3000
   with the stage picked by ``--stage`` (default ``migrate``).
3. ``rebuild_customers_list`` runs in Airflow; the demo waits until Dagster shows its assets materialized.
4. ``build_dbt_models`` is flipped to ``proxied: True`` (the whole DAG for ``migrate_dag_level``, all three
   tasks for ``migrate_zero_code``), Airflow reparses, Dagster reloads, and the DAG runs again: now the dbt
   models (for ``migrate_zero_code``: the tasks' own Airflow code) run in Dagster.
5. A table shows, per asset, which side materialized it last and a link to the run. ``migrate_zero_code``
   also compares the side effects (DuckDB tables, ``customers.csv``) of the proxied run with the Airflow run's.

With ``--deploy postgres`` (``make demo DEPLOY=postgres``) the migrate stage runs on the production profile of
``example_project/deploy/``: a throwaway Postgres holds Airflow's and Dagster's databases, Airflow runs with
LocalExecutor, ``dg utils refresh-defs-state`` stores the Airflow snapshot in the shared defs-state storage,
and Dagster's code server, webserver and daemon run as separate processes (the sensor runs in the daemon,
proxied runs are queued and launched into run workers).

Both UIs stay up until Ctrl-C; ``--once`` exits after the table. Every process started here runs in
its own process group and is stopped on exit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import yaml

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend
from airlift_components.conventions import (
    ENV_DAGSTER_URL,
    ENV_INSTANCE_NAME,
    PROXY_MARKER_FIELD,
    PROXY_TARGETS_METADATA_KEY,
    RUN_TAG_DAG_ID,
)
from airlift_components.core.zero_code_warm import WARM_DIR_ENV, stop_warm_servers
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from example_project.components import COMPONENT_STAGES
from example_project.dagster_defs.stages import DEFAULT_STAGE, STAGE_FORMS, STAGES
from example_project.dagster_dev import AssetKeyPath, DagsterDev, Materialization
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME, DUCKDB_DATABASE_NAME

EXAMPLE_DIR = Path(__file__).resolve().parent
REPO = EXAMPLE_DIR.parent
VENV_BIN = REPO / ".venv" / "bin"
DBT_PROJECT = EXAMPLE_DIR / "dbt"
DEFS_FILE = EXAMPLE_DIR / "dagster_defs" / "definitions.py"

MAIN_DAG = "rebuild_customers_list"
DBT_TASK = "build_dbt_models"
DAG_LEVEL_DAG = "summarize_orders"  # proxied as a whole DAG; Dagster assets only in the migrate stages
MAPPED_TASK_DAG = "audit_csv_files"  # has a dynamic (mapped) task; peered as a DAG asset
# What the second run proxies, per stage: a task, the whole DAG, or nothing (no executable assets).
PROXY_MODE = {
    "observe": "task",
    "observe_with_partitions": "task",
    "migrate": "task",
    "migrate_with_check": "task",
    "migrate_dag_level": "dag",
    "migrate_zero_code": "all_tasks",
}
MIGRATE_STAGES = {"migrate", "migrate_dag_level", "migrate_with_check", "migrate_zero_code"}
# Stages whose proxied run is compared, side effect by side effect, with the Airflow run before it.
SIDE_EFFECT_STAGES = {"migrate_zero_code"}
# Stages whose definitions read no dbt manifest (Airflow's own `dbt build` task does not need one).
NO_DBT_ASSET_STAGES = {"migrate_zero_code"}
# Stages with the `validate_exported_csv` asset check, and the asset it targets.
CHECKED_ASSET = {
    "peer_with_check": (AIRFLOW_INSTANCE_NAME, "dag", MAIN_DAG),
    "migrate_with_check": ("customers_csv",),
}
CHECK_NAME = "validate_exported_csv"
STANDALONE_JOB = "__anonymous_asset_job_rebuild_customers_list_schedule"

T = TypeVar("T")
_STARTED = time.monotonic()
_GUARDS: list[Callable[[], None]] = []


def watch_processes(airflow: LocalAirflow | None, dagster: DagsterDev) -> None:
    """Make every wait fail fast, with the dead process's log, if Airflow or dagster dev stops."""

    _GUARDS[:] = [dagster.check_alive] if airflow is None else [airflow.check_alive, dagster.check_alive]


def progress(message: str) -> None:
    """One line of progress, with the time since the demo started."""
    print(f"[demo {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 2.0,
    status: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy; print progress every 15 s; fail after ``timeout``.

    Fails at once if a process the demo started has died (see :func:`watch_processes`).
    """
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 15
    while True:
        for guard in _GUARDS:
            guard()
        result = check()
        if result:
            return result
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"Timed out after {timeout:.0f}s waiting for {what}")
        if now > next_note:
            progress(f"... still waiting for {what}" + (f": {status()}" if status else ""))
            next_note = now + 15
        time.sleep(interval)


@dataclass(frozen=True)
class DemoPaths:
    """Everything the demo writes lives under ``workdir`` (``.demo/`` by default)."""

    workdir: Path

    @property
    def example_dir(self) -> Path:
        """``TUTORIAL_EXAMPLE_DIR`` of the demo: holds the DAGs working copy and the exported CSVs."""
        return self.workdir / "example"

    @property
    def dags_dir(self) -> Path:
        """The working copy of the DAGs folder that Airflow reads and the demo edits."""
        return self.example_dir / "example_project" / "airflow_dags"

    @property
    def airflow_home(self) -> Path:
        """``AIRFLOW_HOME`` (SQLite database, logs, and the DuckDB file)."""
        return self.workdir / "airflow_home"

    @property
    def dagster_home(self) -> Path:
        """``DAGSTER_HOME``."""
        return self.workdir / "dagster_home"

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file shared by Airflow tasks, dbt and Dagster assets."""
        return self.airflow_home / f"{DUCKDB_DATABASE_NAME}.duckdb"

    @property
    def dbt_project(self) -> Path:
        """The demo's own copy of the dbt project: its target/ never races with tests or another demo."""
        return self.workdir / "dbt"

    @property
    def customers_csv(self) -> Path:
        """What ``export_customers`` writes."""
        return self.example_dir / "customers.csv"


def prepare_workdir(workdir: Path) -> DemoPaths:
    """Start from a clean slate under ``workdir`` and copy the DAGs folder into it."""
    paths = DemoPaths(workdir.resolve())
    for directory in (
        paths.example_dir,
        paths.airflow_home,
        paths.dagster_home,
        paths.dbt_project,
        paths.workdir / "logs",
    ):
        shutil.rmtree(directory, ignore_errors=True)
    (paths.workdir / "summary.json").unlink(missing_ok=True)
    shutil.copytree(
        EXAMPLE_DIR / "airflow_dags", paths.dags_dir, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(
        DBT_PROJECT,
        paths.dbt_project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal"),
    )
    return paths


def demo_env(
    paths: DemoPaths, *, airflow_url: str, dagster_url: str, stage: str, form: str = "python"
) -> dict[str, str]:
    """The environment shared by Airflow, ``dagster dev`` and dbt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        {
            "PATH": str(VENV_BIN) + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
            "TUTORIAL_EXAMPLE_DIR": str(paths.example_dir),
            "TUTORIAL_DBT_PROJECT_DIR": str(paths.dbt_project),
            "AIRFLOW_HOME": str(paths.airflow_home),
            "AIRLIFT_DUCKDB_PATH": str(paths.duckdb_path),
            "AIRLIFT_AIRFLOW_URL": airflow_url,
            "AIRLIFT_STAGE": stage,
            "AIRLIFT_STAGE_FORM": form,
            ENV_DAGSTER_URL: dagster_url,
            ENV_INSTANCE_NAME: AIRFLOW_INSTANCE_NAME,
        }
    )
    return env


def build_dbt_manifest(env: dict[str, str]) -> Path:
    """``dbt parse`` the demo's copy of the dbt project (offline: no packages); returns the manifest path."""
    result = subprocess.run(
        [
            str(VENV_BIN / "dbt"),
            "parse",
            "--project-dir",
            env["TUTORIAL_DBT_PROJECT_DIR"],
            "--profiles-dir",
            env["TUTORIAL_DBT_PROJECT_DIR"],
        ],
        cwd=env["TUTORIAL_DBT_PROJECT_DIR"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return Path(env["TUTORIAL_DBT_PROJECT_DIR"]) / "target" / "manifest.json"


def flip_to_proxied(dags_dir: Path, mode: str) -> None:
    """Mark ``build_dbt_models`` (``mode="task"``), every task (``"all_tasks"``) or the whole DAG (``"dag"``)
    proxied in the working copy."""
    state_file = dags_dir / "proxied_state" / f"{MAIN_DAG}.yaml"
    if mode == "dag":
        state: dict = {"proxied": True}
    else:
        state = yaml.safe_load(state_file.read_text())
        for task in state["tasks"]:
            if mode == "all_tasks" or task["id"] == DBT_TASK:
                task["proxied"] = True
    state_file.write_text(yaml.safe_dump(state, sort_keys=False))
    # Make sure the DAG processor sees a changed file, whatever its change detection.
    (dags_dir / "dags.py").touch()


def proxied_in_airflow(client: AirflowClient, mode: str) -> bool:
    """Whether Airflow's parsed DAG already reflects the flip."""
    tasks = client.list_tasks(MAIN_DAG)
    if mode == "dag":
        return all(PROXY_MARKER_FIELD in task.template_fields for task in tasks) and len(tasks) == 1
    if mode == "all_tasks":
        return len(tasks) == 3 and all(PROXY_MARKER_FIELD in task.template_fields for task in tasks)
    return any(task.task_id == DBT_TASK and PROXY_MARKER_FIELD in task.template_fields for task in tasks)


def dag_asset_key(dag_id: str) -> AssetKeyPath:
    """The key of the asset that represents a DAG."""
    return (AIRFLOW_INSTANCE_NAME, "dag", dag_id)


def assets_mapped_to(dagster: DagsterDev, dag_id: str) -> list[AssetKeyPath]:
    """Keys of the assets mapped to ``dag_id`` (task- or DAG-level).

    Read from the DAG asset's ``airlift/proxy_targets`` metadata, which lists mappings made in Python
    (``assets_with_task_mappings``) and in YAML (``by_key`` onto assets defined elsewhere) alike.
    """
    metadata = dagster.asset_metadata().get(dag_asset_key(dag_id), {})
    if PROXY_TARGETS_METADATA_KEY not in metadata:
        return []
    targets = json.loads(metadata[PROXY_TARGETS_METADATA_KEY])
    paths = [*targets["dag"], *(path for paths in targets["tasks"].values() for path in paths)]
    return sorted({tuple(path) for path in paths})


def materialized_since(
    dagster: DagsterDev, keys: Sequence[AssetKeyPath], since: float
) -> dict[AssetKeyPath, Materialization] | None:
    """The latest materializations if every key has one newer than ``since`` (epoch seconds), else None."""
    latest = dagster.latest_materializations(keys)
    if all(key in latest and latest[key].timestamp >= since for key in keys):
        return latest
    return None


@dataclass(frozen=True)
class AssetRow:
    """One line of the final table."""

    asset: str
    materialized_by: str  # "Airflow" or "Dagster"
    partition: str | None
    link: str


def describe_materializations(
    dagster: DagsterDev, keys: Sequence[AssetKeyPath], airflow_url: str
) -> list[AssetRow]:
    """Who materialized each asset last: a Dagster run (proxied or scheduled) or Airflow (via the sensor)."""
    latest = dagster.latest_materializations(keys)
    runs = dagster.runs([m.run_id for m in latest.values()])
    rows = []
    for key in keys:
        event = latest.get(key)
        name = "/".join(key)
        if event is None:
            rows.append(AssetRow(name, "-", None, "never materialized"))
            continue
        run = runs.get(event.run_id)
        if run is not None:
            via = f" (proxied from {run.tags[RUN_TAG_DAG_ID]})" if RUN_TAG_DAG_ID in run.tags else ""
            rows.append(AssetRow(name, "Dagster" + via, event.partition, f"{dagster.url}/runs/{run.run_id}"))
        else:
            link = event.metadata.get("airflow/url") or f"{airflow_url}/dags/{key[-1]}"
            rows.append(AssetRow(name, "Airflow", event.partition, link))
    return rows


def print_table(rows: Sequence[AssetRow]) -> None:
    """Print the asset table."""
    width = max([len(row.asset) for row in rows] + [5])
    by_width = max([len(row.materialized_by) for row in rows] + [15])
    print()
    print(f"{'asset':<{width}}  {'materialized by':<{by_width}}  {'partition':<10}  run")
    print(f"{'-' * width}  {'-' * by_width}  {'-' * 10}  {'-' * 3}")
    for row in rows:
        print(
            f"{row.asset:<{width}}  {row.materialized_by:<{by_width}}  {row.partition or '-':<10}  {row.link}"
        )
    print(flush=True)


def write_summary(
    paths: DemoPaths, stage: str, entry: str, value: Sequence[AssetRow] | dict[str, object]
) -> None:
    """Record a table (or the check result) in ``<workdir>/summary.json`` (what the end-to-end tests read)."""
    summary_file = paths.workdir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"stage": stage}
    summary[entry] = value if isinstance(value, dict) else [asdict(row) for row in value]
    summary["customers_csv"] = str(paths.customers_csv)
    summary["seconds"] = round(time.monotonic() - _STARTED, 1)
    summary_file.write_text(json.dumps(summary, indent=2))


def logical_dates(stage: str, form: str = "python") -> tuple[datetime, datetime]:
    """Logical dates of the two runs: two consecutive midnights for the partitioned stage, else now-ish.

    The Python stage lets today's partition exist (``end_offset=1``): yesterday and today. Dagster's YAML
    partition models have no ``end_offset``, so the YAML stage's last partition is yesterday's: the day
    before yesterday and yesterday.
    """
    if stage == "observe_with_partitions":
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        if form == "yaml":
            midnight -= timedelta(days=1)
        return midnight - timedelta(days=1), midnight
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return now - timedelta(minutes=1), now


def trigger(client: AirflowClient, dag_id: str, logical_date: datetime | None) -> str:
    """Trigger a DAG run and return its run id."""
    run = client.trigger_dag_run(dag_id, logical_date=logical_date)
    progress(f"Triggered {dag_id} run {run.run_id}")
    return run.run_id


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> str:
    """``task=state`` pairs of one run, for progress lines."""
    instances = client.list_task_instances(dag_ids=[dag_id], run_ids=[run_id])
    return ", ".join(
        f"{ti.task_id}{f'[{ti.map_index}]' if ti.map_index >= 0 else ''}={ti.state or 'none'}"
        for ti in instances
    )


def wait_for_success(client: AirflowClient, dag_id: str, run_id: str, timeout: float) -> None:
    """Wait for an Airflow run; fail, naming the tasks that did not succeed, unless it succeeds."""

    def finished() -> str | None:
        state = client.get_dag_run(dag_id, run_id).state
        return state if state in {"success", "failed"} else None

    state = wait_for(
        f"Airflow run {dag_id}/{run_id}",
        finished,
        timeout=timeout,
        status=lambda: task_states(client, dag_id, run_id),
    )
    if state != "success":
        raise RuntimeError(
            f"Airflow run {dag_id}/{run_id} ended {state}: {task_states(client, dag_id, run_id)}"
        )
    progress(f"Airflow run {dag_id}/{run_id} succeeded")


def run_dag(client: AirflowClient, dag_id: str, logical_date: datetime | None, timeout: float) -> str:
    """Trigger a DAG run, wait for it and fail unless it succeeds; return the run id."""
    run_id = trigger(client, dag_id, logical_date)
    wait_for_success(client, dag_id, run_id, timeout)
    return run_id


def side_effects(paths: DemoPaths) -> dict[str, str] | None:
    """Row count and content digest of every DuckDB table, and of ``customers.csv``; None while the
    DuckDB file is locked by a writer."""
    import duckdb

    effects: dict[str, str] = {}
    try:
        with duckdb.connect(str(paths.duckdb_path), read_only=True) as connection:
            tables = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
            ).fetchall()
            for schema, table in tables:
                rows = sorted(map(repr, connection.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()))
                digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
                effects[f"duckdb {schema}.{table}"] = f"{len(rows)} rows, sha256 {digest}"
    except duckdb.IOException:
        return None
    if paths.customers_csv.exists():
        data = paths.customers_csv.read_bytes()
        lines = len(data.splitlines())
        effects[paths.customers_csv.name] = f"{lines} lines, sha256 {hashlib.sha256(data).hexdigest()[:16]}"
    return effects


def compare_side_effects(airflow_run: dict[str, str], proxied_run: dict[str, str]) -> dict:
    """Print and return the side effects of both runs, and whether they are the same."""
    match = airflow_run == proxied_run
    for name in sorted({*airflow_run, *proxied_run}):
        before, after = airflow_run.get(name, "missing"), proxied_run.get(name, "missing")
        verdict = "same" if before == after else f"DIFFERENT (Airflow run: {before})"
        progress(f"  {name}: {after} -- {verdict}")
    progress(
        "Side effects of the proxied run "
        + ("match the Airflow run's" if match else "differ from the Airflow run's")
    )
    return {"airflow_run": airflow_run, "proxied_run": proxied_run, "match": match}


def run_airflow_stages(
    stage: str,
    paths: DemoPaths,
    airflow: LocalAirflow,
    dagster: DagsterDev,
    timeout: float,
    form: str = "python",
) -> list[AssetRow]:
    """Steps 3 to 5 for every stage that peers to Airflow; returns the final table."""
    client = AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))
    sensors = dagster.ensure_sensors_running()
    progress(f"Dagster sensors running: {', '.join(sensors) or 'none'}")
    main_keys = [dag_asset_key(MAIN_DAG), *assets_mapped_to(dagster, MAIN_DAG)]
    progress(f"Assets to watch for {MAIN_DAG}: {len(main_keys)}")

    first_date, second_date = logical_dates(stage, form)
    # Recorded so that a reader (and the end-to-end test) compares partitions with these, not with "today".
    write_summary(
        paths,
        stage,
        "logical_dates",
        {"first_run": first_date.isoformat(), "second_run": second_date.isoformat()},
    )
    started = time.time()
    # The mapped-task DAG and the tutorial DAG share nothing, so they run side by side.
    mapped_run = trigger(client, MAPPED_TASK_DAG, None)
    main_run = trigger(client, MAIN_DAG, first_date)
    wait_for_success(client, MAPPED_TASK_DAG, mapped_run, timeout)
    wait_for_success(client, MAIN_DAG, main_run, timeout)
    progress("Waiting for the sensor to report the Airflow runs as materializations in Dagster ...")
    wait_for(
        "Dagster materializations of the first run",
        lambda: materialized_since(dagster, [*main_keys, dag_asset_key(MAPPED_TASK_DAG)], started),
        timeout=timeout,
    )
    first_table = describe_materializations(dagster, main_keys, airflow.url)
    print_table(first_table)
    write_summary(paths, stage, "first_run", first_table)
    if stage in SIDE_EFFECT_STAGES:
        airflow_effects = wait_for("the DuckDB file", lambda: side_effects(paths), timeout=timeout)
        # Removed, so that a match proves the proxied run wrote them anew.
        for path in (paths.duckdb_path, Path(f"{paths.duckdb_path}.wal"), paths.customers_csv):
            path.unlink(missing_ok=True)
        progress(
            f"Recorded the Airflow run's side effects ({len(airflow_effects)}) and removed "
            f"{paths.duckdb_path.name} and {paths.customers_csv.name}: the proxied run must write them again"
        )

    keys = [*main_keys, dag_asset_key(MAPPED_TASK_DAG)]
    mode = PROXY_MODE.get(stage)
    if mode is None:
        progress(f"Stage {stage} has no executable assets for {MAIN_DAG}: nothing to proxy")
    else:
        what = {"task": DBT_TASK, "all_tasks": f"every task of {MAIN_DAG}"}.get(
            mode, f"the whole {MAIN_DAG} DAG"
        )
        progress(f"Flipping {what} to proxied in {paths.dags_dir / 'proxied_state' / (MAIN_DAG + '.yaml')}")
        flip_to_proxied(paths.dags_dir, mode)
        wait_for(f"Airflow to reparse {MAIN_DAG}", lambda: proxied_in_airflow(client, mode), timeout=timeout)
        progress("Airflow shows the proxied state; reloading the Dagster code location ...")
        dagster.reload_locations()
        started = time.time()
        second_run = run_dag(client, MAIN_DAG, second_date, timeout)
        wait_for(
            "Dagster materializations of the second run",
            lambda: materialized_since(dagster, main_keys, started),
            timeout=timeout,
        )
        if stage in SIDE_EFFECT_STAGES:
            states = task_states(client, MAIN_DAG, second_run)
            progress(f"Airflow task states of the proxied run: {states}")
            proxied_effects = wait_for("the DuckDB file", lambda: side_effects(paths), timeout=timeout)
            comparison = compare_side_effects(airflow_effects, proxied_effects)
            write_summary(paths, stage, "side_effects", {**comparison, "airflow_tasks": states})
    if stage in MIGRATE_STAGES:
        # summarize_orders is proxied as a whole DAG by the repository's own proxied state.
        summary_keys = [dag_asset_key(DAG_LEVEL_DAG), *assets_mapped_to(dagster, DAG_LEVEL_DAG)]
        started = time.time()
        run_dag(client, DAG_LEVEL_DAG, None, timeout)
        wait_for(
            f"Dagster materializations of {DAG_LEVEL_DAG}",
            lambda: materialized_since(dagster, summary_keys, started),
            timeout=timeout,
        )
        keys += summary_keys
        if stage in SIDE_EFFECT_STAGES:
            summary_csv = paths.example_dir / "order_summary.csv"
            lines = summary_csv.read_text().splitlines() if summary_csv.exists() else []
            progress(f"{summary_csv}: {len(lines) - 1 if lines else 'missing'} order statuses")
            write_summary(paths, stage, "order_summary_csv", {"path": str(summary_csv), "lines": lines})
    return describe_materializations(dagster, keys, airflow.url)


def wait_for_check(dagster: DagsterDev, stage: str, timeout: float) -> dict[str, str]:
    """Wait until the stage's asset check has run (the sensor requests it after Airflow's work)."""
    asset_key = CHECKED_ASSET[stage]

    def finished() -> tuple[str, str] | None:
        execution = dagster.latest_check_execution(asset_key, CHECK_NAME)
        return execution if execution and execution[0] != "IN_PROGRESS" else None

    status, run_id = wait_for(f"asset check {CHECK_NAME} on {'/'.join(asset_key)}", finished, timeout=timeout)
    link = f"{dagster.url}/runs/{run_id}"
    progress(f"Asset check {CHECK_NAME} on {'/'.join(asset_key)}: {status} ({link})")
    return {"asset": "/".join(asset_key), "check": CHECK_NAME, "status": status, "link": link}


def run_standalone(dagster: DagsterDev, timeout: float) -> list[AssetRow]:
    """Decommissioned: no Airflow; run what the Dagster schedule runs, once, now."""
    progress(f"Launching {STANDALONE_JOB} (the target of rebuild_customers_list_schedule) in Dagster ...")
    run_id = dagster.launch_job(STANDALONE_JOB)
    run = dagster.wait_for_run(run_id, timeout=timeout)
    if run.status != "SUCCESS":
        raise RuntimeError(f"Dagster run {dagster.url}/runs/{run_id} ended {run.status}")
    keys = sorted(dagster.asset_metadata())
    return describe_materializations(dagster, keys, "")


def ensure_port_free(port: int, option: str) -> None:
    """Fail early, naming the option to change, when something already listens on ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(
                f"Port {port} on 127.0.0.1 is already in use: stop that process or pass {option} PORT"
            )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description="Run the Airflow-to-Dagster migration tutorial locally.")
    parser.add_argument("--stage", default=DEFAULT_STAGE, choices=STAGES, help="Dagster definitions to load")
    parser.add_argument(
        "--form",
        default="python",
        choices=STAGE_FORMS,
        help="python: dagster_defs/stages/<stage>.py; yaml: components/<stage>/ (every stage but standalone)",
    )
    parser.add_argument("--once", action="store_true", help="exit after printing the table")
    parser.add_argument("--airflow-port", type=int, default=8080)
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".demo", help="where the demo writes everything"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for each wait")
    parser.add_argument(
        "--deploy",
        default="sqlite",
        choices=("sqlite", "postgres"),
        help="sqlite: dagster dev and Airflow on SQLite; postgres: the production profile (example_project/deploy)",
    )
    args = parser.parse_args(argv)
    if args.deploy == "postgres" and args.stage != "migrate":
        parser.error("--deploy postgres runs the migrate stage only (example_project/deploy/defs)")
    if args.form == "yaml" and args.stage not in COMPONENT_STAGES:
        parser.error(f"--stage {args.stage} has no YAML form; choose one of: {', '.join(COMPONENT_STAGES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; see the module docstring."""
    args = parse_args(argv)
    if args.stage != "standalone":
        ensure_port_free(args.airflow_port, "--airflow-port")
    ensure_port_free(args.dagster_port, "--dagster-port")
    paths = prepare_workdir(args.workdir)
    airflow_url = f"http://127.0.0.1:{args.airflow_port}"
    dagster_url = f"http://127.0.0.1:{args.dagster_port}"
    env = demo_env(paths, airflow_url=airflow_url, dagster_url=dagster_url, stage=args.stage, form=args.form)
    # The zero-code stage's warm runner server is the demo's own: its own directory, stopped at the end.
    warm_dir = Path(tempfile.mkdtemp(prefix="airlift-demo-zcw-"))
    env[WARM_DIR_ENV] = str(warm_dir)
    profile = (
        "production profile example_project/deploy" if args.deploy == "postgres" else f"{args.form} form"
    )
    progress(f"Stage {args.stage} ({profile}); everything is written under {paths.workdir}")

    if args.stage in NO_DBT_ASSET_STAGES:
        progress(f"Stage {args.stage} has no dbt assets: no dbt manifest to build")
    else:
        progress("Building the dbt manifest (dbt parse) ...")
        progress(f"Manifest ready: {build_dbt_manifest(env)}")

    airflow: LocalAirflow | None = None
    postgres = None
    airflow_env: dict[str, str] = {}
    if args.deploy == "postgres":
        from airlift_components.testing.postgres import LocalPostgres
        from example_project.deploy.processes import (
            DagsterDeployment,
            airflow_postgres_env,
            dagster_postgres_env,
            warm_up_execution_api,
        )

        postgres = LocalPostgres(log_path=paths.workdir / "logs" / "postgres.log").start()
        progress(f"Postgres started on {postgres.host}:{postgres.port} (databases dagster and airflow)")
        try:
            postgres.create_database("dagster")
            postgres.create_database("airflow")
        except BaseException:
            postgres.stop()
            raise
        airflow_env = airflow_postgres_env(postgres, database="airflow")
        shared_dir = paths.workdir / "shared"
        shutil.rmtree(shared_dir, ignore_errors=True)
        env.update(dagster_postgres_env(postgres, database="dagster", shared_dir=shared_dir))
        dagster: DagsterDev = DagsterDeployment(
            paths.dagster_home,
            env=env,
            webserver_port=args.dagster_port,
            working_directory=REPO,
            log_dir=paths.workdir / "logs",
            venv_bin=VENV_BIN,
        )
    else:
        dagster = DagsterDev(
            VENV_BIN / "dagster",
            DEFS_FILE,
            paths.dagster_home,
            port=args.dagster_port,
            env=env,
            working_directory=REPO,
            log_path=paths.workdir / "logs" / "dagster.log",
        )
    # Ctrl-C and SIGTERM both end in the `finally` below.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.stage != "standalone":
            airflow = LocalAirflow(
                VENV_BIN / "airflow",
                paths.dags_dir,
                paths.airflow_home,
                port=args.airflow_port,
                # Only the demo's own triggers create runs: no scheduled run on first parse.
                extra_env={
                    **env,
                    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                    # Airflow's 5 s default fails tasks when a loaded laptop answers slowly (as deploy/ does).
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                    **airflow_env,
                },
            )
            progress(f"Starting Airflow 3 on {airflow.url} (user {ADMIN_USERNAME}/{ADMIN_PASSWORD}) ...")
            airflow.start(timeout=args.timeout)
            airflow.wait_for_dags([MAIN_DAG, DAG_LEVEL_DAG, MAPPED_TASK_DAG], timeout=args.timeout)
            if postgres is not None:
                warm_up_execution_api(airflow.url)
            progress("Airflow is up and has parsed the example DAGs")
        if postgres is not None:
            progress(
                "Storing the Airflow snapshot in the shared defs-state storage (dg utils refresh-defs-state) ..."
            )
            dagster.refresh_defs_state()  # type: ignore[attr-defined]
            progress(
                f"Starting Dagster's code server, webserver ({dagster.url}) and daemon (logs: {dagster.log_path.parent}) ..."
            )
        else:
            progress(f"Starting dagster dev on {dagster.url} (logs: {dagster.log_path}) ...")
        dagster.start()
        watch_processes(airflow, dagster)
        dagster.wait_until_loaded(timeout=args.timeout)
        progress("Dagster code location loaded")

        if airflow is None:
            rows = run_standalone(dagster, args.timeout)
        else:
            rows = run_airflow_stages(args.stage, paths, airflow, dagster, args.timeout, args.form)
        print_table(rows)
        write_summary(paths, args.stage, "final", rows)
        if args.stage in CHECKED_ASSET:
            write_summary(paths, args.stage, "check", wait_for_check(dagster, args.stage, args.timeout))
        if paths.customers_csv.exists():
            lines = paths.customers_csv.read_text().splitlines()
            progress(f"{paths.customers_csv} has {len(lines) - 1} customers")

        if not args.once:
            where = f"Airflow {airflow.url}  " if airflow else ""
            progress(f"UIs are up: {where}Dagster {dagster.url}. Press Ctrl-C to stop.")
            while True:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        progress("Stopping Dagster and Airflow ...")
        dagster.stop()
        stop_warm_servers(warm_dir)
        shutil.rmtree(warm_dir, ignore_errors=True)
        if airflow is not None:
            airflow.stop()
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
