"""Building blocks shared by the Airflow-side tests (``conftest.py``) and ``benchmarks/proxied_overhead.py``.

- :class:`LocalDagster`: Dagster serving ``dagster_project/definitions.py`` (built by core's builder from
  the proxy Airflow) on a loopback port, in its own process group, in one of two :data:`DAGSTER_MODES`.
- :class:`AuthProxy`: an HTTP proxy in front of it that answers 401 unless the request carries
  ``Authorization: Bearer <AUTH_TOKEN>`` and records every GraphQL request it saw.
- Helpers to run the proxy DAGs on a :class:`LocalAirflow` and read what a proxied try logged.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import requests

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend, DagRunRecord, TaskInstanceRecord
from airlift_components.in_airflow.dagster_graphql import DagsterGraphQLClient, DagsterRun
from airlift_components.testing.local_airflow import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    LocalAirflow,
    free_port,
    stop_process_group,
)

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DAGS = HERE / "dags"
DAGSTER_DEFINITIONS = HERE / "dagster_project" / "definitions.py"
INSTANCE_NAME = "airflow_test"
AUTH_TOKEN = "s3cret-test-token"  # noqa: S105 - a test credential for the local auth proxy
PROXY_DAG_IDS = [
    "proxy_middle",
    "proxy_all",
    "proxy_dag_level",
    "proxy_failing",
    "proxy_timeout",
    "proxy_bench",
    "proxy_partitioned",
    "proxy_custom_auth",
    "proxy_custom_dag_auth",
    "proxy_retry",
    "proxy_fallback",
    "proxy_unreachable",
    "proxy_canceled",
    "proxy_worker_kill",
]

DagsterMode = Literal["in_process", "dagster_dev_defaults", "dagster_dev_threaded_queue"]
#: ``in_process``: ``dagster-webserver`` alone, ``DefaultRunCoordinator`` (a launched run starts at once,
#: no daemon) and the in-process executor: short runs for the tests.
#: ``dagster_dev_defaults``: ``dagster dev`` (webserver + daemon) with Dagster's default instance config
#: (``QueuedRunCoordinator``, dequeued by the daemon) and the default multiprocess executor: what a user runs.
#: ``dagster_dev_threaded_queue``: as ``dagster_dev_defaults``, but the daemon dequeues every second and
#: launches queued runs in parallel threads (many short proxied runs at once).
DAGSTER_MODES: dict[DagsterMode, str] = {
    "in_process": (
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
        "telemetry:\n  enabled: false\n"
    ),
    "dagster_dev_defaults": "telemetry:\n  enabled: false\n",
    "dagster_dev_threaded_queue": (
        "run_queue:\n  dequeue_interval_seconds: 1\n  dequeue_use_threads: true\n"
        "telemetry:\n  enabled: false\n"
    ),
}


class LocalDagster:
    """Dagster serving the test definitions; the port is chosen at construction so Airflow can be told
    the URL before Dagster starts (the definitions need Airflow up to take their snapshot)."""

    def __init__(self, home: Path, *, mode: DagsterMode = "in_process", port: int | None = None) -> None:
        self.home = home
        self.mode: DagsterMode = mode
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The webserver's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The combined stdout/stderr of the Dagster processes."""
        return self.home / "dagster.log"

    @property
    def snapshot_cache_dir(self) -> Path:
        """Where the definitions cache the Airflow snapshot (``AIRLIFT_SNAPSHOT_CACHE_DIR``)."""
        return self.home / "snapshot_cache"

    def _command(self) -> list[str]:
        where = ["-f", str(DAGSTER_DEFINITIONS), "-h", "127.0.0.1", "-p", str(self.port)]
        if self.mode == "in_process":
            return [str(REPO / ".venv" / "bin" / "dagster-webserver"), *where]
        return [str(REPO / ".venv" / "bin" / "dagster"), "dev", *where]

    def start(self, airflow_url: str, timeout: float = 180.0) -> None:
        """Start Dagster against the (running) Airflow at ``airflow_url``; return once it serves assets."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(DAGSTER_MODES[self.mode])
        env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "AIRLIFT_TEST_INSTANCE_NAME": INSTANCE_NAME,
            "AIRLIFT_TEST_AIRFLOW_URL": airflow_url,
            "AIRLIFT_SNAPSHOT_CACHE_DIR": str(self.snapshot_cache_dir),
            "AIRLIFT_TEST_EXECUTOR": "in_process" if self.mode == "in_process" else "default",
        }
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            self._command(),
            env=env,
            cwd=self.home,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Dagster ({self.mode}) exited:\n{self.log.read_text()[-3000:]}")
            try:
                if client.execute("{ assetNodes { id } }").get("assetNodes"):
                    return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"Dagster ({self.mode}) not ready after {timeout}s:\n{self.log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        """Stop the whole process group (webserver, daemon, code servers, run workers)."""
        if self.process is not None:
            stop_process_group(self.process, grace=15)

    def client(self) -> DagsterGraphQLClient:
        """A GraphQL client without retries, for the tests' own queries."""
        return DagsterGraphQLClient(self.url, requests.Session(), timeout=10, max_attempts=1)

    def runs_for(self, dag_id: str, **extra_tags: str) -> list[DagsterRun]:
        """Runs launched by proxy operators for ``dag_id`` (newest first)."""
        tags = {"airlift/dag_id": dag_id, **{k.replace("__", "/"): v for k, v in extra_tags.items()}}
        return self.client().find_runs(tags)

    def wait_until_finished(self, run_id: str, timeout: float = 60.0) -> DagsterRun:
        """The run once finished (or as it is after ``timeout``)."""
        deadline = time.monotonic() + timeout
        run = self.client().get_run(run_id)
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.5)
            run = self.client().get_run(run_id)
        return run

    def started_run(self, dag_id: str, run_id: str, timeout: float = 180) -> DagsterRun:
        """The Dagster run a proxy operator launched for this Airflow run, once it is executing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs_for(dag_id, airlift__dag_run_id=run_id)
            if runs and runs[0].status == "STARTED":
                return runs[0]
            time.sleep(1)
        raise AssertionError(f"no STARTED Dagster run for {dag_id}/{run_id} within {timeout}s")


@dataclass(frozen=True)
class ProxiedRequest:
    """One GraphQL request that reached the auth proxy."""

    accepted: bool
    operation: str | None  # e.g. "AirliftProxyLookup", from the document's operation name
    variables: dict[str, Any]
    run_status: str | None  # for AirliftProxyRun: the status Dagster answered


_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


class _AuthProxyHandler(http.server.BaseHTTPRequestHandler):
    upstream = ""
    requests_seen: list[ProxiedRequest] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        accepted = (self.headers.get("Authorization") or "") == f"Bearer {AUTH_TOKEN}"
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        match = _OPERATION.search(str(payload.get("query") or ""))
        operation = match.group(1) if match else None
        if not accepted:
            type(self).requests_seen.append(
                ProxiedRequest(False, operation, payload.get("variables") or {}, None)
            )
            self.send_response(401)
            self.end_headers()
            return
        upstream = requests.post(
            self.upstream + self.path, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        run_status = None
        if operation == "AirliftProxyRun":
            run_status = ((upstream.json().get("data") or {}).get("runOrError") or {}).get("status")
        type(self).requests_seen.append(
            ProxiedRequest(True, operation, payload.get("variables") or {}, run_status)
        )
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, *args: Any) -> None:
        pass


class AuthProxy:
    """Forwards to Dagster only requests with the expected bearer token; records every request."""

    def __init__(self, upstream: str) -> None:
        handler = type("Handler", (_AuthProxyHandler,), {"upstream": upstream, "requests_seen": []})
        self.handler = handler
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def requests_seen(self) -> list[ProxiedRequest]:
        """Every request so far, in arrival order."""
        return self.handler.requests_seen

    @property
    def seen_auth(self) -> list[str]:
        """``"ok"`` or ``"refused"`` per request, in arrival order."""
        return ["ok" if r.accepted else "refused" for r in self.requests_seen]


def proxy_dags_copy(base: Path) -> Path:
    """A copy of the proxy DAGs folder under ``base`` (each Airflow parses its own copy)."""
    dags = base / "dags"
    shutil.copytree(DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    return dags


def airflow_env(dagster_url: str, auth_proxy_url: str | None = None) -> dict[str, str]:
    """Environment of a proxy Airflow: where its operators find Dagster (and the auth proxy)."""
    env = {
        "AIRLIFT_DAGSTER_URL": dagster_url,
        "AIRLIFT_INSTANCE_NAME": INSTANCE_NAME,
        "TEST_CLOSED_PORT_URL": f"http://127.0.0.1:{free_port()}",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
    }
    if auth_proxy_url is not None:
        env["TEST_AUTH_PROXY_URL"] = auth_proxy_url
    return env


def make_client(airflow: LocalAirflow) -> AirflowClient:
    """An admin client for a test Airflow."""
    return AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))


def task_log(airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    """The text of one task try's log file (Airflow 3 writes JSON lines, Airflow 2 plain text)."""
    root = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    matches = sorted(root.glob(f"**/attempt={try_number}.log"))
    return "\n".join(path.read_text(errors="replace") for path in matches)


