"""Run the production profile's Dagster processes as the ``Procfile`` says, for the demo and the tests.

:class:`DagsterDeployment` starts the code server, the webserver and the daemon as three processes (each in
its own process group) with ``DAGSTER_HOME`` holding a copy of ``dagster.yaml``, and offers the same
GraphQL helpers as :class:`~example_project.dagster_dev.DagsterDev`, so the demo drives either the same way.
``refresh_defs_state`` is ``dg utils refresh-defs-state`` on this code location; ``reload_locations`` runs it
first, as an operator does after changing proxied state.

Example::

    deployment = DagsterDeployment(home, env=env, webserver_port=3000, working_directory=repo, log_dir=logs)
    deployment.refresh_defs_state()
    deployment.start().wait_until_loaded()
"""

from __future__ import annotations

import os
import shlex
import shutil
import string
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from airlift_components.testing.local_airflow import free_port, stop_process_group
from airlift_components.testing.postgres import LocalPostgres
from example_project.dagster_dev import DagsterDev, DagsterDevError

DEPLOY_DIR = Path(__file__).resolve().parent
PROCFILE = DEPLOY_DIR / "Procfile"
INSTANCE_YAML = DEPLOY_DIR / "dagster.yaml"
DAGSTER_PROCESSES = ("code-server", "webserver", "daemon")
AIRFLOW_STATE_KEY = "AirflowInstanceComponent[airflow_instance_one]"


def procfile_command(name: str, env: Mapping[str, str], procfile: Path = PROCFILE) -> list[str]:
    """The Procfile's command of process ``name``, with ``$VARS`` taken from ``env``.

    Raises ``ValueError`` naming the Procfile line and variable when a variable is missing, or the
    Procfile when it has no such process.
    """
    for number, line in enumerate(procfile.read_text().splitlines(), start=1):
        if line.lstrip().startswith("#") or line.partition(":")[0].strip() != name:
            continue
        try:
            return shlex.split(string.Template(line.partition(":")[2].strip()).substitute(env))
        except KeyError as exc:
            raise ValueError(
                f"{procfile}:{number} ({name}): environment variable {exc.args[0]} is not set"
            ) from None
    raise ValueError(f"{procfile} has no process named {name!r}")


def dagster_postgres_env(
    postgres: LocalPostgres, *, database: str, shared_dir: Path, code_server_port: int | None = None
) -> dict[str, str]:
    """The ``deploy.env.example`` variables of the Dagster processes for a :class:`LocalPostgres` database."""
    return {
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USERNAME": postgres.username,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": database,
        "AIRLIFT_SHARED_DIR": str(shared_dir),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_server_port or free_port()),
    }


def airflow_postgres_env(postgres: LocalPostgres, *, database: str) -> dict[str, str]:
    """Airflow 3 on a :class:`LocalPostgres` database with LocalExecutor (``LocalAirflow``'s ``extra_env``)."""
    url = postgres.url(database).replace("postgresql://", "postgresql+psycopg2://", 1)
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # On a busy 2-core machine the API server may answer a task's first call after Airflow's 5 s default.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
    }


def warm_up_execution_api(airflow_url: str, timeout: float = 300.0) -> None:
    """Ask Airflow 3's Execution API once, so its first task does not pay for building it (tens of seconds
    on a busy machine, with the API server blocked meanwhile)."""
    import requests

    requests.get(f"{airflow_url}/execution/health", timeout=timeout)


