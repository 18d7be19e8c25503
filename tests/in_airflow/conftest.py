"""Fixtures for the Airflow-side tests: real Airflow 3 and 2, a real Dagster webserver, an auth-checking proxy.

Order: the Dagster port is chosen first (Airflow's operators need its URL), then Airflow 3 starts, then
Dagster, whose definitions core's builder makes from a snapshot of that Airflow (see
``dagster_project/definitions.py``). The building blocks live in ``harness.py`` (shared with
``benchmarks/proxied_overhead.py``).

- ``dagster``: ``dagster-webserver`` in ``in_process`` mode (``DefaultRunCoordinator`` so launched runs
  start at once, in-process executor).
- ``auth_proxy``: answers 401 unless the request carries ``Authorization: Bearer <AUTH_TOKEN>`` (the
  custom-operator tests prove the header reaches Dagster) and records every GraphQL request.
- ``proxy_airflow3`` / ``proxy_airflow2``: Airflow with ``tests/in_airflow/dags`` as DAGs folder and
  ``AIRLIFT_DAGSTER_URL`` / ``AIRLIFT_INSTANCE_NAME`` pointing at the Dagster above.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airlift_components.testing.local_airflow import LocalAirflow
from tests.in_airflow.harness import (
    AUTH_TOKEN,
    PROXY_DAG_IDS,
    REPO,
    AuthProxy,
    LocalDagster,
    airflow_env,
    make_client,
    proxy_dags_copy,
)


@pytest.fixture(scope="session")
def _dagster_unstarted(tmp_path_factory: pytest.TempPathFactory) -> LocalDagster:
    """The test Dagster with its port chosen, not started yet."""
    return LocalDagster(tmp_path_factory.mktemp("dagster_home"))


@pytest.fixture(scope="session")
def auth_proxy(_dagster_unstarted: LocalDagster) -> Iterator[AuthProxy]:
    proxy = AuthProxy(_dagster_unstarted.url)
    proxy.thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()


@pytest.fixture(scope="session")
def _airflow3(
    tmp_path_factory: pytest.TempPathFactory, _dagster_unstarted: LocalDagster, auth_proxy: AuthProxy
) -> Iterator[LocalAirflow]:
    base = tmp_path_factory.mktemp("proxy_airflow3")
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        proxy_dags_copy(base),
        base / "home",
        extra_env=airflow_env(_dagster_unstarted.url, auth_proxy.url),
    )
    airflow.start()
    try:
        airflow.wait_for_dags(PROXY_DAG_IDS)
        make_client(airflow).set_variable("my_api_key", AUTH_TOKEN)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="session")
def dagster(_dagster_unstarted: LocalDagster, _airflow3: LocalAirflow) -> Iterator[LocalDagster]:
    """A real Dagster webserver with the mapped test assets and the DAG assets core built from Airflow 3."""
    try:
        _dagster_unstarted.start(_airflow3.url)
        yield _dagster_unstarted
    finally:
        _dagster_unstarted.stop()


@pytest.fixture(scope="session")
def proxy_airflow3(_airflow3: LocalAirflow, dagster: LocalDagster) -> LocalAirflow:
    """Airflow 3 parsing ``tests/in_airflow/dags``, proxying to the test Dagster (started with it)."""
    return _airflow3


@pytest.fixture(scope="session")
def proxy_airflow2(
    tmp_path_factory: pytest.TempPathFactory, dagster: LocalDagster, auth_proxy: AuthProxy
) -> Iterator[LocalAirflow]:
    """Airflow 2.11 (``.venv-airflow2``) with the same DAGs.

    ``.venv-airflow2`` has the package installed (editable, with the in-airflow extra) and no dagster:
    the extra does not pull it in (tests/test_packaging.py proves that on a fresh install).
    """
    base = tmp_path_factory.mktemp("proxy_airflow2")
    env = airflow_env(dagster.url, auth_proxy.url)
    env.pop("PYTHONPATH")  # the editable install in .venv-airflow2 provides the package
    airflow = LocalAirflow(
        REPO / ".venv-airflow2" / "bin" / "airflow", proxy_dags_copy(base), base / "home", extra_env=env
    )
    airflow.start(timeout=240)
    try:
        airflow.wait_for_dags(["proxy_middle"], timeout=240)
        yield airflow
    finally:
        airflow.stop()
