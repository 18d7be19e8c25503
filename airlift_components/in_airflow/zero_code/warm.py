"""The warm zero-code runner: a fork server that has imported Airflow once, so each task only forks and runs.

``python -m airlift_components.in_airflow.zero_code.warm serve --socket DIR/NAME.sock --idle-seconds N``

Started (detached, in its own session) by the Dagster side on first use; never imports dagster. It imports
Airflow and the runner's modules, then listens on a unix socket inside a ``0700`` directory owned by this
user. Per request it forks a child that does exactly what ``python -m airlift_components.in_airflow.zero_code
payload.json result.json`` does after its imports (same ``main``, same exit codes, same ``exit_now``), in its
own session (the step kills the whole group by the child's pid), with the request's stdin/stdout/stderr,
environment and working directory. The DAG file is parsed in the child, so every task sees its own file and
nothing a task does reaches the server or another task.

The wire protocol (one connection per task; the client is ``airlift_components.core.zero_code_warm``) is
``airlift_components.formats.warm_runner``.

The server exits after ``--idle-seconds`` without a connection or a running child, on SIGTERM (killing its
children's groups), and once its own code, the interpreter or the installed packages change on disk (it
stops listening at once and leaves when its running children end), so an upgrade is never served stale.
Beside the socket it keeps ``NAME.pid`` (its pid, under an exclusive lock while it lives).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import os
import select
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airlift_components.formats import warm_runner as protocol

RUNNER_MODULE = "airlift_components.in_airflow.zero_code"
# Imported once by the server, before any payload: what a task run needs on each Airflow version.
PRELOAD = {
    3: (
        "airflow",
        "airflow.sdk",
        "airflow.sdk.api.client",
        "airflow.sdk.execution_time.supervisor",
        "airflow.sdk.execution_time.task_runner",
        "airflow.dag_processing.dagbag",
        "airflow.providers.standard.operators.python",
        "airflow.providers.standard.operators.bash",
        "httpx",
        "airlift_components.airflow_api",
        "airlift_components.in_airflow.zero_code.runner",
        "airlift_components.in_airflow.zero_code.execution_api",
    ),
    2: (
        "airflow",
        "airflow.models.dagbag",
        "airflow.models.taskinstance",
        "airflow.operators.python",
        "airflow.operators.bash",
        "airlift_components.airflow_api",
        "airlift_components.in_airflow.zero_code.runner",
        "airlift_components.in_airflow.zero_code.runner_airflow2",
    ),
}
KILL_GRACE_SECONDS = 5.0
# How often the server looks at its files on disk for a change (a few dozen stat calls).
CODE_CHECK_SECONDS = 2.0


class WarmServerError(RuntimeError):
    """The server cannot serve from this socket path (unsafe directory, path too long)."""


@dataclass
class _Child:
    """One running task: its pid (= its process group), the client connection and, once the client has
    gone, when its group gets SIGKILL."""

    pid: int
    conn: socket.socket | None
    kill_at: float | None = None


@dataclass
class _Server:
    listener: socket.socket
    socket_path: Path
    idle_seconds: float
    code_stamp: tuple[tuple[str, float], ...]
    children: dict[int, _Child] = field(default_factory=dict)
    last_activity: float = field(default_factory=time.monotonic)
    lock: IO[str] | None = None
    socket_inode: int = 0
    listening: bool = True
    stopping: bool = False


def main(argv: list[str] | None = None) -> int:
    """The command line: ``serve --socket PATH --idle-seconds N``."""
    parser = argparse.ArgumentParser(prog="python -m airlift_components.in_airflow.zero_code.warm")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="import Airflow, then fork one child per task request")
    serve_parser.add_argument("--socket", required=True, type=Path)
    serve_parser.add_argument("--idle-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    try:
        return serve(args.socket, idle_seconds=args.idle_seconds)
    except WarmServerError as error:
        print(f"zero-code warm server: {error}", file=sys.stderr)
        return 2


def serve(socket_path: Path, *, idle_seconds: float) -> int:
    """Import what a task run needs, then serve task requests on ``socket_path`` until idle or stopped.

    Returns 0 after a normal stop, 0 at once when another live server holds this path's lock.

    Raises:
        WarmServerError: the socket's directory is not a ``0700`` directory of this user.
    """
    check_private_dir(socket_path.parent)
    lock = open(socket_path.with_suffix(".pid"), "a+")  # noqa: SIM115 - held (and locked) for the server's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another server serves this fingerprint
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    preloaded = preload()
    print(
        f"zero-code warm server {os.getpid()}: {len(sys.modules)} modules imported "
        f"({', '.join(preloaded)}); idle timeout {idle_seconds:g}s",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a dead server's socket: we hold the lock, so nobody else serves it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(64)
    server = _Server(
        listener, socket_path, idle_seconds, _code_stamp(), lock=lock, socket_inode=socket_path.stat().st_ino
    )

    def _stop(_signum: int, _frame: object) -> None:
        server.stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        _loop(server)
    finally:
        _close_listener(server)
        for child in server.children.values():
            _killpg(child.pid, signal.SIGKILL)
    return 0


def preload() -> list[str]:
    """Import the modules a task run needs on this Airflow version; returns the ones imported."""
    from airlift_components.in_airflow.zero_code.runner import airflow_major_version

    done = []
    for name in PRELOAD.get(airflow_major_version(), PRELOAD[3]):
        try:
            importlib.import_module(name)
        except ImportError as error:  # an optional provider: the task imports it itself if it needs it
            print(f"zero-code warm server: not preloaded {name}: {error}", file=sys.stderr)
            continue
        done.append(name)
    importlib.import_module(f"{RUNNER_MODULE}.__main__")
    return done


def check_private_dir(directory: Path) -> None:
    """Refuse a socket directory that another user could reach into (not ours, or not mode ``0700``).

    Raises:
        WarmServerError: naming the directory and what is wrong with it.
    """
    info = directory.lstat()
    if not directory.is_dir() or directory.is_symlink():
        raise WarmServerError(f"{directory} is not a directory")
    if info.st_uid != os.getuid():
        raise WarmServerError(f"{directory} belongs to uid {info.st_uid}, not to this user ({os.getuid()})")
    if info.st_mode & 0o077:
        raise WarmServerError(f"{directory} has mode {oct(info.st_mode & 0o777)}; it must be 0700")


def _loop(server: _Server) -> None:
    next_code_check = time.monotonic() + CODE_CHECK_SECONDS
    while not server.stopping:
        readers: list[socket.socket] = [child.conn for child in server.children.values() if child.conn]
        if server.listening:
            readers.append(server.listener)
        try:
            ready, _, _ = select.select(readers, [], [], 0.05 if server.children else 0.5)
        except InterruptedError:
            continue
        if server.listener in ready:
            _accept(server)
        for child in list(server.children.values()):
            if child.conn is not None and child.conn in ready:
                _client_spoke(child)
        _reap(server)
        now = time.monotonic()
        for child in server.children.values():
            if child.kill_at is not None and now >= child.kill_at:
                _killpg(child.pid, signal.SIGKILL)
                child.kill_at = None
        if server.children:
            server.last_activity = now
        if now >= next_code_check and server.listening:
            next_code_check = now + CODE_CHECK_SECONDS
            if _code_stamp() != server.code_stamp:
                print("zero-code warm server: code changed on disk; stopping", file=sys.stderr, flush=True)
                _close_listener(server)
        if not server.children and (not server.listening or now - server.last_activity > server.idle_seconds):
            return


def _accept(server: _Server) -> None:
    conn, _ = server.listener.accept()
    server.last_activity = time.monotonic()
    fds: list[int] = []
    try:
        conn.settimeout(30.0)  # a client sends its request at once; a stuck one must not block the others
        request, fds = protocol.read_request(conn)
    except (OSError, ValueError) as error:
        with contextlib.suppress(OSError):
            conn.sendall(protocol.refusal(f"bad request: {error}"))
        conn.close()
        return
    # Flushed now so that nothing the server buffered is written again by a child.
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its outcome is observed by the client
        _run_child(server, conn, request, fds)
    for fd in fds:
        os.close(fd)
    conn.settimeout(None)
    hello = protocol.hello(pid, airflow_imported="airflow" in sys.modules, modules=len(sys.modules))
    server.children[pid] = _Child(pid, conn)
    with contextlib.suppress(OSError):
        conn.sendall(hello)


def _run_child(server: _Server, conn: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the task's process, run the runner's ``main`` and leave."""
    code = 1
    try:
        os.setsid()  # its own session and group: the step kills the whole group by this pid
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        conn.close()
        server.listener.close()
        if server.lock is not None:
            server.lock.close()  # the child must not keep the server's lock alive
        for other in server.children.values():
            if other.conn is not None:
                other.conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        env = request.get("env") or {}
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in dict(env).items()})  # type: ignore[call-overload]
        os.chdir(str(request.get("cwd") or "/"))
        argv = [str(arg) for arg in request["argv"]]  # type: ignore[union-attr]
        sys.argv = [f"{RUNNER_MODULE}.__main__", *argv]
        from airlift_components.in_airflow.zero_code.__main__ import exit_now
        from airlift_components.in_airflow.zero_code.__main__ import main as runner_main

        try:
            code = runner_main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - as an uncaught error in the cold runner: traceback, exit 1
            traceback.print_exc()
            code = 1
        exit_now(code)
    finally:
        os._exit(code)  # never return into the server's loop


