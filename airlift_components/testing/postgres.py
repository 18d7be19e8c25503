"""Start and stop a real, throwaway Postgres server for tests, benchmarks and the production demo.

One :class:`LocalPostgres` is one Postgres cluster: a fresh data directory made by ``initdb``, a server
listening on 127.0.0.1 only (a free port, no Unix socket) with password authentication, and one
superuser whose password is random. Postgres refuses to run as root, so when this process is root the
server runs as the ``postgres`` system user (Debian's ``postgresql`` package creates it). The server runs
in its own process group and :meth:`LocalPostgres.stop` stops that group by its id and removes the data
directory, so nothing is left behind even when a test fails.

Example::

    with LocalPostgres() as postgres:
        postgres.create_database("dagster")
        print(postgres.url("dagster"))  # postgresql://airlift:<password>@127.0.0.1:<port>/dagster
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from airlift_components.testing.local_airflow import free_port

POSTGRES_SYSTEM_USER = "postgres"
ENV_POSTGRES_BIN = "AIRLIFT_POSTGRES_BIN"
INSTALL_HINT = (
    "install the Postgres server (Debian/Ubuntu: `apt-get install postgresql`, which `make install` runs "
    f"when root; macOS: `brew install postgresql`) or set {ENV_POSTGRES_BIN} to the directory holding "
    "`initdb` and `postgres`"
)


class LocalPostgresError(RuntimeError):
    """The local Postgres could not be found, initialised or started; the message says which and why."""


def find_postgres_bin() -> Path:
    """The directory with ``initdb`` and ``postgres``: ``$AIRLIFT_POSTGRES_BIN``, Debian's newest, or ``PATH``.

    Raises :class:`LocalPostgresError` naming what to install when none is found.
    """
    candidates: list[Path] = []
    if os.environ.get(ENV_POSTGRES_BIN):
        candidates.append(Path(os.environ[ENV_POSTGRES_BIN]))
    # Debian keeps the server binaries off PATH, one directory per major version.
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates.extend(Path(p) for p in reversed(debian))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise LocalPostgresError(f"Postgres server binaries (initdb, postgres) not found: {INSTALL_HINT}")


class LocalPostgres:
    """A real Postgres server on 127.0.0.1 with a throwaway data directory.

    Args:
        port: the TCP port (a free one by default).
        username: the superuser ``initdb`` creates.
        bin_dir: the directory holding ``initdb`` and ``postgres`` (found by :func:`find_postgres_bin`).
        log_path: where the server's output goes (inside the data directory's parent by default).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        username: str = "airlift",
        bin_dir: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.username = username
        self.password = secrets.token_hex(16)
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self.log_path = Path(log_path) if log_path else None
        self.base_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (exists between :meth:`start` and :meth:`stop`)."""
        if self.base_dir is None:
            raise LocalPostgresError("LocalPostgres is not started")
        return self.base_dir / "data"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy/libpq URL for ``database`` (it carries the password: never log it)."""
        return f"postgresql://{self.username}:{self.password}@{self.host}:{self.port}/{database}"

    def _run_as(self) -> pwd.struct_passwd | None:
        # Postgres refuses to start as root: hand everything to the postgres system user then.
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            raise LocalPostgresError(
                f"Running as root, but there is no {POSTGRES_SYSTEM_USER!r} system user to run Postgres as: "
                + INSTALL_HINT
            ) from None

    def _spawn_kwargs(self) -> dict[str, object]:
        user = self._run_as()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if user is None:
            return {"env": env}
        env.update({"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name})
        return {"env": env, "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def start(self, *, timeout: float = 60.0) -> LocalPostgres:
        """``initdb`` a fresh data directory, start the server and wait until it accepts logins."""
        bin_dir = self.bin_dir or find_postgres_bin()
        # Our own directory (not the caller's, often 0700 and root-owned) that the postgres user may enter.
        self.base_dir = Path(tempfile.mkdtemp(prefix="airlift-postgres-"))
        user = self._run_as()
        if user is not None:
            os.chown(self.base_dir, user.pw_uid, user.pw_gid)
        password_file = self.base_dir / "pwfile"
        password_file.write_text(self.password + "\n")
        if user is not None:
            os.chown(password_file, user.pw_uid, user.pw_gid)
        password_file.chmod(0o600)
        kwargs = self._spawn_kwargs()
        try:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    self.username,
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=self.base_dir,
                **kwargs,  # type: ignore[arg-type]
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            self._remove_base_dir()
            raise LocalPostgresError(f"initdb failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        log_path = self.log_path or self.base_dir / "postgres.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")  # kept open for the child's lifetime
        self._log_file = log_path
        self._process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                "",  # no Unix socket: loopback TCP only
                # A throwaway cluster: durability is not worth the fsyncs; enough connections for
                # Dagster's webserver, daemon, code server and run workers plus Airflow.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base_dir,
            start_new_session=True,
            **kwargs,  # type: ignore[arg-type]
        )
        try:
            self.wait_until_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def connect(self, database: str = "postgres"):  # -> psycopg2 connection (imported lazily)
        """A psycopg2 connection to ``database`` as the superuser, in autocommit mode."""
        import psycopg2

        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.username,
            password=self.password,
            dbname=database,
            connect_timeout=5,
        )
        connection.autocommit = True
        return connection

    def wait_until_ready(self, *, timeout: float = 60.0) -> None:
        """Block until the server accepts a login; fail with the log tail if it exits or times out."""
        import psycopg2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise LocalPostgresError(
                    f"Postgres exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        raise LocalPostgresError(
            f"Postgres on port {self.port} not ready after {timeout:.0f}s:\n{self.log_tail()}"
        )

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owned by the superuser) and return its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"Database name {name!r}: use letters, digits and underscores only")
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, for error messages."""
        path = getattr(self, "_log_file", None)
        if path is None or not Path(path).exists():
            return "[no postgres log]"
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """Stop the server's process group by id (fast shutdown, then SIGKILL) and remove the data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGINT is Postgres's "fast" shutdown: it does not wait for clients to disconnect.
            for sig in (signal.SIGINT, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._remove_base_dir()

    def _remove_base_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
