"""The throwaway Postgres helper: a real server on loopback, gone with its data when the block exits."""

from __future__ import annotations

import os

import psycopg2
import pytest

from airlift_components.testing.postgres import LocalPostgres


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie left for our wait() counts as stopped.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_local_postgres_creates_databases_and_refuses_a_wrong_password() -> None:
    with LocalPostgres() as postgres:
        postgres.create_database("dagster_runs")
        with postgres.connect("dagster_runs") as connection, connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), inet_server_addr()::text")
            assert cursor.fetchone() == ("dagster_runs", "127.0.0.1/32")
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(
                host=postgres.host,
                port=postgres.port,
                user=postgres.username,
                password="wrong",
                dbname="postgres",
            )


def test_local_postgres_stops_by_pid_and_removes_its_data_when_the_block_fails() -> None:
    postgres = LocalPostgres()
    with pytest.raises(RuntimeError, match="test body failed"), postgres:
        pid, data_dir = postgres.pid, postgres.data_dir
        assert pid is not None and _running(pid) and data_dir.is_dir()
        raise RuntimeError("test body failed")
    assert not _running(pid)
    assert not data_dir.exists()
