"""Auth backends for managed Airflow: Amazon MWAA (Airflow 2 and 3), Google Cloud Composer, Astronomer.

The Airflow 3 ones end in the same place: an ``Authorization: Bearer <token>`` header, renewed shortly
before the token says it expires and once more when Airflow answers 401
(:class:`~airlift_components.airflow_api.auth.base.RenewingBearerAuthBackend`). They differ in where the
token comes from. Tokens never appear in ``repr``, log lines or error messages.
"""

from __future__ import annotations

import os
import time
from datetime import timezone
from typing import Any

import requests

from airlift_components.airflow_api.auth.base import (
    AirflowAuthBackend,
    RenewingBearerAuthBackend,
    _jwt_expiry,
)
from airlift_components.airflow_api.errors import (
    AirflowAuthenticationError,
    AirflowError,
    AirflowUnavailableError,
)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def mwaa_login_token(mwaa_client: Any, env_name: str) -> tuple[str, str]:
    """``create_web_login_token`` (boto3): the environment's web server host name and a 60 s login token."""
    answer = mwaa_client.create_web_login_token(Name=env_name)
    return answer["WebServerHostname"], answer["WebToken"]


def import_google_auth(needed_by: str) -> tuple[Any, Any, Any]:
    """``google.auth`` with its ``exceptions`` and ``transport.requests`` modules, or an ImportError naming
    the ``composer`` extra."""
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests
    except ImportError:
        raise ImportError(
            f"{needed_by} needs google-auth: pip install 'airlift-components[composer]'"
        ) from None
    return google.auth, google.auth.exceptions, google.auth.transport.requests


