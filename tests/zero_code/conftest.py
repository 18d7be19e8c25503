"""One real Airflow 3 for the zero-code tests, parsing ``tests/zero_code/dags``, and the runner's harness.

The Airflow runs the DAGs unproxied (the reference execution); each test then runs one task of the same
DAG run through the zero-code runner (``python -m airlift_components.in_airflow.zero_code``) in a fresh
``AIRFLOW_HOME`` with no metadata database and compares. Both sides get the same ``AIRFLOW_VAR_*`` and
``AIRFLOW_CONN_*`` env vars; only ``ZC_OUT_DIR`` (where Bash tasks write their file) differs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airlift_components.airflow_api import AirflowClient, DagRunRecord
from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import REPO, make_client
from tests.in_airflow.harness import LocalDagster

ZERO_CODE_DAGS = Path(__file__).resolve().parent / "dags"
DAGSTER_WORKSPACE = Path(__file__).resolve().parent / "workspace.yaml"
#: Code location name -> the DAGs its definitions need parsed before they load.
DAGSTER_LOCATIONS = {
    "zc_dagster_e2e": {"zc_dagster_e2e"},
    "zc_relay": {"zc_relay"},
    "zc_whole": {"zc_whole_dag", "zc_whole_refused"},
    "zc_terminate": {"zc_terminate"},
}
#: The Airflow Variables the proxies of the Dagster tests' DAGs read Dagster's URL from.
DAGSTER_URL_VARIABLES = ("zc_dagster_e2e_url", "zc_relay_dagster_url", "zc_whole_dag_url", "zc_terminate_url")
ZERO_CODE_DAG_IDS = {"zc_equivalence", "zc_outcomes", "zc_connections", "zc_more", "zc_proxied", "zc_history"}
CONN_PASSWORD = f"pw-ZC-{secrets.token_hex(6)}"
DB_ONLY_PASSWORD = f"pw-DBONLY-{secrets.token_hex(6)}"
SHARED_ENV = {
    "AIRFLOW_VAR_ZC_THRESHOLD": "2",
    "AIRFLOW_CONN_ZC_ENV_CONN": f"postgres://zc_user:{CONN_PASSWORD}@db.example:5432/warehouse",
}


@dataclass
class ZeroCodeAirflow:
    """The test Airflow, its client and the folders each side writes its Bash side effects to."""

    airflow: LocalAirflow
    client: AirflowClient
    airflow_out: Path
    base: Path


@pytest.fixture(scope="session")
def zero_code_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZeroCodeAirflow]:
    """A running Airflow 3 with the zero-code test DAGs and a connection that exists only in its database."""
    base = tmp_path_factory.mktemp("zero_code_airflow")
    dags = base / "dags"
    shutil.copytree(ZERO_CODE_DAGS, dags)
    airflow_out = base / "airflow_out"
    airflow_out.mkdir()
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        dags,
        base / "home",
        extra_env={
            **SHARED_ENV,
            "ZC_OUT_DIR": str(airflow_out),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    airflow.start()
    try:
        airflow.wait_for_dags(ZERO_CODE_DAG_IDS)
        client = make_client(airflow)
        client.request(
            "POST",
            "/api/v2/connections",
            json={
                "connection_id": "zc_db_only",
                "conn_type": "postgres",
                "host": "db-only.example",
                "login": "db_only_user",
                "password": DB_ONLY_PASSWORD,
            },
            idempotent=False,
        )
        yield ZeroCodeAirflow(airflow, client, airflow_out, base)
    finally:
        airflow.stop()


class ZeroCodeDagster(LocalDagster):
    """``dagster dev`` (webserver + daemon, queued runs launched in parallel) serving ``workspace.yaml``: one code location per
    Dagster test project (end to end, relay, whole DAG), so their modules share one Dagster start."""

    def _command(self) -> list[str]:
        command = super()._command()
        at = command.index("-f")
        command[at : at + 2] = ["-w", str(DAGSTER_WORKSPACE)]
        return command

    def start(self, airflow_url: str, timeout: float = 300.0) -> None:
        """Start as the harness does, then wait until every code location has loaded (or name the one
        that failed): the harness only waits for the first asset to be served."""
        super().start(airflow_url, timeout)
        deadline = time.monotonic() + timeout
        query = (
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        entries: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            entries = self.client().execute(query)["workspaceOrError"]["locationEntries"]
            for entry in entries:
                error = entry["locationOrLoadError"] or {}
                if error.get("__typename") == "PythonError":
                    raise RuntimeError(f"Dagster code location {entry['name']} failed: {error['message']}")
            loaded = {e["name"] for e in entries if e["loadStatus"] == "LOADED" and e["locationOrLoadError"]}
            if loaded >= set(DAGSTER_LOCATIONS):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Dagster code locations not loaded after {timeout}s: {entries}")


@pytest.fixture(scope="session")
def zero_code_dagster(
    zero_code_airflow: ZeroCodeAirflow, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalDagster]:
    """One Dagster for the session serving the four Dagster test projects, its URL in every proxy's Variable."""
    zero_code_airflow.airflow.wait_for_dags(set().union(*DAGSTER_LOCATIONS.values()))
    # Queued runs launched in parallel: the relay DAG's dozen proxies would otherwise wait in line.
    server = ZeroCodeDagster(tmp_path_factory.mktemp("zc_dagster_home"), mode="dagster_dev_threaded_queue")
    try:  # a start that times out leaves processes behind: stop them too
        server.start(zero_code_airflow.airflow.url)
        for variable in DAGSTER_URL_VARIABLES:
            zero_code_airflow.client.set_variable(variable, server.url)
        yield server
    finally:
        server.stop()


