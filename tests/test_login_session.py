"""A long-lived client (the sensor's) on Airflow 2 logs in once and then sends a session cookie instead of
the password: Airflow 2 checks the password hash on every basic-auth request. Against real Airflows."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from airlift_components.airflow_api import AirflowAuthenticationError, AirflowClient, BasicAuthBackend
from airlift_components.testing.local_airflow import ADMIN_USERNAME, LocalAirflow
from tests.conftest import make_client


def _authorization_headers(client: AirflowClient) -> list[str | None]:
    """The Authorization header of every request the client's session sends from now on."""
    sent: list[str | None] = []
    client._get_session().hooks["response"].append(
        lambda response, **_: sent.append(response.request.headers.get("Authorization"))
    )
    return sent


@pytest.mark.airflow2
def test_airflow2_client_logs_in_once_then_sends_the_cookie_and_no_password(airflow2: LocalAirflow) -> None:
    client = make_client(airflow2)
    assert client.use_login_session() is True
    assert client.use_login_session() is True  # already logged in: no second login
    assert client.auth_backend.logins == 1  # type: ignore[attr-defined]
    headers = _authorization_headers(client)
    before = client.request_count
    runs, complete = client.first_page_of_dag_runs_updated_since(
        datetime.now(timezone.utc) - timedelta(days=1)
    )
    assert complete and isinstance(runs, list)
    assert client.list_task_instances(dag_ids=["simple_chain"], run_ids=["no_such_run"]) == []  # a batch POST
    assert client.request_count - before == 2  # each call answered at once: the cookie was accepted
    assert headers == [None, None]


@pytest.mark.airflow2
def test_airflow2_refused_cookie_falls_back_to_basic_auth_in_the_same_call(airflow2: LocalAirflow) -> None:
    client = make_client(airflow2)
    assert client.use_login_session() is True
    session = client._get_session()
    session.cookies.clear()
    session.cookies.set("session", "expired-or-forged")
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert client.request_count - before == 2  # refused with the cookie, then answered with basic auth
    assert session.auth is not None
    # A refused session is not tried again at once: basic auth serves the next ticks.
    assert client.use_login_session() is False
    assert client.get_dag("simple_chain").dag_id == "simple_chain"


@pytest.mark.airflow2
def test_airflow2_wrong_password_login_keeps_basic_auth_and_never_shows_the_password(
    airflow2: LocalAirflow, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "not-the-admin-password-7f3a"
    client = AirflowClient(BasicAuthBackend(airflow2.url, ADMIN_USERNAME, secret))
    with caplog.at_level(logging.DEBUG, logger="airlift_components"):
        assert client.use_login_session() is False
        with pytest.raises(AirflowAuthenticationError) as raised:
            client.get_dag("simple_chain")
    assert secret not in str(raised.value) and secret not in caplog.text
    assert "login form answered HTTP 302" in caplog.text


def test_airflow3_client_keeps_its_token_and_sends_nothing_more(airflow3: LocalAirflow) -> None:
    client = make_client(airflow3)
    assert client.api_version == "v2"
    sent = _authorization_headers(client)
    assert client.use_login_session() is False
    assert sent == [] and client.auth_backend.logins == 0  # type: ignore[attr-defined]
