"""Zero-code migration, the warm runner's client: reach (or start) the warm server of a runner environment and
have it fork the runner for one task.

The server is ``airlift_components.in_airflow.zero_code.warm`` (Airflow side); what crosses the socket is
``airlift_components.formats.warm_runner``. Nothing here imports Dagster: :mod:`.zero_code_run` calls
:func:`start_warm` and treats the :class:`WarmProcess` it returns like a cold ``Popen``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airlift_components.formats import warm_runner as protocol

WARM_MODULE = "airlift_components.in_airflow.zero_code.warm"
#: Where the warm servers' sockets live (a 0700 directory); default: ``<tmp>/airlift-zero-code-warm-<uid>``.
WARM_DIR_ENV = "AIRLIFT_ZERO_CODE_WARM_DIR"
# A server imports Airflow before it listens: as long as a cold runner's start at high load, with margin.
WARM_START_TIMEOUT_SECONDS = 180.0
# Values a task reads from its own environment at run time, never at the server's import: not in the
# server's environment nor in its fingerprint (so they can differ per run and stay out of the server).
_PER_RUN_ENV_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRLIFT_AIRFLOW_", "DAGSTER_")
_UNIX_PATH_MAX = 100


@dataclass(frozen=True)
class WarmRunner:
    """How a run reaches a warm server: how long an idle server stays, and which of the runner's
    environment variables differ per run beyond :data:`_PER_RUN_ENV_PREFIXES` (so are not the server's)."""

    keep_warm_seconds: float = 600.0
    per_run_env: tuple[str, ...] = ("AIRFLOW_HOME",)


class WarmProcess:
    """A runner forked by a warm server: its pid (leader of its own process group), its output pipe, and
    its exit status as the server reports it on the connection (closing it makes the server kill the group).
    """

    def __init__(self, conn: socket.socket, stdout: IO[str], hello: Mapping[str, Any]) -> None:
        self._conn = conn
        self._buffer = b""
        self._server_gone = False
        self.stdout: IO[str] | None = stdout
        self.pid = int(hello["pid"])
        #: What the server reported when it forked: Airflow already imported, and how many modules.
        self.airflow_imported = bool(hello.get("airflow_imported"))
        self.modules = int(hello.get("modules", 0))
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the server has reported it, else None (never blocks)."""
        if self.returncode is None:
            self._read(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code. Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"zero-code runner {self.pid}", timeout or 0.0)
            self._read(0.2 if left is None else min(0.2, left))
        return self.returncode

    def close(self) -> None:
        """Hang up (the server then kills the group if it is still running) and close the output pipe."""
        with contextlib.suppress(OSError):
            self._conn.close()
        if self.stdout is not None:
            with contextlib.suppress(OSError):
                self.stdout.close()

    def _read(self, timeout: float) -> None:
        if self._server_gone:
            # The server stopped before reporting: the status is lost; the group's end is the process's.
            if not _pid_running(self.pid):
                self.returncode = 255
            elif timeout:
                time.sleep(timeout)
            return
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return
        try:
            data = self._conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._server_gone = True
            return
        messages, self._buffer = protocol.split_messages(self._buffer + data)
        for message in messages:
            if "exit" in message:
                self.returncode = int(message["exit"])


def start_warm(
    python: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, warm: WarmRunner, log: Any
) -> WarmProcess | None:
    """The runner ``python -m airlift_components.in_airflow.zero_code *argv``, forked by the warm server of
    ``python`` and this environment (started, detached in its own session, when there is none yet).

    Returns None, having logged why, when no server can be reached or started (the caller then starts the
    runner cold). The server's environment is ``env`` without per-run values; the request carries them to
    the task over the socket only (never to a file). Cost when warm: one connect and one fork.
    """
    try:
        directory = warm_dir()
        server_env, fingerprint = warm_server_environment(python, env, warm)
    except (OSError, ValueError) as error:
        log.info(f"zero-code warm runner unavailable ({error}); starting the runner cold")
        return None
    socket_path = directory / f"{fingerprint}.sock"
    if len(str(socket_path)) > _UNIX_PATH_MAX:
        log.info(f"zero-code warm runner unavailable (socket path {socket_path} too long); starting cold")
        return None
    conn = _connect(socket_path)
    if conn is None:
        conn = _start_server(python, socket_path, server_env, warm, log)
        if conn is None:
            return None
    read_end, write_end = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    try:
        conn.settimeout(60.0)  # the server forks at once; a hung one must not hang the step
        protocol.send_request(conn, argv, env, cwd, [stdin, write_end, write_end])
        hello = protocol.read_message(conn)
        conn.settimeout(None)
    except (OSError, ValueError) as error:
        conn.close()
        os.close(read_end)
        log.info(f"zero-code warm server {socket_path.name} did not start the task ({error}); starting cold")
        return None
    finally:
        os.close(stdin)
        os.close(write_end)  # the child holds the only write end: its exit ends the output
    if "pid" not in hello:
        conn.close()
        os.close(read_end)
        log.info(f"zero-code warm server refused the task ({hello.get('error')}); starting the runner cold")
        return None
    process = WarmProcess(conn, os.fdopen(read_end, "r", errors="replace"), hello)
    log.info(
        f"zero-code runner pid {process.pid} forked by the warm server {socket_path.stem} (Airflow already "
        f"imported: {process.airflow_imported}, {process.modules} modules loaded)"
    )
    return process


def warm_dir() -> Path:
    """The directory of the warm servers' sockets, created ``0700`` (``$AIRLIFT_ZERO_CODE_WARM_DIR``, else
    ``<tmp>/airlift-zero-code-warm-<uid>``).

    Raises:
        ValueError: it exists but is not a ``0700`` directory of this user (another user could reach in).
    """
    raw = os.environ.get(WARM_DIR_ENV)
    directory = Path(raw) if raw else Path(tempfile.gettempdir()) / f"airlift-zero-code-warm-{os.getuid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.lstat()
    if directory.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ValueError(
            f"{WARM_DIR_ENV} directory {directory} must be a 0700 directory of this user "
            f"(mode {oct(info.st_mode & 0o777)}, uid {info.st_uid})"
        )
    return directory


def warm_server_environment(
    python: str, env: Mapping[str, str], warm: WarmRunner
) -> tuple[dict[str, str], str]:
    """The warm server's environment (``env`` without per-run values) and the fingerprint naming its socket.

    The fingerprint hashes the python (path and its file's size and mtime), that environment, the idle
    timeout and the runner code's mtimes on this side; any change starts another server. Only a hash of
    the values is kept, never a value.
    """
    server_env = {
        name: value
        for name, value in env.items()
        if not name.startswith(_PER_RUN_ENV_PREFIXES) and name not in warm.per_run_env
    }
    real = os.path.realpath(python)
    info = os.stat(real)
    digest = hashlib.sha256()
    for part in (
        os.path.abspath(python),
        real,
        str(info.st_size),
        str(info.st_mtime_ns),
        str(warm.keep_warm_seconds),
        json.dumps(sorted(server_env.items())),
        _runner_code_stamp(),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return server_env, digest.hexdigest()[:20]


def stop_warm_servers(directory: Path, timeout: float = 10.0) -> list[int]:
    """SIGTERM every warm server whose pid file is in ``directory`` (they kill their running tasks' groups
    and leave), waiting up to ``timeout`` seconds; returns the pids signalled."""
    stopped = []
    for pid_file in directory.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip() or 0)
        except (OSError, ValueError):
            continue
        if pid <= 0 or WARM_MODULE not in _cmdline(pid):
            continue  # gone, or the pid was reused by something that is not a warm server
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_pid_running(pid) for pid in stopped):
        time.sleep(0.1)
    return stopped


def _start_server(
    python: str, socket_path: Path, server_env: dict[str, str], warm: WarmRunner, log: Any
) -> socket.socket | None:
    """Start a server for ``socket_path`` and connect to it once it listens, or log why not (None)."""
    home = socket_path.with_suffix(".home")
    home.mkdir(mode=0o700, exist_ok=True)
    env = {"AIRFLOW_HOME": str(home), **server_env}
    log_path = socket_path.with_suffix(".log")
    log.info(f"starting the zero-code warm server {socket_path.stem} ({python}; its log: {log_path})")
    command = [python, "-m", WARM_MODULE, "serve", "--socket", str(socket_path)]
    command += ["--idle-seconds", str(warm.keep_warm_seconds)]
    with open(log_path, "ab") as server_log:
        try:
            server = subprocess.Popen(
                command,
                env=env,
                cwd=str(socket_path.parent),
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=server_log,
                start_new_session=True,  # not in the step's process group: it outlives the step
            )
        except OSError as error:
            log.info(f"zero-code warm server could not start ({error}); starting the runner cold")
            return None
    deadline = time.monotonic() + WARM_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        conn = _connect(socket_path)
        if conn is not None:
            return conn
        # Exit 0 before listening: another server holds the lock and is starting; wait for it.
        if server.poll() not in (None, 0):
            tail = log_path.read_text(errors="replace").splitlines()[-5:]
            log.info(
                f"zero-code warm server exited with code {server.returncode} before serving; starting the "
                "runner cold. Its log ends:\n" + "\n".join(tail)
            )
            return None
        time.sleep(0.1)
    log.info(f"zero-code warm server not listening after {WARM_START_TIMEOUT_SECONDS:g}s; starting cold")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    return None


def _connect(socket_path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(socket_path))
    except OSError:  # no socket yet, or a dead server's
        conn.close()
        return None
    return conn


def _runner_code_stamp() -> str:
    """Modification times of the runner's modules as installed on this side (the usual case: one install)."""
    package = Path(__file__).resolve().parent.parent
    paths = sorted((package / "in_airflow" / "zero_code").glob("*.py")) + sorted(
        (package / "formats").glob("*.py")
    )
    return ",".join(f"{path.name}:{path.stat().st_mtime_ns}" for path in paths if path.exists())


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    with contextlib.suppress(OSError):
        return "zombie" not in status.read_text()
    return True