def run_to_end(client: AirflowClient, dag_id: str, **trigger: Any) -> DagRunRecord:
    """Trigger one unproxied run and wait until it finishes."""
    run = client.trigger_dag_run(dag_id, **trigger)
    return client.wait_for_dag_run(dag_id, run.run_id, timeout=300)


def payload_for(
    client: AirflowClient, run: DagRunRecord, task_id: str, *, dags_folder: Path
) -> ZeroCodePayload:
    """The payload the Dagster side will build: the run's facts and the DAG file from Airflow's REST API."""
    body = client.request("GET", f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id, safe='')}")
    details = client.request("GET", f"/api/v2/dags/{quote(run.dag_id)}/details")
    return ZeroCodePayload.from_json(
        {
            "instance_name": "zc_airflow",
            "dag_id": run.dag_id,
            "task_id": task_id,
            "run_id": run.run_id,
            "logical_date": body.get("logical_date"),
            "data_interval_start": body.get("data_interval_start"),
            "data_interval_end": body.get("data_interval_end"),
            "run_after": body.get("run_after"),
            "run_type": body.get("run_type") or "manual",
            "conf": body.get("conf") or {},
            "dags_folder": str(dags_folder),
            "dag_file": details["relative_fileloc"],
            "env_vars": sorted(SHARED_ENV),
        }
    )


@dataclass
class RunnerOutcome:
    """One runner invocation: its exit code, result file, stderr, wall time and its AIRFLOW_HOME."""

    returncode: int
    result: ZeroCodeResult
    stderr: str
    seconds: float
    home: Path


def run_runner(
    zc: ZeroCodeAirflow, payload: ZeroCodePayload, *, env: dict[str, str] | None = None
) -> RunnerOutcome:
    """Run ``python -m airlift_components.in_airflow.zero_code`` as the Dagster side will (a subprocess of
    the Airflow environment's python) in a fresh AIRFLOW_HOME, with the REST credentials in its env."""
    work = Path(zc.base / f"runner_{payload.dag_id}_{payload.task_id}_{time.monotonic_ns()}")
    home, out = work / "home", work / "out"
    home.mkdir(parents=True)
    out.mkdir()
    payload_file, result_file = work / "payload.json", work / "result.json"
    payload.write(payload_file)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    child_env.update(
        {
            **SHARED_ENV,
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": str(REPO),
            "ZC_OUT_DIR": str(out),
            ENV_AIRFLOW_URL: zc.airflow.url,
            ENV_AIRFLOW_USERNAME: ADMIN_USERNAME,
            ENV_AIRFLOW_PASSWORD: ADMIN_PASSWORD,
            **(env or {}),
        }
    )
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "python"),
            "-m",
            "airlift_components.in_airflow.zero_code",
            str(payload_file),
            str(result_file),
        ],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=work,
    )
    seconds = time.monotonic() - started
    assert result_file.exists(), f"runner wrote no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    result = ZeroCodeResult.read(result_file)
    print(
        f"zero-code runner {payload.dag_id}.{payload.task_id}: {seconds:.2f}s wall, "
        f"{result.duration_seconds:.2f}s in the task runner",
        file=sys.stderr,
    )
    return RunnerOutcome(proc.returncode, result, proc.stderr, seconds, home)


def airflow_xcoms(client: AirflowClient, run: DagRunRecord, task_id: str) -> dict[str, Any]:
    """Every XCom Airflow stored for one task instance, as its REST API returns them (raw stored values)."""
    path = f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/{quote(task_id)}/xcomEntries"
    listing = client.request("GET", path)
    keys = [entry["key"] for entry in listing["xcom_entries"]]
    return {key: client.request("GET", f"{path}/{quote(key)}")["value"] for key in keys}


def airflow_task_instance(client: AirflowClient, run: DagRunRecord, task_id: str) -> dict[str, Any]:
    """Airflow's task instance record (state, rendered_fields) from the REST API."""
    return client.request(
        "GET",
        f"/api/v2/dags/{quote(run.dag_id)}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/{quote(task_id)}",
    )