class MwaaSessionAuthBackend(AirflowAuthBackend):
    """Amazon MWAA: a web login token from boto3, exchanged for a session at ``/aws_mwaa/login``.

    Needs the ``mwaa`` extra (boto3). The login is repeated once when Airflow answers 401 or 403 (an expired
    session gets a 403 from Airflow 2).

    Example::

        import boto3
        MwaaSessionAuthBackend(mwaa_client=boto3.client("mwaa"), env_name="my-environment")
    """

    refreshes_on_forbidden = True

    def __init__(self, mwaa_client: Any, env_name: str) -> None:
        self.mwaa_client = mwaa_client
        self.env_name = env_name
        self._hostname: str | None = None

    def get_webserver_url(self) -> str:
        if self._hostname is None:
            self._hostname, _ = mwaa_login_token(self.mwaa_client, self.env_name)
        return f"https://{self._hostname}"

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        self._login(session, api_version, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        self._login(session, api_version, timeout, verify)
        return True

    def _login(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        hostname, web_token = mwaa_login_token(self.mwaa_client, self.env_name)
        self._hostname = hostname
        endpoint = "/aws_mwaa/login"
        try:
            response = session.post(
                f"https://{hostname}{endpoint}", data={"token": web_token}, timeout=timeout, verify=verify
            )
        except requests.exceptions.RequestException as exc:
            raise AirflowUnavailableError(
                f"could not reach MWAA to log in ({type(exc).__name__})",
                webserver_url=f"https://{hostname}",
                endpoint=endpoint,
            ) from None
        if response.status_code >= 400:
            raise AirflowAuthenticationError(
                f"MWAA login failed for environment {self.env_name!r} (HTTP {response.status_code})",
                webserver_url=f"https://{hostname}",
                endpoint=endpoint,
                status_code=response.status_code,
            )
        # Airflow 3 environments hand out a JWT in the `_token` cookie; the API wants it as a bearer token.
        jwt = session.cookies.get("_token")
        if api_version == "v2" and jwt:
            session.headers["Authorization"] = f"Bearer {jwt}"
        if api_version == "v1" and "session" not in session.cookies:
            raise AirflowError(
                f"MWAA login for environment {self.env_name!r} returned no session cookie",
                webserver_url=f"https://{hostname}",
                endpoint=endpoint,
            )

    def __repr__(self) -> str:
        return f"MwaaSessionAuthBackend(env_name={self.env_name!r})"


class ComposerAuthBackend(RenewingBearerAuthBackend):
    """Google Cloud Composer: the Airflow REST API accepts a Google OAuth access token as bearer token.

    Needs the ``composer`` extra (``pip install 'airlift-components[composer]'``, i.e. google-auth).
    Without ``credentials``, Application Default Credentials are used (``gcloud auth
    application-default login`` locally, the attached service account on GCP). The access token is
    refreshed before it expires and when Airflow answers 401.

    Example::

        ComposerAuthBackend(webserver_url="https://abc123-dot-europe-west1.composer.googleusercontent.com")

    Args:
        webserver_url: the environment's Airflow web server URL (``airflowUri`` in ``gcloud composer
            environments describe``).
        credentials: ``google.auth.credentials.Credentials`` to use instead of the default ones.
        scopes: OAuth scopes for the default credentials.
    """

    def __init__(
        self,
        webserver_url: str,
        credentials: Any = None,
        scopes: tuple[str, ...] = (CLOUD_PLATFORM_SCOPE,),
    ) -> None:
        super().__init__()
        self._webserver_url = webserver_url.rstrip("/")
        self._credentials = credentials
        self._scopes = scopes

    def get_webserver_url(self) -> str:
        return self._webserver_url

    def fetch_token(self, timeout: float, verify: Any) -> tuple[str, float | None]:
        google_auth, google_exceptions, transport = import_google_auth("ComposerAuthBackend")
        try:
            if self._credentials is None:
                self._credentials, _project = google_auth.default(scopes=list(self._scopes))
            self._credentials.refresh(transport.Request())
        except google_exceptions.GoogleAuthError as exc:
            # The exception text can quote the token endpoint's answer; name the failure only.
            raise AirflowAuthenticationError(
                f"could not obtain a Google access token for Cloud Composer ({type(exc).__name__}); "
                "check the credentials (GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`)",
                webserver_url=self._webserver_url,
            ) from None
        expiry = getattr(self._credentials, "expiry", None)
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)  # google-auth keeps expiry as naive UTC
        return self._credentials.token, (expiry.timestamp() if expiry is not None else None)

    def describe_credentials(self) -> str:
        return f"Google credentials {type(self._credentials).__name__ if self._credentials else '(default)'}"

    def __repr__(self) -> str:
        return f"ComposerAuthBackend(webserver_url={self._webserver_url!r})"


class AstronomerAuthBackend(RenewingBearerAuthBackend):
    """Astronomer (Astro): a Deployment (or Workspace/Organization) API token, read from an env var.

    The token is read when first needed and read again when Airflow answers 401, so a token rotated in
    the environment is picked up without a restart. A token that is a JWT whose ``exp`` has passed is
    refused before any request, with an error naming the env var (never the token).

    Example::

        AstronomerAuthBackend(
            webserver_url="https://myorg.astronomer.run/d1a2b3c4",  # the Deployment URL
            token_env="ASTRO_API_TOKEN",
        )
    """

    def __init__(self, webserver_url: str, token_env: str = "ASTRO_API_TOKEN") -> None:
        super().__init__()
        self._webserver_url = webserver_url.rstrip("/")
        self.token_env = token_env

    def get_webserver_url(self) -> str:
        return self._webserver_url

    def fetch_token(self, timeout: float, verify: Any) -> tuple[str, float | None]:
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise AirflowAuthenticationError(
                f"the Astronomer API token env var {self.token_env} is not set or empty",
                webserver_url=self._webserver_url,
            )
        expiry = _jwt_expiry(token)
        if expiry is not None and expiry <= time.time():
            raise AirflowAuthenticationError(
                f"the Astronomer API token in env var {self.token_env} expired "
                f"{time.time() - expiry:.0f} s ago; create a new one (Deployment > Access > API tokens)",
                webserver_url=self._webserver_url,
            )
        return token, expiry

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        previous = self._token
        self._renew(session, timeout, verify)
        return self._token != previous  # the same token would be refused again

    def describe_credentials(self) -> str:
        return f"the Astronomer API token from env var {self.token_env}"

    def __repr__(self) -> str:
        return f"AstronomerAuthBackend(webserver_url={self._webserver_url!r}, token_env={self.token_env!r})"


class MwaaAirflow3AuthBackend(RenewingBearerAuthBackend):
    """Amazon MWAA environments running Airflow 3: a web login token exchanged for a JWT.

    ``create_web_login_token`` (boto3, ``mwaa`` extra) returns the web server host name and a login
    token valid for 60 s. POSTing it to ``/pluginsv2/aws_mwaa/login`` (Airflow 3; Airflow 2 uses
    ``/aws_mwaa/login`` and a session cookie, see :class:`MwaaSessionAuthBackend`) sets the ``_token``
    cookie, a JWT that the ``/api/v2`` REST API accepts as bearer token. The JWT is renewed the same
    way before it expires and when Airflow answers 401.

    Example::

        import boto3
        MwaaAirflow3AuthBackend(mwaa_client=boto3.client("mwaa"), env_name="my-environment")

    Args:
        mwaa_client: a boto3 ``mwaa`` client.
        env_name: the MWAA environment name.
        webserver_url: reach the web server here instead of ``https://<WebServerHostname>`` (a VPC
            endpoint or a proxy).
    """

    LOGIN_PATH = "/pluginsv2/aws_mwaa/login"

    def __init__(self, mwaa_client: Any, env_name: str, webserver_url: str | None = None) -> None:
        super().__init__()
        self.mwaa_client = mwaa_client
        self.env_name = env_name
        self._webserver_url = webserver_url.rstrip("/") if webserver_url else None

    def get_webserver_url(self) -> str:
        if self._webserver_url is None:
            hostname, _ = mwaa_login_token(self.mwaa_client, self.env_name)
            self._webserver_url = f"https://{hostname}"
        return self._webserver_url

    def fetch_token(self, timeout: float, verify: Any) -> tuple[str, float | None]:
        hostname, web_token = mwaa_login_token(self.mwaa_client, self.env_name)
        base = self._webserver_url or f"https://{hostname}"
        try:
            response = requests.post(
                base + self.LOGIN_PATH,
                data={"token": web_token},
                timeout=timeout,
                verify=verify,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            raise AirflowUnavailableError(
                f"could not reach MWAA to log in ({type(exc).__name__})",
                webserver_url=base,
                endpoint=self.LOGIN_PATH,
            ) from None
        jwt = response.cookies.get("_token")
        if response.status_code >= 400 or not jwt:
            raise AirflowAuthenticationError(
                f"MWAA login for environment {self.env_name!r} gave no Airflow 3 token "
                f"(HTTP {response.status_code}); for an Airflow 2 environment use MwaaSessionAuthBackend",
                webserver_url=base,
                endpoint=self.LOGIN_PATH,
                status_code=response.status_code,
            )
        return jwt, _jwt_expiry(jwt)

    def describe_credentials(self) -> str:
        return f"the MWAA login of environment {self.env_name!r}"

    def __repr__(self) -> str:
        return f"MwaaAirflow3AuthBackend(env_name={self.env_name!r})"
