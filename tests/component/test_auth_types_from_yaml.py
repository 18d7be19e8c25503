"""The managed-Airflow auth types of `defs.yaml` (`mwaa`, `mwaa_airflow3`, `composer`, `astronomer`), built by the
component exactly as a user's YAML is, against the real test Airflow (2.11 for `mwaa`, 3 for the others).

The cloud services are not here, so their two sides are small local stand-ins that the real SDKs talk to:
- AWS's MWAA API (`CreateWebLoginToken`) for the real boto3 client (``AWS_ENDPOINT_URL_MWAA``), and MWAA's web
  login plugin in front of the real Airflow, over TLS (the backend always uses ``https://<WebServerHostname>``).
  Its Airflow 2 login hands out a real Airflow 2 session cookie; its Airflow 3 login a real Airflow 3 JWT.
- Google's OAuth token endpoint, named by the service-account key file's ``token_uri``, for the real google-auth;
  it checks the signed assertion with the key's public half and answers with a real Airflow 3 JWT.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import jwt as pyjwt
import pytest
import requests
from dagster.components.core.component_tree import ComponentTree

from airlift_components.airflow_api import (
    AirflowAuthenticationError,
    AirflowClient,
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    MwaaSessionAuthBackend,
)
from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core import SensorCursor
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import events_for_run, keys_of, run_and_wait, tick, utcnow
from tests.faults.proxy import make_self_signed_certificate
from tests.test_cloud_auth import jwt_exp, real_jwt

MWAA_ENV = "prod-env"


# ---------------------------------------------------------------- stand-ins


class _Server:
    """A threaded local HTTP(S) server around one handler class."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], certificate: tuple[Path, Path] | None = None
    ) -> None:
        import ssl

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{'https' if certificate else 'http'}://{self.host}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MwaaApi:
    """AWS's MWAA API as the real boto3 client calls it: ``POST /webtoken/<Name>`` -> a one-use web login token."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.web_server_host = ""  # set once the web server stand-in runs
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = urllib.parse.unquote(self.path.removeprefix("/webtoken/"))
                api.issued.append(f"web-login-{name}-{len(api.issued)}")
                body = json.dumps(
                    {"WebToken": api.issued[-1], "WebServerHostname": api.web_server_host}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler


def airflow2_session_cookie(airflow: LocalAirflow) -> str:
    """A real Airflow 2 web session: the login form of the webserver, as a browser would submit it."""
    browser = requests.Session()
    page = browser.get(f"{airflow.url}/login/", timeout=30)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert csrf, page.text[:2000]
    answer = browser.post(
        f"{airflow.url}/login/",
        data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": csrf.group(1)},
        timeout=30,
    )
    assert answer.ok, answer.status_code
    return browser.cookies["session"]


class MwaaWebServer:
    """MWAA's web server login plugin in front of the real Airflow: ``/aws_mwaa/login`` (Airflow 2) sets a real
    ``session`` cookie, ``/pluginsv2/aws_mwaa/login`` (Airflow 3) a real ``_token`` JWT cookie; a web login
    token works once. Every other request is forwarded with its credentials (bearer header or cookie)."""

    def __init__(
        self, airflow: LocalAirflow, mwaa: MwaaApi, login_cookie: Callable[[], tuple[str, str]]
    ) -> None:
        self.logins = 0
        self.used: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path in ("/aws_mwaa/login", MwaaAirflow3AuthBackend.LOGIN_PATH):
                    token = urllib.parse.parse_qs(body.decode()).get("token", [""])[0]
                    if token not in mwaa.issued or token in server.used:
                        self.send_response(403)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    server.used.add(token)
                    server.logins += 1
                    name, value = login_cookie()
                    self.send_response(200)
                    self.send_header("Set-Cookie", f"{name}={value}; Path=/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._forward("POST", body)

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET", None)

            def do_PATCH(self) -> None:  # noqa: N802
                self._forward("PATCH", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, method: str, body: bytes | None) -> None:
                forwarded = ("authorization", "content-type", "cookie")
                headers = {k: v for k, v in self.headers.items() if k.lower() in forwarded}
                answer = requests.request(
                    method,
                    airflow.url + self.path,
                    data=body,
                    headers=headers,
                    timeout=60,
                    allow_redirects=False,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.handler = Handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed_certificate(tmp_path_factory.mktemp("mwaa_tls"))


def _start_mwaa(
    airflow: LocalAirflow, certificate: tuple[Path, Path], login_cookie: Callable[[], tuple[str, str]]
) -> tuple[MwaaApi, MwaaWebServer, list[_Server]]:
    mwaa = MwaaApi()
    web = MwaaWebServer(airflow, mwaa, login_cookie)
    api_server = _Server(mwaa.handler)
    web_server = _Server(web.handler, certificate)
    mwaa.web_server_host = web_server.host
    mwaa.api_url = api_server.url  # type: ignore[attr-defined]
    web.url = web_server.url  # type: ignore[attr-defined]
    return mwaa, web, [api_server, web_server]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[MwaaApi], None]:
    """Point the real boto3 at the MWAA API stand-in, with throwaway credentials and no user AWS config."""

    def point_at(mwaa: MwaaApi) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL_MWAA", mwaa.api_url)  # type: ignore[attr-defined]
        # boto3 would send CreateWebLoginToken to `env.<endpoint host>`; a local endpoint has no such name.
        monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTONLY")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-only-secret")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
        monkeypatch.delenv("AWS_PROFILE", raising=False)

    return point_at


@pytest.fixture
def mwaa_airflow2(
    airflow2: LocalAirflow, certificate: tuple[Path, Path], aws_env: Callable[[MwaaApi], None]
) -> Iterator[tuple[MwaaApi, MwaaWebServer]]:
    mwaa, web, servers = _start_mwaa(
        airflow2, certificate, lambda: ("session", airflow2_session_cookie(airflow2))
    )
    aws_env(mwaa)
    try:
        yield mwaa, web
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def mwaa_airflow3(
    airflow3: LocalAirflow, certificate: tuple[Path, Path], aws_env: Callable[[MwaaApi], None]
) -> Iterator[tuple[MwaaApi, MwaaWebServer]]:
    mwaa, web, servers = _start_mwaa(airflow3, certificate, lambda: ("_token", real_jwt(airflow3)))
    aws_env(mwaa)
    try:
        yield mwaa, web
    finally:
        for server in servers:
            server.stop()


# ---------------------------------------------------------------- helpers


def _component(attributes: dict[str, Any]) -> AirflowInstanceComponent:
    return AirflowInstanceComponent.resolve_from_dict(attributes)


def _defs_from_yaml(component: AirflowInstanceComponent, tmp_path: Path) -> dg.Definitions:
    state = tmp_path / f"state_{component.name}"
    component.write_state_to_path(state)
    return component.build_defs_from_state(ComponentTree.for_test().load_context, state)


def _simple_chain_mapping(key: str) -> list[dict[str, Any]]:
    return [{"dag_id": "simple_chain", "task_mappings": [{"task_id": "third", "assets": [{"key": key}]}]}]


def _tick_sees_run(
    defs: dg.Definitions, name: str, cursor: str, run_id: str
) -> list[dg.AssetMaterialization | dg.AssetObservation]:
    """The events of ``run_id`` over ticks until the sensor has reported it (other tests' runs share Airflow)."""
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(10):
            data = tick(defs, instance, cursor, name)
            events = events_for_run(data, run_id, "simple_chain")
            if events:
                return events
            cursor = data.cursor or cursor
    return []


# ---------------------------------------------------------------- type: mwaa (Airflow 2, MwaaSessionAuthBackend)


@pytest.mark.airflow2
def test_yaml_mwaa_sensor_tick_materializes_a_real_airflow2_run(
    airflow2: LocalAirflow,
    mwaa_airflow2: tuple[MwaaApi, MwaaWebServer],
    certificate: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    mwaa, web = mwaa_airflow2
    component = _component(
        {
            "name": "mwaa",
            "auth": {"type": "mwaa", "mwaa_environment_name": MWAA_ENV, "aws_region": "eu-west-1"},
            "ca_bundle_path": str(certificate[0]),
            "filter": {"dag_id_patterns": ["simple_chain"]},
            "mappings": _simple_chain_mapping("mwaa_chain_out"),
        }
    )
    assert isinstance(component.build_resource().build_auth_backend(), MwaaSessionAuthBackend)
    defs = _defs_from_yaml(component, tmp_path)
    assert web.logins >= 1 and len(web.used) == web.logins  # the snapshot came through the MWAA login

    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    run = run_and_wait(make_client(airflow2), "simple_chain")
    assert run.state == "success", run
    events = _tick_sees_run(defs, "mwaa", cursor, run.run_id)
    assert keys_of(events) == ["mwaa_chain_out", "mwaa/dag/simple_chain"]
    # The events link to the web server MWAA named, not to a placeholder.
    assert str(events[-1].metadata["airflow/url"].value).startswith(f"https://{mwaa.web_server_host}/")

    # The history import of the same run goes through MWAA too, and links to the same web server.
    from airlift_components.cli.history import import_airflow_history

    assert run.start_date and run.end_date
    with dg.DagsterInstance.ephemeral() as instance:
        (imported,) = import_airflow_history(
            defs, instance, run.start_date - timedelta(seconds=1), utcnow(), instance_name="mwaa"
        )
        assert imported.imported >= 2
        record = instance.get_latest_materialization_event(dg.AssetKey("mwaa_chain_out"))
    assert record is not None and record.asset_materialization is not None
    assert record.asset_materialization.metadata["airflow/run_id"].value == run.run_id
    url = str(record.asset_materialization.metadata["airflow/url"].value)
    assert url.startswith(f"https://{mwaa.web_server_host}/"), url


def test_scaffold_mwaa_writes_a_valid_commented_yaml(tmp_path: Path) -> None:
    from tests.component.test_component import defs_yaml, make_dg_project, run_dg, uncomment_options

    project = make_dg_project(tmp_path / "project")
    result = run_dg(
        project,
        "scaffold",
        "defs",
        "airflow_instance",
        "mwaa_airflow",
        "--instance-name",
        "mwaa",
        "--auth-type",
        "mwaa",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = defs_yaml(project, "mwaa_airflow").read_text()
    assert (
        "    type: mwaa\n    mwaa_environment_name: my-mwaa-environment\n    # aws_region: eu-west-1" in text
    )
    assert "webserver_url" not in text.split("auth:")[1].split("# api_version")[0]
    import yaml

    as_written = _component(yaml.safe_load(text)["attributes"])
    assert as_written.auth.type == "mwaa" and as_written.auth.mwaa_environment_name == "my-mwaa-environment"
    uncommented = _component(yaml.safe_load(uncomment_options(text))["attributes"])
    assert uncommented.auth.aws_region == "eu-west-1"
    resource = uncommented.build_resource()
    assert resource.auth_type == "mwaa" and resource.aws_region == "eu-west-1"
    env_lines = (defs_yaml(project, "mwaa_airflow").parent / "requirements.env").read_text().splitlines()
    assert env_lines[1:] == ["AWS_REGION="]


# ---------------------------------------------------------------- type: mwaa_airflow3


def test_yaml_mwaa_airflow3_builds_defs_and_its_sensor_reports_a_real_run(
    airflow3: LocalAirflow,
    mwaa_airflow3: tuple[MwaaApi, MwaaWebServer],
    certificate: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    mwaa, web = mwaa_airflow3
    component = _component(
        {
            "name": "mwaa3",
            "auth": {"type": "mwaa_airflow3", "mwaa_environment_name": MWAA_ENV, "aws_region": "eu-west-1"},
            "ca_bundle_path": str(certificate[0]),
            "filter": {"dag_id_patterns": ["simple_chain"]},
            "mappings": _simple_chain_mapping("mwaa3_chain_out"),
        }
    )
    assert isinstance(component.build_resource().build_auth_backend(), MwaaAirflow3AuthBackend)
    defs = _defs_from_yaml(component, tmp_path)
    assert dg.AssetKey(["mwaa3", "dag", "simple_chain"]) in set(
        defs.resolve_asset_graph().get_all_asset_keys()
    )
    assert web.logins >= 1

    cursor = SensorCursor.initial(utcnow(), timedelta(0)).serialize()
    run = run_and_wait(make_client(airflow3), "simple_chain")
    events = _tick_sees_run(defs, "mwaa3", cursor, run.run_id)
    assert keys_of(events) == ["mwaa3_chain_out", "mwaa3/dag/simple_chain"]
    assert str(events[-1].metadata["airflow/url"].value).startswith(f"https://{mwaa.web_server_host}/")


# ---------------------------------------------------------------- type: composer


class GoogleTokenEndpoint:
    """Google's OAuth token endpoint for a service-account key: checks the RS256 assertion with the key's public
    half (so the key file is what signed it) and answers with a real Airflow 3 JWT as the access token."""

    def __init__(self, airflow: LocalAirflow, public_key: Any, refuse: bool = False) -> None:
        self.issued: list[str] = []
        self.assertions: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                form = urllib.parse.parse_qs(
                    self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                )
                # The signature is checked (the key file signed it); google-auth sets its own audience.
                claims = pyjwt.decode(
                    form["assertion"][0], public_key, algorithms=["RS256"], options={"verify_aud": False}
                )
                endpoint.assertions.append(claims)
                if refuse:
                    body = json.dumps(
                        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                    )
                    status = 400
                else:
                    token = real_jwt(airflow)
                    endpoint.issued.append(token)
                    body = json.dumps(
                        {
                            "access_token": token,
                            "expires_in": int(jwt_exp(token) - time.time()),
                            "token_type": "Bearer",
                        }
                    )
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

        self.server = _Server(Handler)
        self.url = self.server.url


def _service_account_key(
    tmp_path: Path, airflow: LocalAirflow, refuse: bool = False
) -> tuple[Path, str, GoogleTokenEndpoint]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    endpoint = GoogleTokenEndpoint(airflow, key.public_key(), refuse=refuse)
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "example-project",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": "airlift-test@example-project.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": endpoint.url + "/token",
            }
        )
    )
    return path, pem, endpoint


def test_yaml_composer_with_a_key_file_reaches_airflow_and_renews_the_token_before_it_expires(
    airflow3: LocalAirflow, tmp_path: Path
) -> None:
    key_file, pem, endpoint = _service_account_key(tmp_path, airflow3)
    try:
        component = _component(
            {
                "name": "composer",
                "auth": {
                    "type": "composer",
                    "webserver_url": airflow3.url,
                    "google_credentials_file": str(key_file),
                },
                "filter": {"dag_id_patterns": ["simple_chain"]},
            }
        )
        backend = component.build_resource().build_auth_backend()
        assert isinstance(backend, ComposerAuthBackend)
        defs = _defs_from_yaml(component, tmp_path)
        assert dg.AssetKey(["composer", "dag", "simple_chain"]) in set(
            defs.resolve_asset_graph().get_all_asset_keys()
        )
        assert len(endpoint.issued) == 1
        assert endpoint.assertions[0]["iss"] == "airlift-test@example-project.iam.gserviceaccount.com"
        assert endpoint.assertions[0]["scope"] == "https://www.googleapis.com/auth/cloud-platform"

        client = component.build_resource().get_client()
        assert client.get_dag("simple_chain").dag_id == "simple_chain"
        first = endpoint.issued[-1]
        time.sleep(max(0.0, jwt_exp(first) - time.time() + 1.0))  # until the access token has expired
        before = client.request_count
        assert client.get_dag("simple_chain").dag_id == "simple_chain"
        assert endpoint.issued[-1] != first
        assert client.request_count - before == 1  # renewed up front, not after a 401
        assert pem not in repr(backend) + repr(client.auth_backend) and first not in repr(client.auth_backend)
    finally:
        endpoint.server.stop()


def test_yaml_composer_refused_key_names_the_fix_and_leaks_nothing(
    airflow3: LocalAirflow, tmp_path: Path
) -> None:
    key_file, pem, endpoint = _service_account_key(tmp_path, airflow3, refuse=True)
    try:
        component = _component(
            {
                "name": "composer_refused",
                "auth": {
                    "type": "composer",
                    "webserver_url": airflow3.url,
                    "google_credentials_file": str(key_file),
                },
            }
        )
        with pytest.raises(AirflowAuthenticationError) as raised:
            component.write_state_to_path(tmp_path / "state")
        message = str(raised.value)
        assert "could not obtain a Google access token" in message and "check the credentials" in message
        key_body = pem.splitlines()[1]
        text = message + repr(raised.value) + repr(raised.value.__cause__) + repr(raised.value.__context__)
        assert key_body not in text and "assertion" not in text
        assert (
            len(endpoint.assertions) == 1
        )  # the refusal came from the token endpoint, after a signed request
    finally:
        endpoint.server.stop()


def test_yaml_composer_with_a_bad_key_file_names_the_file_not_its_content(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-key.json"
    bad.write_text('{"type": "service_account", "private_key": "SECRET-MATERIAL"}')
    component = _component(
        {
            "name": "composer_bad",
            "auth": {
                "type": "composer",
                "webserver_url": "https://composer.example",
                "google_credentials_file": str(bad),
            },
        }
    )
    with pytest.raises(dg.DagsterInvalidConfigError) as raised:
        component.build_resource().build_auth_backend()
    assert str(bad) in str(raised.value) and "SECRET-MATERIAL" not in str(raised.value)


def test_yaml_composer_without_credentials_says_how_to_provide_them(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Application Default Credentials with nothing to find: no key env var, an empty gcloud config, not on GCE.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "empty-gcloud"))
    # google-auth reads NO_GCE_CHECK when it first imports its metadata module: set both, so that the test
    # means the same on a machine that is a GCE VM (which would otherwise lend its own credentials).
    import google.auth.compute_engine._metadata as gce_metadata

    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setattr(gce_metadata, "_NO_GCE_CHECK", True)
    component = _component(
        {"name": "composer_adc", "auth": {"type": "composer", "webserver_url": airflow3.url}}
    )
    with pytest.raises(AirflowAuthenticationError) as raised:
        component.write_state_to_path(tmp_path / "state")
    message = str(raised.value)
    assert "DefaultCredentialsError" in message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in message and "gcloud auth application-default login" in message
    assert airflow3.url in message


# ---------------------------------------------------------------- type: astronomer


def test_yaml_astronomer_reads_the_token_from_its_env_var(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_ASTRO_TOKEN", real_jwt(airflow3))
    component = _component(
        {
            "name": "astro",
            "auth": {
                "type": "astronomer",
                "webserver_url": airflow3.url,
                "token_env": "AIRLIFT_TEST_ASTRO_TOKEN",
            },
            "filter": {"dag_id_patterns": ["simple_chain"]},
        }
    )
    resource = component.build_resource()
    assert (
        resource.token_env == "AIRLIFT_TEST_ASTRO_TOKEN" and resource.token is None
    )  # the name, not the value
    assert isinstance(resource.build_auth_backend(), AstronomerAuthBackend)
    defs = _defs_from_yaml(component, tmp_path)
    assert dg.AssetKey(["astro", "dag", "simple_chain"]) in set(
        defs.resolve_asset_graph().get_all_asset_keys()
    )


def test_yaml_astronomer_refused_token_names_the_env_var_not_the_token(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "astro-yaml-token-that-airflow-refuses-7"
    monkeypatch.setenv("AIRLIFT_TEST_ASTRO_TOKEN", secret)
    component = _component(
        {
            "name": "astro_refused",
            "auth": {
                "type": "astronomer",
                "webserver_url": airflow3.url,
                "token_env": "AIRLIFT_TEST_ASTRO_TOKEN",
            },
        }
    )
    with pytest.raises(AirflowAuthenticationError) as raised:
        component.write_state_to_path(tmp_path / "state")
    assert "AIRLIFT_TEST_ASTRO_TOKEN" in str(raised.value)
    assert secret not in str(raised.value) + repr(raised.value) + repr(component.build_resource())


def test_yaml_astronomer_sensor_tick_refused_names_the_env_var_not_the_token(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sensor's client is built from the resource (not the backend that wrote the state): its 401
    # message must still say which credentials were refused.
    monkeypatch.setenv("AIRLIFT_TEST_ASTRO_TOKEN", real_jwt(airflow3))
    component = _component(
        {
            "name": "astro_sensor",
            "auth": {
                "type": "astronomer",
                "webserver_url": airflow3.url,
                "token_env": "AIRLIFT_TEST_ASTRO_TOKEN",
            },
            "filter": {"dag_id_patterns": ["simple_chain"]},
            "mappings": _simple_chain_mapping("astro_sensor_out"),
        }
    )
    defs = _defs_from_yaml(component, tmp_path)
    secret = "astro-token-rotated-away-3"
    monkeypatch.setenv("AIRLIFT_TEST_ASTRO_TOKEN", secret)
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(Exception) as raised:
        tick(defs, instance, None, "astro_sensor")
    text = "".join(str(error) for error in (raised.value, raised.value.__cause__) if error)
    assert "Could not read Airflow instance 'astro_sensor'" in text and "refused the credentials" in text
    assert "the Astronomer API token from env var AIRLIFT_TEST_ASTRO_TOKEN" in text
    assert secret not in text


@pytest.mark.airflow2
def test_mwaa_session_gone_on_airflow2_logs_in_again_once_after_the_403(
    airflow2: LocalAirflow, mwaa_airflow2: tuple[MwaaApi, MwaaWebServer], certificate: tuple[Path, Path]
) -> None:
    import boto3

    _, web = mwaa_airflow2
    backend = MwaaSessionAuthBackend(boto3.client("mwaa", region_name="eu-west-1"), MWAA_ENV)
    client = AirflowClient(backend, verify=str(certificate[0]))
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert web.logins == 1
    # The session expires on MWAA's side: Airflow 2 answers 403 to a request without a valid session.
    client._get_session().cookies.clear()
    before = client.request_count
    assert client.get_dag("simple_chain").dag_id == "simple_chain"
    assert web.logins == 2  # one new login, not a retry storm
    assert client.request_count - before == 2  # the 403, then the retry with the new session