def _client_spoke(child: _Child) -> None:
    assert child.conn is not None
    try:
        data = child.conn.recv(4096)
    except OSError:
        data = b""
    if data:
        return  # clients send nothing after the request; ignore it
    # The step is gone (killed, or it stopped waiting): its task must not outlive it.
    child.conn.close()
    child.conn = None
    _killpg(child.pid, signal.SIGTERM)
    child.kill_at = time.monotonic() + KILL_GRACE_SECONDS


def _reap(server: _Server) -> None:
    while server.children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        child = server.children.pop(pid, None)
        if child is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if child.conn is not None:
            with contextlib.suppress(OSError):
                child.conn.sendall(protocol.exit_status(code))
            child.conn.close()
        elif child.kill_at is not None:
            _killpg(pid, signal.SIGKILL)  # what the task left in the group goes too


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _close_listener(server: _Server) -> None:
    if not server.listening:
        return
    server.listening = False
    server.listener.close()
    # Only our own socket: a newer server may already have replaced it.
    with contextlib.suppress(FileNotFoundError):
        if server.socket_path.stat().st_ino == server.socket_inode:
            server.socket_path.unlink()
    # The lock goes too, so a fresh server can start while this one waits for its running children.
    if server.lock is not None:
        server.lock.close()


def _code_stamp() -> tuple[tuple[str, float], ...]:
    """Modification times of what the server runs: the interpreter, our modules, Airflow, site-packages."""
    paths = {sys.executable, os.path.realpath(sys.executable)}
    for name, module in list(sys.modules.items()):
        if name.startswith("airlift_components") and getattr(module, "__file__", None):
            paths.add(module.__file__)  # type: ignore[arg-type]
    airflow = sys.modules.get("airflow")
    if airflow is not None and getattr(airflow, "__file__", None):
        package = os.path.dirname(airflow.__file__)  # type: ignore[arg-type]
        paths.update({package, os.path.dirname(package)})  # a reinstall touches both directories
    stamp = []
    for path in sorted(paths):
        try:
            stamp.append((path, os.stat(path).st_mtime))
        except OSError:
            stamp.append((path, -1.0))
    return tuple(stamp)


if __name__ == "__main__":
    sys.exit(main())
