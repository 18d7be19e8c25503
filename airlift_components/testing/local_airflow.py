"""Start and stop a real local Airflow (3 or 2) for tests, benchmarks and the demo.

One :class:`LocalAirflow` is one Airflow instance: its own ``AIRFLOW_HOME`` with a SQLite database,
a DAGs folder you choose, an API server on loopback, a scheduler and (on Airflow 3) a DAG processor.
Every process runs in its own process group and :meth:`LocalAirflow.stop` signals the groups, so
nothing is left behind even when a test fails.

Example::

    with LocalAirflow(airflow_bin=".venv/bin/airflow", dags_folder="dags", home="/tmp/af") as airflow:
        print(airflow.url)  # http://127.0.0.1:<free port>
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalAirflowError(RuntimeError):
    """The local Airflow did not start; the message carries the tail of its logs."""


class LocalAirflow:
    """A real Airflow instance on 127.0.0.1 with SQLite, for tests and demos.

    Args:
        airflow_bin: path to the ``airflow`` executable of the environment to run (its major version
            decides how the instance is started).
        dags_folder: the DAGs folder.
        home: an empty or reusable directory for ``AIRFLOW_HOME`` (database, logs, config).
        port: API server port (a free one by default).
        major_version: 3 or 2; detected from ``airflow version`` when not given.
        extra_env: extra environment variables (e.g. ``AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME``).
        paused_at_creation: whether new DAGs start paused.
        extra_users: more Airflow 3 admin users, username -> password (e.g. a user whose password a
            test looks for in logs).
    """

    def __init__(
        self,
        airflow_bin: str | os.PathLike[str],
        dags_folder: str | os.PathLike[str],
        home: str | os.PathLike[str],
        *,
        port: int | None = None,
        major_version: int | None = None,
        extra_env: Mapping[str, str] | None = None,
        paused_at_creation: bool = False,
        log_prefix: str = "",
        extra_users: Mapping[str, str] | None = None,
    ) -> None:
        self.airflow_bin = str(airflow_bin)
        self.dags_folder = Path(dags_folder).resolve()
        self.home = Path(home).resolve()
        self.port = port or free_port()
        self.extra_env = dict(extra_env or {})
        self.paused_at_creation = paused_at_creation
        self.log_prefix = log_prefix
        self.extra_users = dict(extra_users or {})
        self._major_version = major_version
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    @property
    def url(self) -> str:
        """Base URL of the API server / webserver."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def major_version(self) -> int:
        """3 or 2."""
        if self._major_version is None:
            out = subprocess.run(
                [self.airflow_bin, "version"], env=self.env, capture_output=True, text=True, check=True
            ).stdout.strip()
            self._major_version = int(out.splitlines()[-1].split(".")[0])
        return self._major_version

    @property
    def env(self) -> dict[str, str]:
        """The environment every Airflow process of this instance runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        self.home.mkdir(parents=True, exist_ok=True)
        bin_dir = str(Path(self.airflow_bin).parent)
        env.update(
            {
                "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.paused_at_creation),
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._log_server_port()),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__CORE__FERNET_KEY": "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self._major_version_hint() == 3:
            passwords = self.home / "simple_auth_manager_passwords.json"
            passwords.write_text(json.dumps({ADMIN_USERNAME: ADMIN_PASSWORD, **self.extra_users}))
            users = ",".join(f"{name}:admin" for name in [ADMIN_USERNAME, *self.extra_users])
            env.update(
                {
                    "AIRFLOW__API__HOST": "127.0.0.1",
                    "AIRFLOW__API__PORT": str(self.port),
                    "AIRFLOW__API__BASE_URL": self.url,
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                    "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
                    "AIRFLOW__API__SECRET_KEY": self._secret("api_secret"),
                }
            )
        else:
            env.update(
                {
                    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.port),
                    "AIRFLOW__WEBSERVER__BASE_URL": self.url,
                    "AIRFLOW__WEBSERVER__SECRET_KEY": self._secret("webserver_secret"),
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__API__AUTH_BACKENDS": (
                        "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session"
                    ),
                    "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",
                }
            )
        env.update(self.extra_env)
        return env

    def _major_version_hint(self) -> int:
        return self.major_version if self._major_version is not None else self._probe_major_version()

    def _probe_major_version(self) -> int:
        # Read the installed version from the environment's metadata without starting Airflow.
        python = Path(self.airflow_bin).parent / "python"
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self._major_version = int(out.split(".")[0])
        return self._major_version

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_hex(16))
        return path.read_text().strip()

    def _log_server_port(self) -> int:
        path = self.home / ".log_server_port"
        if not path.exists():
            path.write_text(str(free_port()))
        return int(path.read_text())

    def _log(self, name: str) -> Path:
        logs = self.home / "process_logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{name}.log"

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self._log(name), "ab")  # kept open for the child's lifetime
        process = subprocess.Popen(
            [self.airflow_bin, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._processes.append((name, process))

    def migrate(self) -> None:
        """Create or upgrade the metadata database (and, on Airflow 2, the admin user)."""
        env = self.env
        result = subprocess.run(
            [self.airflow_bin, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise LocalAirflowError(
                f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
        if self.major_version == 2:
            subprocess.run(
                [
                    self.airflow_bin,
                    "users",
                    "create",
                    "--username",
                    ADMIN_USERNAME,
                    "--password",
                    ADMIN_PASSWORD,
                    "--firstname",
                    "Ad",
                    "--lastname",
                    "Min",
                    "--role",
                    "Admin",
                    "--email",
                    "admin@example.com",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )

    def start(self, *, timeout: float = 180.0) -> LocalAirflow:
        """Migrate the database, start the processes and wait until the API answers."""
        self.migrate()
        if self.major_version == 3:
            self._spawn("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
            self._spawn("scheduler", "scheduler")
            self._spawn("dag-processor", "dag-processor")
        else:
            self._spawn("webserver", "webserver", "--port", str(self.port), "--hostname", "127.0.0.1")
            self._spawn("scheduler", "scheduler")
        try:
            self.wait_until_healthy(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def restart_api_server(self, *, timeout: float = 120.0) -> None:
        """Stop only the API server (webserver on Airflow 2) and start it again."""
        name = "api-server" if self.major_version == 3 else "webserver"
        self.stop_process(name)
        if name == "api-server":
            self._spawn(name, "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        else:
            self._spawn(name, "webserver", "--port", str(self.port), "--hostname", "127.0.0.1")
        self.wait_until_healthy(timeout=timeout)

    def stop_process(self, name: str) -> None:
        """Stop one of this instance's processes (``api-server``, ``scheduler``, ...) by process group."""
        keep = []
        for proc_name, process in self._processes:
            if proc_name == name:
                stop_process_group(process)
            else:
                keep.append((proc_name, process))
        self._processes = keep

    def owns_process(self, pid: int) -> bool:
        """True when ``pid`` is one of this instance's processes or descends from one (reads Linux /proc),
        so a test kills a task process of its own Airflow only."""
        own = {process.pid for _, process in self._processes}
        while pid > 1:
            if pid in own:
                return True
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state is the parent pid
        return False

    def wait_until_healthy(self, *, timeout: float = 180.0) -> None:
        """Block until the API answers and the scheduler reports healthy."""
        health = f"{self.url}/api/v2/monitor/health" if self.major_version == 3 else f"{self.url}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                body = requests.get(health, timeout=2).json()
                if body.get("scheduler", {}).get("status") == "healthy":
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        raise LocalAirflowError(
            f"Airflow at {self.url} not healthy after {timeout:.0f}s:\n"
            + "\n".join(self.log_tail(name) for name, _ in self._processes)
        )

    def check_alive(self) -> None:
        """Raise :class:`LocalAirflowError` with the log tail if one of this instance's processes has exited."""
        for name, process in self._processes:
            if process.poll() is not None:
                raise LocalAirflowError(
                    f"Airflow {name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )

    def wait_for_dags(self, dag_ids: set[str] | list[str], *, timeout: float = 180.0) -> None:
        """Block until every DAG id is parsed and listed by the API."""
        from airlift_components.airflow_api import AirflowClient, BasicAuthBackend

        wanted = set(dag_ids)
        client = AirflowClient(BasicAuthBackend(self.url, ADMIN_USERNAME, ADMIN_PASSWORD), page_size=100)
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            seen = {dag.dag_id for dag in client.list_dags()}
            if wanted <= seen:
                return
            time.sleep(1)
        raise LocalAirflowError(
            f"DAGs not parsed after {timeout:.0f}s: {sorted(wanted - seen)}\n{self.log_tail('dag-processor')}"
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines of one process's log, for error messages."""
        path = self._log(name)
        if not path.exists():
            return f"[{name}: no log]"
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {name} ---\n" + "\n".join(text)

    def stop(self) -> None:
        """Stop every process this instance started (SIGTERM to each group, then SIGKILL)."""
        for _, process in reversed(self._processes):
            stop_process_group(process)
        self._processes = []

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group of ``process``, SIGKILL it after ``grace`` seconds, then SIGKILL any leftovers."""
    if process.poll() is not None:
        return
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            # Children of the group may outlive the leader: make sure the group is gone.
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
        return
