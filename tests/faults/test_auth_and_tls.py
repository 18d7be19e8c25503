"""Auth and TLS faults against the real Airflow 3 behind the fault proxy: JWT expiry mid-tick, wrong
credentials, and a TLS-terminating proxy with a self-signed certificate generated for the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster.components.core.component_tree import ComponentTree

from airlift_components.airflow_api import AirflowAuthenticationError, AirflowTLSError
from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core.sensor import AirflowSensorError
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import JWT_LIFETIME_SECONDS, make_client
from tests.core.helpers import tick
from tests.faults.conftest import (
    DAG_ID,
    NAME,
    FinishedRuns,
    assert_each_run_emitted_exactly_once,
    proxied_instance,
    sensor_defs,
)
from tests.faults.proxy import Fault, FaultProxy, make_self_signed_certificate

TI_LIST = "/taskInstances/list"
WRONG_PASSWORD = "wrong-pw-for-fault-test"


def test_jwt_expiring_mid_tick_is_renewed_once_and_nothing_is_lost(
    airflow3: LocalAirflow, proxy: FaultProxy, chain_snapshot, finished_runs: FinishedRuns
) -> None:
    # Two rows per page, so the tick pages; the proxy holds page 2 until its JWT has expired.
    instance = proxied_instance(proxy.url, timeout=JWT_LIFETIME_SECONDS + 15, page_size=2)
    proxy.inject(Fault("hold_until_token_expired", TI_LIST, skip=1, times=1))
    with DagsterInstance.ephemeral() as dagster:
        ticks = [tick(sensor_defs(chain_snapshot, instance), dagster, finished_runs.cursor, NAME)]
        ticks.append(tick(sensor_defs(chain_snapshot, instance), dagster, ticks[-1].cursor, NAME))
    assert proxy.faults_applied["hold_until_token_expired"] == 1
    assert proxy.upstream_statuses[401] == 1  # Airflow did see the expired token, once
    assert proxy.count("/auth/token") == 2  # the first login and one renewal: no storm
    assert proxy.count(TI_LIST) >= 3
    assert_each_run_emitted_exactly_once(make_client(airflow3), finished_runs.run_ids, ticks)


def test_wrong_password_fails_each_tick_clearly_with_one_login_attempt(
    proxy: FaultProxy, chain_snapshot, finished_runs: FinishedRuns
) -> None:
    instance = proxied_instance(proxy.url, password=WRONG_PASSWORD)
    defs = sensor_defs(chain_snapshot, instance)
    with DagsterInstance.ephemeral() as dagster:
        for _ in range(2):
            with pytest.raises(AirflowSensorError) as failure:
                tick(defs, dagster, finished_runs.cursor, NAME)
            message = str(failure.value)
            assert f"rejected the username {ADMIN_USERNAME!r} or its password (HTTP 401)" in message
            assert f"{proxy.url}/auth/token" in message and "cursor did not move" in message
            assert isinstance(failure.value.__cause__, AirflowAuthenticationError)
            assert WRONG_PASSWORD not in message and WRONG_PASSWORD not in repr(failure.value.__cause__)
    # One login attempt per tick, and no API call with missing credentials.
    assert proxy.count("/auth/token") == 2
    assert proxy.count(TI_LIST) == 0
    assert proxy.count() == 2, dict(proxy.requests_by_path)  # no version probe: the dialect is given


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_proxy(airflow3: LocalAirflow, certificate: tuple[Path, Path]) -> Iterator[FaultProxy]:
    """The real Airflow 3 behind a TLS-terminating proxy with a self-signed certificate."""
    with FaultProxy(airflow3.url, certfile=certificate[0], keyfile=certificate[1]) as running:
        yield running


def _component(url: str, **extra: object) -> AirflowInstanceComponent:
    return AirflowInstanceComponent.resolve_from_dict(
        {
            "name": NAME,
            "auth": {
                "type": "basic",
                "webserver_url": url,
                "username": ADMIN_USERNAME,
                "password_env": "AIRLIFT_FAULTS_PW",
            },
            **extra,
        }
    )


def test_self_signed_certificate_is_refused_by_default_naming_the_url_and_the_fix(
    tls_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_FAULTS_PW", ADMIN_PASSWORD)
    client = _component(tls_proxy.url).build_instance().client
    with pytest.raises(AirflowTLSError) as failure:
        client.get_dag(DAG_ID)
    message = str(failure.value)
    assert tls_proxy.url in message and "not trusted" in message
    assert "ca_bundle_path" in message and "verify_ssl: false" in message
    assert tls_proxy.count() == 0  # the handshake failed: no request reached the proxy


@pytest.mark.parametrize(
    "trust", ["ca_bundle_path", "verify_ssl_false"], ids=["explicit_ca_bundle", "explicit_opt_out"]
)
def test_self_signed_certificate_works_when_trusted_explicitly(
    trust: str,
    tls_proxy: FaultProxy,
    certificate: tuple[Path, Path],
    finished_runs: FinishedRuns,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRLIFT_FAULTS_PW", ADMIN_PASSWORD)
    option = {"ca_bundle_path": str(certificate[0])} if trust == "ca_bundle_path" else {"verify_ssl": False}
    component = _component(tls_proxy.url, **option)
    assert component.build_instance().client.get_dag(DAG_ID).dag_id == DAG_ID
    # The resource the UI lists (and assets use) trusts the same way.
    resource_client = component.build_resource().resolved().get_client()
    assert resource_client.get_dag(DAG_ID).dag_id == DAG_ID
    assert tls_proxy.count(f"/dags/{DAG_ID}") == 2
    # The component's sensor (built from the cached snapshot) trusts the same way: a tick reads Airflow.
    state = tmp_path / "state.json"
    component.write_state_to_path(state)
    defs = component.build_defs_from_state(ComponentTree.for_test().load_context, state)
    with DagsterInstance.ephemeral() as dagster:
        tick(defs, dagster, finished_runs.cursor, NAME)
    assert tls_proxy.count("/dags/~/dagRuns") >= 1  # no mappings: the tick lists runs only
