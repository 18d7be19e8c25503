"""Fixtures for the Airflow-side tests: a real Dagster webserver, an auth-checking proxy, real Airflow 3 and 2.

- ``dagster``: ``dagster-webserver`` serving ``tests/in_airflow/dagster_project/definitions.py`` on a free
  loopback port, in its own process group, with a ``DefaultRunCoordinator`` so launched runs start at once.
- ``auth_proxy``: a small HTTP proxy in front of it that answers 401 unless the request carries
  ``Authorization: Bearer <AUTH_TOKEN>`` (the custom-operator tests prove the header reaches Dagster).
- ``proxy_airflow3`` / ``proxy_airflow2``: Airflow with ``tests/in_airflow/dags`` as DAGs folder and
  ``AIRLIFT_DAGSTER_URL`` / ``AIRLIFT_INSTANCE_NAME`` pointing at the Dagster above.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend
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
DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


class LocalDagster:
    """A ``dagster-webserver`` process group serving the test definitions."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "webserver.log"

    def start(self, timeout: float = 120.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(DAGSTER_YAML)
        env = {**os.environ, "DAGSTER_HOME": str(self.home), "AIRLIFT_TEST_INSTANCE_NAME": INSTANCE_NAME}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "dagster-webserver"),
                "-f",
                str(DAGSTER_DEFINITIONS),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
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
                raise RuntimeError(f"dagster-webserver exited:\n{self.log.read_text()[-3000:]}")
            try:
                if client.execute("{ assetNodes { id } }").get("assetNodes"):
                    return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            time.sleep(0.5)
        raise RuntimeError(f"dagster-webserver not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process, grace=15)

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient(self.url, requests.Session(), timeout=10, max_attempts=1)

    def runs_for(self, dag_id: str, **extra_tags: str) -> list[DagsterRun]:
        """Runs launched by proxy operators for ``dag_id`` (newest first)."""
        tags = {"airlift/dag_id": dag_id, **{k.replace("__", "/"): v for k, v in extra_tags.items()}}
        return self.client().find_runs(tags)

    def wait_until_finished(self, run_id: str, timeout: float = 60.0) -> DagsterRun:
        deadline = time.monotonic() + timeout
        run = self.client().get_run(run_id)
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.5)
            run = self.client().get_run(run_id)
        return run


class _AuthProxyHandler(http.server.BaseHTTPRequestHandler):
    upstream = ""
    seen_auth: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization") or ""
        type(self).seen_auth.append("ok" if auth == f"Bearer {AUTH_TOKEN}" else "refused")
        if auth != f"Bearer {AUTH_TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        upstream = requests.post(
            self.upstream + self.path, data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, *args: Any) -> None:
        pass


class AuthProxy:
    """Forwards to Dagster only requests with the expected bearer token; counts accepted/refused."""

    def __init__(self, upstream: str) -> None:
        handler = type("Handler", (_AuthProxyHandler,), {"upstream": upstream, "seen_auth": []})
        self.handler = handler
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def seen_auth(self) -> list[str]:
        return self.handler.seen_auth


@pytest.fixture(scope="session")
def dagster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDagster]:
    """A real Dagster webserver with the test assets."""
    local = LocalDagster(tmp_path_factory.mktemp("dagster_home"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def auth_proxy(dagster: LocalDagster) -> Iterator[AuthProxy]:
    proxy = AuthProxy(dagster.url)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()


def _proxy_dags_copy(base: Path) -> Path:
    dags = base / "dags"
    shutil.copytree(DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    return dags


def _airflow_env(dagster: LocalDagster, auth_proxy: AuthProxy) -> dict[str, str]:
    return {
        "AIRLIFT_DAGSTER_URL": dagster.url,
        "AIRLIFT_INSTANCE_NAME": INSTANCE_NAME,
        "TEST_AUTH_PROXY_URL": auth_proxy.url,
        "TEST_CLOSED_PORT_URL": f"http://127.0.0.1:{free_port()}",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "8",
    }


@pytest.fixture(scope="session")
def proxy_airflow3(
    tmp_path_factory: pytest.TempPathFactory, dagster: LocalDagster, auth_proxy: AuthProxy
) -> Iterator[LocalAirflow]:
    """Airflow 3 parsing ``tests/in_airflow/dags``, proxying to the test Dagster."""
    base = tmp_path_factory.mktemp("proxy_airflow3")
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        _proxy_dags_copy(base),
        base / "home",
        extra_env=_airflow_env(dagster, auth_proxy),
    )
    airflow.start()
    try:
        airflow.wait_for_dags(PROXY_DAG_IDS)
        make_client(airflow).set_variable("my_api_key", AUTH_TOKEN)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def proxy_airflow2(
    tmp_path_factory: pytest.TempPathFactory, dagster: LocalDagster, auth_proxy: AuthProxy
) -> Iterator[LocalAirflow]:
    """Airflow 2.11 (``.venv-airflow2``, no dagster installed) with the same DAGs."""
    base = tmp_path_factory.mktemp("proxy_airflow2")
    env = _airflow_env(dagster, auth_proxy)
    env.pop("PYTHONPATH")  # .venv-airflow2 has the package installed (editable) with the in-airflow extra
    airflow = LocalAirflow(
        REPO / ".venv-airflow2" / "bin" / "airflow", _proxy_dags_copy(base), base / "home", extra_env=env
    )
    airflow.start(timeout=240)
    try:
        airflow.wait_for_dags(["proxy_middle"], timeout=240)
        yield airflow
    finally:
        airflow.stop()


def make_client(airflow: LocalAirflow) -> AirflowClient:
    """An admin client for a test Airflow."""
    return AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD))


def task_log(airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    """The text of one task try's log file (Airflow 3 writes JSON lines, Airflow 2 plain text)."""
    root = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    matches = sorted(root.glob(f"**/attempt={try_number}.log"))
    return "\n".join(path.read_text(errors="replace") for path in matches)


def run_dag(client: AirflowClient, dag_id: str, timeout: float = 180.0, **trigger: Any):
    """Trigger a DAG run and wait until it finishes."""
    run = client.trigger_dag_run(dag_id, **trigger)
    return client.wait_for_dag_run(dag_id, run.run_id, timeout=timeout)


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in client.list_task_instances(dag_ids=[dag_id], run_ids=[run_id])}
