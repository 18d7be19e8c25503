"""How the client proves who it is to Airflow.

An auth backend knows the webserver URL and prepares a ``requests.Session``. The client calls
:meth:`AirflowAuthBackend.authenticate` once the API dialect is known (Airflow 3 wants a JWT, Airflow 2
accepts HTTP basic auth) and :meth:`AirflowAuthBackend.refresh` once when Airflow answers 401.

Custom auth: subclass :class:`AirflowAuthBackend` and override ``get_session`` (and ``refresh`` if
your credentials expire)::

    class HeaderAuthBackend(AirflowAuthBackend):
        def __init__(self, webserver_url: str, api_key: str):
            self._url, self._api_key = webserver_url, api_key

        def get_webserver_url(self) -> str:
            return self._url

        def get_session(self) -> requests.Session:
            session = requests.Session()
            session.headers["X-Api-Key"] = self._api_key
            return session
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import requests

from airlift_components.airflow_api.errors import (
    AirflowAuthenticationError,
    AirflowError,
    AirflowTLSError,
    AirflowUnavailableError,
)

# Refresh a JWT this many seconds before it says it expires, so a request never races the expiry.
_JWT_EXPIRY_MARGIN_S = 30.0
# How to fix an untrusted certificate, in the words of both the component YAML and the Python API.
TLS_FIX = (
    "Trust its CA with ca_bundle_path: /path/ca.pem in the component YAML (verify='/path/ca.pem' in "
    "Python), or, only for a test setup, turn verification off with verify_ssl: false (verify=False)."
)


class AirflowAuthBackend:
    """Base class for Airflow auth. Subclasses must implement :meth:`get_webserver_url`."""

    def get_webserver_url(self) -> str:
        """The Airflow webserver / API server base URL, e.g. ``http://localhost:8080``."""
        raise NotImplementedError

    def get_session(self) -> requests.Session:
        """A new session carrying whatever static credentials this backend has."""
        return requests.Session()

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        """Called once per session after the API dialect (``"v1"`` or ``"v2"``) is known."""

    #: Ask for :meth:`refresh` on HTTP 403 too: Airflow 2's session (cookie) auth answers 403, not 401,
    #: once the session is gone. Off by default, because a 403 usually means "not permitted".
    refreshes_on_forbidden: bool = False

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        """Called when Airflow answers 401 (and 403, with :attr:`refreshes_on_forbidden`). Return True if the
        credentials were renewed and one retry makes sense."""
        return False

    def before_request(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> None:
        """Called before every request; lets token backends renew a token that is about to expire."""

    def describe_credentials(self) -> str:
        """Which credentials were used, for error messages (never the secret itself); empty if nothing to add."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(webserver_url={self.get_webserver_url()!r})"


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since epoch), or None if the token does not say."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(payload)).get("exp")
        return float(exp) if exp is not None else None
    except (IndexError, ValueError, TypeError):
        return None


class BasicAuthBackend(AirflowAuthBackend):
    """Username and password.

    On Airflow 3 the password is exchanged for a JWT at ``/auth/token`` and the token is renewed on 401
    or shortly before it expires; on Airflow 2 the session uses HTTP basic auth. The password is never
    part of ``repr``, logs or error messages.

    Example::

        BasicAuthBackend(webserver_url="http://localhost:8080", username="admin", password="admin")
    """

    def __init__(self, webserver_url: str, username: str, password: str) -> None:
        self._webserver_url = webserver_url.rstrip("/")
        self.username = username
        self._password = password
        self._token_expiry: float | None = None

    def get_webserver_url(self) -> str:
        return self._webserver_url

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        if api_version == "v1":
            session.auth = (self.username, self._password)
        else:
            self._fetch_token(session, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        if api_version == "v1":
            return False
        self._fetch_token(session, timeout, verify)
        return True

    def before_request(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> None:
        if api_version == "v2" and self._token_expiry is not None and time.time() > self._token_expiry:
            self._fetch_token(session, timeout, verify)

    def _fetch_token(self, session: requests.Session, timeout: float, verify: Any) -> None:
        endpoint = "/auth/token"
        url = self._webserver_url + endpoint
        try:
            response = requests.post(
                url,
                json={"username": self.username, "password": self._password},
                timeout=timeout,
                verify=verify,
            )
        except requests.exceptions.SSLError as exc:
            raise AirflowTLSError(
                f"TLS verification failed while logging in ({type(exc).__name__}): the server's "
                f"certificate is not trusted. {TLS_FIX}",
                webserver_url=self._webserver_url,
                endpoint=endpoint,
            ) from None
        except requests.exceptions.RequestException as exc:
            raise AirflowUnavailableError(
                f"could not reach Airflow to log in ({type(exc).__name__})",
                webserver_url=self._webserver_url,
                endpoint=endpoint,
            ) from None
        if response.status_code in (401, 403):
            raise AirflowAuthenticationError(
                f"Airflow rejected the username {self.username!r} or its password (HTTP {response.status_code})",
                webserver_url=self._webserver_url,
                endpoint=endpoint,
                status_code=response.status_code,
            )
        if response.status_code >= 400:
            raise AirflowAuthenticationError(
                f"could not obtain an API token (HTTP {response.status_code})",
                webserver_url=self._webserver_url,
                endpoint=endpoint,
                status_code=response.status_code,
            )
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AirflowAuthenticationError(
                "the token endpoint answered without an access_token",
                webserver_url=self._webserver_url,
                endpoint=endpoint,
            ) from None
        session.headers["Authorization"] = f"Bearer {token}"
        expiry = _jwt_expiry(token)
        # Renew a little early (at most 30 s, at most a tenth of the lifetime) so no request races the expiry.
        self._token_expiry = (
            None if expiry is None else expiry - min(_JWT_EXPIRY_MARGIN_S, 0.1 * (expiry - time.time()))
        )

    def __repr__(self) -> str:
        return f"BasicAuthBackend(webserver_url={self._webserver_url!r}, username={self.username!r}, password='***')"


AirflowBasicAuthBackend = BasicAuthBackend


class TokenAuthBackend(AirflowAuthBackend):
    """A static bearer token (an Airflow 3 API token, an Astronomer deployment token, ...).

    Example::

        TokenAuthBackend(webserver_url="https://airflow.example.com", token=os.environ["AIRFLOW_TOKEN"])
    """

    def __init__(self, webserver_url: str, token: str) -> None:
        self._webserver_url = webserver_url.rstrip("/")
        self._token = token

    def get_webserver_url(self) -> str:
        return self._webserver_url

    def get_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self._token}"
        return session

    def __repr__(self) -> str:
        return f"TokenAuthBackend(webserver_url={self._webserver_url!r}, token='***')"


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

    def _login_token(self) -> tuple[str, str]:
        answer = self.mwaa_client.create_web_login_token(Name=self.env_name)
        return answer["WebServerHostname"], answer["WebToken"]

    def get_webserver_url(self) -> str:
        if self._hostname is None:
            self._hostname, _ = self._login_token()
        return f"https://{self._hostname}"

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        self._login(session, api_version, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        self._login(session, api_version, timeout, verify)
        return True

    def _login(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        hostname, web_token = self._login_token()
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
