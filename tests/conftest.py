"""Session fixtures: one real Airflow 3 (and, for the ``airflow2`` tests, one Airflow 2.11) per test session.

The Airflow processes run from the repo's virtual environments (``.venv`` and ``.venv-airflow2``,
made by ``make install``), on loopback, with SQLite, and are stopped by the fixture that started them.
Tests that need something missing fail loudly instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airlift_components.airflow_api import AirflowClient, BasicAuthBackend, DagRunRecord
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow

REPO = Path(__file__).resolve().parent.parent
TEST_DAGS = Path(__file__).resolve().parent / "dags"
# JWTs of the test Airflow 3 expire quickly so that every long test exercises token renewal.
JWT_LIFETIME_SECONDS = 20
# A second Airflow 3 user whose password is recognisable: tests/faults/test_secrets.py looks for it
# everywhere it must never appear.
SECRET_USERNAME = "secret_probe"
SECRET_PASSWORD = f"pw-SECRET-{secrets.token_hex(8)}"


# --- Server lifetimes ---------------------------------------------------------------------------
# An idle Airflow still parses DAG files and runs its scheduler loop (~12% of a core measured here), and a
# session fixture lives until the session ends. So: modules that use the shared Airflows run first, and
# each session-scoped fixture of ours is finished right after the last test that uses it.
SHARED_AIRFLOW_FIXTURES = ("airflow3", "airflow2")
# A test parametrized over `any_airflow` gets one of them through getfixturevalue, which pytest's static
# fixture closure does not see: counted here, or that Airflow is stopped before it and started a second time.
DYNAMIC_AIRFLOW_FIXTURE = "any_airflow"


def _fixtures_used(item: pytest.Item) -> set[str]:
    """The fixture names ``item`` uses, including the Airflow its ``any_airflow`` parameter picks."""
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None and DYNAMIC_AIRFLOW_FIXTURE in callspec.params:
        names.add(callspec.params[DYNAMIC_AIRFLOW_FIXTURE])
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the modules that use the shared Airflows first (stable: the order inside each group is kept)."""
    uses_shared: dict[str, bool] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        names = _fixtures_used(item)
        uses_shared[module] = uses_shared.get(module, False) or any(
            n in names for n in SHARED_AIRFLOW_FIXTURES
        )
    items.sort(key=lambda item: 0 if uses_shared[item.nodeid.split("::")[0]] else 1)


_last_user: dict[str, list[pytest.FixtureDef[Any]]] | None = None


def pytest_configure(config: pytest.Config) -> None:
    """One throwaway directory for the session's warm zero-code servers (inherited by Dagster and runners)."""
    os.environ["AIRLIFT_ZERO_CODE_WARM_DIR"] = tempfile.mkdtemp(prefix="zcw-")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the warm zero-code servers the session started, so none outlives it."""
    directory = Path(os.environ["AIRLIFT_ZERO_CODE_WARM_DIR"])
    if any(directory.glob("*.pid")):  # imports dagster: only when a server was started
        from airlift_components.core.zero_code_warm import stop_warm_servers

        stop_warm_servers(directory)
    shutil.rmtree(directory, ignore_errors=True)


def _session_fixtures_by_last_user(items: list[pytest.Item]) -> dict[str, list[pytest.FixtureDef[Any]]]:
    last: dict[str, tuple[str, pytest.FixtureDef[Any]]] = {}
    for item in items:
        for name in _fixtures_used(item):
            defs = item.session._fixturemanager.getfixturedefs(name, item)
            if defs and defs[-1].scope == "session" and defs[-1].baseid.startswith("tests"):
                last[name] = (item.nodeid, defs[-1])
    by_item: dict[str, list[pytest.FixtureDef[Any]]] = {}
    for nodeid, fixturedef in last.values():
        by_item.setdefault(nodeid, []).append(fixturedef)
    return by_item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Finish our session fixtures (stop their servers) after the last test that uses them."""
    global _last_user
    if nextitem is None:
        return  # the session's own teardown follows
    if _last_user is None:
        _last_user = _session_fixtures_by_last_user(item.session.items)  # the final, selected order
    for fixturedef in _last_user.get(item.nodeid, ()):
        fixturedef.finish(item._request)


def _airflow_bin(venv: str) -> Path:
    path = REPO / venv / "bin" / "airflow"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make install` (and `make install-airflow2`) first")
    return path


@pytest.fixture(scope="session")
def airflow3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    """A running Airflow 3 whose DAGs folder is a copy of ``tests/dags``."""
    base = tmp_path_factory.mktemp("airflow3")
    dags = base / "dags"
    shutil.copytree(TEST_DAGS, dags)
    airflow = LocalAirflow(
        _airflow_bin(".venv"),
        dags,
        base / "home",
        extra_users={SECRET_USERNAME: SECRET_PASSWORD},
        extra_env={
            "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": str(JWT_LIFETIME_SECONDS),
            "AIRFLOW__API_AUTH__JWT_LEEWAY": "0",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        },
    )
    airflow.start()
    try:
        airflow.wait_for_dags(expected_test_dag_ids())
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def airflow2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAirflow]:
    """A running Airflow 2.11 (from ``.venv-airflow2``) with the same DAGs."""
    base = tmp_path_factory.mktemp("airflow2")
    dags = base / "dags"
    shutil.copytree(TEST_DAGS, dags)
    airflow = LocalAirflow(_airflow_bin(".venv-airflow2"), dags, base / "home")
    airflow.start(timeout=240)
    try:
        airflow.wait_for_dags(expected_test_dag_ids())
        yield airflow
    finally:
        airflow.stop()


def expected_test_dag_ids() -> set[str]:
    """The DAG ids the files in ``tests/dags`` define (kept in sync by ``tests/dags/_ids.py``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_test_dag_ids", TEST_DAGS / "_ids.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.ALL_DAG_IDS)


def make_client(airflow: LocalAirflow, **kwargs: object) -> AirflowClient:
    """A client for a test Airflow with the admin credentials."""
    return AirflowClient(BasicAuthBackend(airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=["airflow3", pytest.param("airflow2", marks=pytest.mark.airflow2)])
def any_airflow(request: pytest.FixtureRequest) -> LocalAirflow:
    """Runs a test once against Airflow 3 and once against Airflow 2."""
    return request.getfixturevalue(request.param)


def one_success_and_one_failure(client: AirflowClient) -> tuple[DagRunRecord, DagRunRecord]:
    """Finished runs of ``simple_chain`` (success) and ``always_fails`` (failed), triggered together."""
    ok = client.trigger_dag_run("simple_chain")
    bad = client.trigger_dag_run("always_fails")
    ok = client.wait_for_dag_run(ok.dag_id, ok.run_id, timeout=240)
    bad = client.wait_for_dag_run(bad.dag_id, bad.run_id, timeout=240)
    assert (ok.state, bad.state) == ("success", "failed")
    return ok, bad