def run_dag(client: AirflowClient, dag_id: str, timeout: float = 180.0, **trigger: Any) -> DagRunRecord:
    """Trigger a DAG run and wait until it finishes."""
    run = client.trigger_dag_run(dag_id, **trigger)
    return client.wait_for_dag_run(dag_id, run.run_id, timeout=timeout)


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``{task_id: state}`` of one DAG run."""
    return {ti.task_id: ti.state for ti in client.list_task_instances(dag_ids=[dag_id], run_ids=[run_id])}


_SUMMARY = re.compile(
    r"Dagster GraphQL requests for this task: (\d+) \(lookup ([\d.]+)s, launch ([\d.]+)s, wait ([\d.]+)s\)"
)


@dataclass(frozen=True)
class RequestSummary:
    """The proxy operator's closing log line: requests sent and seconds per step (printed to 0.01 s)."""

    requests: int
    lookup_s: float
    launch_s: float
    wait_s: float


def request_summaries(log: str) -> list[RequestSummary]:
    """Every complete request summary a try logged (one per ``execute``)."""
    return [
        RequestSummary(int(n), float(lookup), float(launch), float(wait))
        for n, lookup, launch, wait in _SUMMARY.findall(log)
    ]


@dataclass(frozen=True)
class ProxiedTry:
    """One run of a one-task proxied DAG, as Airflow, Dagster and the task's log recorded it."""

    dag_run: DagRunRecord
    task_instance: TaskInstanceRecord
    dagster_runs: list[DagsterRun]  # every Dagster run tagged with this Airflow run, newest first
    summaries: list[RequestSummary]  # the request summaries the try logged
    dagster_run_created_s: float | None  # creationTime of the (single) Dagster run, epoch seconds