class DagsterDeployment(DagsterDev):
    """Dagster's code server, webserver and daemon on 127.0.0.1, each a separate process.

    Args:
        home: ``DAGSTER_HOME`` (created; ``dagster.yaml`` is copied into it).
        env: the full environment: the ``DAGSTER_PG_*``, ``AIRLIFT_SHARED_DIR`` and port variables of
            ``deploy.env.example`` included (``DAGSTER_WEBSERVER_PORT`` is set from ``webserver_port``).
        webserver_port: the webserver's port.
        working_directory: the repository root (the Procfile's paths are relative to it).
        log_dir: one ``<process>.log`` per process.
        venv_bin: the directory holding ``dagster``, ``dagster-webserver``, ``dagster-daemon`` and ``dg``.
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        env: Mapping[str, str],
        webserver_port: int,
        working_directory: str | os.PathLike[str],
        log_dir: str | os.PathLike[str],
        venv_bin: str | os.PathLike[str],
    ) -> None:
        self.venv_bin = Path(venv_bin)
        self.log_dir = Path(log_dir)
        full_env = {**env, "DAGSTER_HOME": str(Path(home)), "DAGSTER_WEBSERVER_PORT": str(webserver_port)}
        super().__init__(
            self.venv_bin / "dagster",
            DEPLOY_DIR / "definitions.py",
            home,
            port=webserver_port,
            env=full_env,
            working_directory=working_directory,
            log_path=self.log_dir / "webserver.log",
        )
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def prepare_home(self) -> None:
        """Create ``DAGSTER_HOME`` with the profile's ``dagster.yaml`` and the shared directory."""
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INSTANCE_YAML, self.home / "dagster.yaml")
        Path(self.env["AIRLIFT_SHARED_DIR"]).mkdir(parents=True, exist_ok=True)

    def command(self, name: str) -> list[str]:
        """The Procfile command of process ``name``, its executable taken from ``venv_bin``."""
        argv = procfile_command(name, self.env)
        return [str(self.venv_bin / argv[0]), *argv[1:]]

    def refresh_defs_state(self, keys: tuple[str, ...] = (), timeout: float = 600.0) -> str:
        """``dg utils refresh-defs-state`` for this code location: fetch Airflow's DAGs, store a new version.

        ``keys`` limits it to those defs-state keys (e.g. :data:`AIRFLOW_STATE_KEY`: not the dbt manifest).
        Returns the command's output; raises :class:`DagsterDevError` with it when the command fails.
        """
        self.prepare_home()
        key_options = [option for key in keys for option in ("--defs-state-key", key)]
        result = subprocess.run(
            [
                str(self.venv_bin / "dg"),
                "utils",
                "refresh-defs-state",
                "--target-path",
                str(DEPLOY_DIR),
                *key_options,
            ],
            cwd=self.working_directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise DagsterDevError(
                f"dg utils refresh-defs-state failed ({result.returncode}):\n{output[-3000:]}"
            )
        return output

    def start(self) -> DagsterDeployment:
        """Start the code server, the webserver and the daemon; returns at once (see ``wait_until_loaded``)."""
        self.prepare_home()
        self.start_process("code-server")
        # The webserver and daemon load the location once at startup: the code server must answer by then.
        self.wait_for_code_server()
        self.start_process("webserver")
        self.start_process("daemon")
        return self

    def wait_for_code_server(self, timeout: float = 600.0) -> None:
        """Block until the code server lists its repositories (its definitions are loaded)."""
        from dagster._api.list_repositories import sync_list_repositories_grpc
        from dagster._grpc.client import DagsterGrpcClient

        client = DagsterGrpcClient(
            port=int(self.env["DAGSTER_CODE_SERVER_PORT"]), host=self.env["DAGSTER_CODE_SERVER_HOST"]
        )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                sync_list_repositories_grpc(client)
                return
            except Exception as exc:  # unreachable while starting, a load error until loaded
                last_error = exc
                time.sleep(1)
        raise DagsterDevError(
            f"code server not loaded after {timeout:.0f}s: {last_error}\n{self.process_log_tail('code-server')}"
        )

    def start_process(self, name: str) -> None:
        """Start one of the Procfile's Dagster processes (``code-server``, ``webserver`` or ``daemon``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # kept open for the child's lifetime
        self._processes[name] = subprocess.Popen(
            self.command(name),
            cwd=self.working_directory,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_process(self, name: str, grace: float = 15.0) -> None:
        """Stop one process (and its children: run workers of the code server) by its process group."""
        process = self._processes.pop(name, None)
        if process is not None:
            stop_process_group(process, grace)

    def pid(self, name: str) -> int:
        """The process id of one running process."""
        return self._processes[name].pid

    def stop(self, grace: float = 15.0) -> None:
        """Stop every process, the daemon first, the code server last."""
        for name in reversed(DAGSTER_PROCESSES):
            self.stop_process(name, grace)

    def check_alive(self) -> None:
        """Raise :class:`DagsterDevError` with the log tail if one of the processes has exited."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise DagsterDevError(
                    f"{name} exited with {process.returncode}:\n{self.process_log_tail(name)}"
                )

    def process_log_tail(self, name: str, lines: int = 40) -> str:
        """The end of one process's log."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return f"[{name}: no log]"
        return f"--- {name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def log_tail(self, lines: int = 40) -> str:
        """The end of every process's log, for error messages."""
        return "\n".join(self.process_log_tail(name, lines) for name in DAGSTER_PROCESSES)

    def wait_until_loaded(self, timeout: float = 300.0) -> list[dict]:
        """Block until the webserver serves the code location; fail early if a process died."""
        self.check_alive()
        try:
            return super().wait_until_loaded(timeout=timeout)
        except DagsterDevError:
            self.check_alive()
            raise

    def reload_locations(self, timeout: float = 300.0) -> None:
        """Refresh the Airflow snapshot (a new state version), then reload the code location everywhere."""
        self.refresh_defs_state((AIRFLOW_STATE_KEY,), timeout=timeout)
        super().reload_locations(timeout=timeout)
