"""Managed-Airflow auth backends against the real test Airflow 3, whose JWTs stand in for the cloud tokens.

The test Airflow issues 20 s JWTs (``JWT_LIFETIME_SECONDS``), so expiry is real, not simulated.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google.auth.credentials
import pytest
import requests

from airlift_components.airflow_api import (
    AirflowAuthenticationError,
    AirflowClient,
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
)
from airlift_components.core.resource import AirflowInstanceResource
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow


def real_jwt(airflow: LocalAirflow) -> str:
    """A JWT issued by the test Airflow's own token endpoint."""
    response = requests.post(
        f"{airflow.url}/auth/token", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}, timeout=30
    )
    response.raise_for_status()
    return response.json()["access_token"]


def jwt_exp(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


class AirflowJwtCredentials(google.auth.credentials.Credentials):
    """google-auth credentials whose refresh() obtains a real JWT from the test Airflow.

    ``first_tokens`` are handed out before real ones (e.g. a token Airflow will refuse).
    """

    def __init__(self, airflow: LocalAirflow, first_tokens: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._airflow = airflow
        self._first_tokens = list(first_tokens)
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        if self._first_tokens:
            self.token = self._first_tokens.pop(0)
            self.expiry = datetime(2100, 1, 1)
            return
        answer = request(
            url=f"{self._airflow.url}/auth/token",
            method="POST",
            body=json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.token = json.loads(answer.data)["access_token"]
        # google-auth keeps expiry as naive UTC.
        self.expiry = datetime.fromtimestamp(jwt_exp(self.token), tz=timezone.utc).replace(tzinfo=None)


@dataclass
class ComposerAfterExpiry:
    """A Composer-backed client that made one request, then waited until its first JWT expired."""

    client: AirflowClient
    credentials: AirflowJwtCredentials
    expired_token: str


@pytest.fixture(scope="module")
def composer_after_expiry(airflow3: LocalAirflow) -> ComposerAfterExpiry:
    credentials = AirflowJwtCredentials(airflow3)
    client = AirflowClient(ComposerAuthBackend(airflow3.url, credentials=credentials))
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert credentials.refreshes == 1
    first = credentials.token
    time.sleep(max(0.0, jwt_exp(first) - time.time() + 1.5))  # the only wait of this module
    return ComposerAfterExpiry(client, credentials, first)


@pytest.fixture(scope="module")
def expired_jwt(composer_after_expiry: ComposerAfterExpiry) -> str:
    """A real JWT of the test Airflow that has expired (Airflow answers 401 "Token Expired" to it)."""
    return composer_after_expiry.expired_token


def test_composer_backend_renews_the_token_before_it_expires_without_a_401(
    composer_after_expiry: ComposerAfterExpiry,
) -> None:
    client, credentials = composer_after_expiry.client, composer_after_expiry.credentials
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert credentials.refreshes == 2
    assert credentials.token != composer_after_expiry.expired_token
    assert client.request_count - before == 1  # renewed up front: no refused request, no retry


def test_composer_backend_refreshes_once_when_airflow_answers_401(
    airflow3: LocalAirflow, expired_jwt: str
) -> None:
    # The credentials claim the token is good until 2100; Airflow knows better and answers 401.
    credentials = AirflowJwtCredentials(airflow3, first_tokens=(expired_jwt,))
    client = AirflowClient(ComposerAuthBackend(airflow3.url, credentials=credentials))
    assert client.api_version == "v2"  # the version probe is not part of the count
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert credentials.refreshes == 2
    assert client.request_count - before == 2  # the refused request and its retry


def test_composer_backend_reports_a_refused_token_without_leaking_it(airflow3: LocalAirflow) -> None:
    secret = "ya29.not-a-valid-token-0123456789"
    credentials = AirflowJwtCredentials(airflow3, first_tokens=(secret, secret))
    client = AirflowClient(ComposerAuthBackend(airflow3.url, credentials=credentials))
    with pytest.raises(AirflowAuthenticationError) as raised:
        client.get_dag("simple_chain")
    assert "refused the credentials" in str(raised.value) and "AirflowJwtCredentials" in str(raised.value)
    assert secret not in str(raised.value) and secret not in repr(client.auth_backend)


def test_astronomer_backend_authenticates_with_a_real_jwt_from_its_env_var(
    airflow3: LocalAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", real_jwt(airflow3))
    client = AirflowClient(AstronomerAuthBackend(airflow3.url, token_env="TEST_ASTRO_API_TOKEN"))
    assert "simple_chain" in {dag.dag_id for dag in client.list_dags()}


def test_astronomer_backend_picks_up_a_rotated_token(
    airflow3: LocalAirflow, expired_jwt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", expired_jwt)
    backend = AstronomerAuthBackend(airflow3.url, token_env="TEST_ASTRO_API_TOKEN")
    client = AirflowClient(backend)
    with pytest.raises(AirflowAuthenticationError):
        client.get_dag("simple_chain")
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", real_jwt(airflow3))
    assert client.get_dag("simple_chain").dag_id == "simple_chain"


def test_astronomer_refused_token_error_names_the_env_var_not_the_token(
    airflow3: LocalAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "astro-token-that-airflow-refuses-42"
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", secret)
    client = AirflowClient(AstronomerAuthBackend(airflow3.url, token_env="TEST_ASTRO_API_TOKEN"))
    with pytest.raises(AirflowAuthenticationError) as raised:
        client.list_dags()
    message = str(raised.value)
    assert "refused the credentials" in message and "TEST_ASTRO_API_TOKEN" in message
    assert secret not in message


def test_astronomer_expired_jwt_is_refused_before_any_request(
    airflow3: LocalAirflow, expired_jwt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = expired_jwt
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", expired)
    client = AirflowClient(AstronomerAuthBackend(airflow3.url, token_env="TEST_ASTRO_API_TOKEN"))
    assert client.api_version == "v2"
    before = client.request_count
    with pytest.raises(AirflowAuthenticationError) as raised:
        client.list_dags()
    assert "expired" in str(raised.value) and "TEST_ASTRO_API_TOKEN" in str(raised.value)
    assert expired not in str(raised.value)
    assert client.request_count == before


def test_resource_builds_the_astronomer_backend_from_the_env_var_name(
    airflow3: LocalAirflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ASTRO_API_TOKEN", real_jwt(airflow3))
    resource = AirflowInstanceResource(
        name="astro", webserver_url=airflow3.url, auth_type="astronomer", token_env="TEST_ASTRO_API_TOKEN"
    )
    assert isinstance(resource.build_auth_backend(), AstronomerAuthBackend)
    assert resource.get_client().get_dag("simple_chain").dag_id == "simple_chain"


# ---------------------------------------------------------------- MWAA, Airflow 3


class FakeMwaaApi:
    """Stands in for boto3's ``mwaa`` client (AWS, not Airflow): hands out one-use web login tokens."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.issued: list[str] = []

    def create_web_login_token(self, Name: str) -> dict[str, str]:  # noqa: N803 (boto3's spelling)
        self.issued.append(f"web-login-{Name}-{len(self.issued)}")
        return {"WebServerHostname": self.hostname, "WebToken": self.issued[-1]}


class MwaaLoginProxy:
    """MWAA's web server plugin in front of the real Airflow: ``/pluginsv2/aws_mwaa/login`` turns a web
    login token into the ``_token`` JWT cookie (a real JWT from Airflow); every other request is forwarded."""

    def __init__(self, airflow: LocalAirflow, mwaa: FakeMwaaApi) -> None:
        proxy = self
        self.jwts: list[str] = []  # the JWTs handed out, in order
        # Set to an expired JWT: the next forwarded request carries it instead, so the real Airflow answers 401
        # as it does once the session's JWT is no longer accepted.
        self.expire_next_request: str | None = None

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == MwaaAirflow3AuthBackend.LOGIN_PATH:
                    token = requests.utils.unquote(body.decode().partition("token=")[2])
                    if token not in mwaa.issued or token in proxy.used:
                        self.send_response(403)
                        self.end_headers()
                        return
                    proxy.used.add(token)
                    jwt = real_jwt(airflow)
                    proxy.jwts.append(jwt)
                    self.send_response(302)
                    self.send_header("Set-Cookie", f"_token={jwt}; Path=/")
                    self.send_header("Location", "/")
                    self.end_headers()
                    return
                self._forward("POST", body)

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET", None)

            def _forward(self, method: str, body: bytes | None) -> None:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
                }
                if proxy.expire_next_request and "Authorization" in headers:
                    headers["Authorization"] = f"Bearer {proxy.expire_next_request}"
                    proxy.expire_next_request = None
                answer = requests.request(
                    method, airflow.url + self.path, data=body, headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.used: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def mwaa_login_proxy(airflow3: LocalAirflow) -> Iterator[tuple[MwaaLoginProxy, FakeMwaaApi]]:
    mwaa = FakeMwaaApi(hostname="example.airflow.eu-west-1.on.aws")
    proxy = MwaaLoginProxy(airflow3, mwaa)
    proxy.thread.start()
    try:
        yield proxy, mwaa
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


def test_mwaa_airflow3_backend_exchanges_the_login_token_for_a_jwt(
    mwaa_login_proxy: tuple[MwaaLoginProxy, FakeMwaaApi],
) -> None:
    proxy, mwaa = mwaa_login_proxy
    backend = MwaaAirflow3AuthBackend(mwaa_client=mwaa, env_name="prod", webserver_url=proxy.url)
    client = AirflowClient(backend)
    assert client.api_version == "v2"
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert len(proxy.used) == 1 and backend.token_fetches == 1


def test_mwaa_airflow3_backend_renews_the_jwt_before_it_expires_without_a_401(
    mwaa_login_proxy: tuple[MwaaLoginProxy, FakeMwaaApi],
) -> None:
    proxy, mwaa = mwaa_login_proxy
    backend = MwaaAirflow3AuthBackend(mwaa_client=mwaa, env_name="prod", webserver_url=proxy.url)
    client = AirflowClient(backend)
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert backend.token_fetches == 1
    first = proxy.jwts[0]
    time.sleep(max(0.0, jwt_exp(first) - time.time() + 1.0))  # until the first JWT has expired
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert backend.token_fetches == 2 and len(proxy.used) == 2 and len(mwaa.issued) == 2
    assert proxy.jwts[1] != first
    assert client.request_count - before == 1  # renewed up front: no refused request, no retry


def test_mwaa_airflow3_backend_logs_in_again_when_airflow_answers_401(
    mwaa_login_proxy: tuple[MwaaLoginProxy, FakeMwaaApi], expired_jwt: str
) -> None:
    proxy, mwaa = mwaa_login_proxy
    backend = MwaaAirflow3AuthBackend(mwaa_client=mwaa, env_name="prod", webserver_url=proxy.url)
    client = AirflowClient(backend)
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert backend.token_fetches == 1
    proxy.expire_next_request = expired_jwt  # Airflow no longer accepts the session: it answers 401
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert proxy.expire_next_request is None  # the refused request did reach Airflow
    assert backend.token_fetches == 2 and len(proxy.used) == 2 and len(mwaa.issued) == 2
    assert client.request_count - before == 2  # the refused request and its retry with the new JWT