_RUN_CREATION = (
    "query AirliftTestRunCreation($runId: ID!) { runOrError(runId: $runId) { ... on Run { creationTime } } }"
)


def run_proxied_try(airflow: LocalAirflow, dagster: LocalDagster, dag_id: str, task_id: str) -> ProxiedTry:
    """Trigger ``dag_id`` (one proxied task ``task_id``), wait for it, and gather what each side recorded.

    Cost: one DAG run, then one task-instance listing, one Dagster runs query, one run query.
    """
    client = make_client(airflow)
    run = run_dag(client, dag_id)
    (ti,) = client.list_task_instances(dag_ids=[dag_id], run_ids=[run.run_id])
    dagster_runs = dagster.runs_for(dag_id, airlift__dag_run_id=run.run_id)
    created = None
    if len(dagster_runs) == 1:
        data = dagster.client().execute(_RUN_CREATION, {"runId": dagster_runs[0].run_id})
        created = (data.get("runOrError") or {}).get("creationTime")
    log = task_log(airflow, dag_id, run.run_id, task_id, ti.try_number or 1)
    return ProxiedTry(run, ti, dagster_runs, request_summaries(log), created)


def overhead_sample(proxied: ProxiedTry) -> dict[str, float | int]:
    """Where one proxied try's time went: the Airflow task's duration minus the Dagster run's, split by
    the operator's own timings (lookup request, launch request, waiting beyond the run) and the rest
    (Airflow starting the task, parsing the DAG file, and finishing it). Needs exactly one Dagster run and
    one request summary (``test_proxied_try_records.py`` proves that a proxied try yields them)."""
    ti = proxied.task_instance
    (dagster_run,) = proxied.dagster_runs
    (summary,) = proxied.summaries
    assert ti.start_date and ti.end_date and dagster_run.start_time and dagster_run.end_time
    task_s = (ti.end_date - ti.start_date).total_seconds()
    run_s = dagster_run.end_time - dagster_run.start_time
    sample: dict[str, float | int] = {
        "task_s": round(task_s, 2),
        "dagster_run_s": round(run_s, 2),
        "overhead_s": round(task_s - run_s, 2),
        "graphql_requests": summary.requests,
        "lookup_s": summary.lookup_s,
        "launch_s": summary.launch_s,
        "wait_minus_run_s": round(summary.wait_s - run_s, 2),
        "airflow_task_start_and_finish_s": round(
            task_s - summary.lookup_s - summary.launch_s - summary.wait_s, 2
        ),
    }
    if proxied.dagster_run_created_s is not None:
        # Launch accepted -> run worker executing: the run queue (daemon) and the worker's start-up.
        sample["dagster_created_to_started_s"] = round(
            dagster_run.start_time - proxied.dagster_run_created_s, 2
        )
        # The run is created during the launch request, so launch + wait ends at most this long after the
        # run's end: the operator's polling lag (ours), an upper bound (the launch's part before creation).
        sample["polling_after_run_end_s"] = round(
            summary.launch_s + summary.wait_s - (dagster_run.end_time - proxied.dagster_run_created_s), 2
        )
    return sample
