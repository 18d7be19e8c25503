"""Username and password (:class:`BasicAuthBackend`) and a static token (:class:`TokenAuthBackend`)."""

from __future__ import annotations

from typing import Any

import requests

from airlift_components.airflow_api.auth.base import (
    AirflowAuthBackend,
    RenewingBearerAuthBackend,
    _jwt_expiry,
    tls_error,
)
from airlift_components.airflow_api.errors import AirflowAuthenticationError, AirflowUnavailableError


class BasicAuthBackend(RenewingBearerAuthBackend):
    """Username and password.

    On Airflow 3 the password is exchanged for a JWT at ``/auth/token`` and the token is renewed on 401
    or shortly before it expires (:class:`RenewingBearerAuthBackend`); on Airflow 2 the session uses HTTP
    basic auth. The password is never part of ``repr``, logs or error messages.

    Example::

        BasicAuthBackend(webserver_url="http://localhost:8080", username="admin", password="admin")
    """

    TOKEN_PATH = "/auth/token"
    login_detects_airflow_3 = True

    def __init__(self, webserver_url: str, username: str, password: str) -> None:
        super().__init__()
        self._webserver_url = webserver_url.rstrip("/")
        self.username = username
        self._password = password

    def get_webserver_url(self) -> str:
        return self._webserver_url

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        if api_version == "v1":
            session.auth = (self.username, self._password)
        else:
            super().authenticate(session, api_version, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        return api_version != "v1" and super().refresh(session, api_version, timeout, verify)

    def before_request(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> None:
        if api_version != "v1":
            super().before_request(session, api_version, timeout, verify)

    def fetch_token(self, timeout: float, verify: Any) -> tuple[str, float | None]:
        """Exchange the password for a JWT at Airflow 3's ``/auth/token`` (one request, never retried)."""
        where = {"webserver_url": self._webserver_url, "endpoint": self.TOKEN_PATH}
        try:
            response = requests.post(
                self._webserver_url + self.TOKEN_PATH,
                json={"username": self.username, "password": self._password},
                timeout=timeout,
                verify=verify,
            )
        except requests.exceptions.SSLError as exc:
            raise tls_error(exc, doing=" while logging in", **where) from None
        except requests.exceptions.RequestException as exc:
            raise AirflowUnavailableError(
                f"could not reach Airflow to log in ({type(exc).__name__})", **where
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise AirflowAuthenticationError(
                f"Airflow rejected the username {self.username!r} or its password (HTTP {status})",
                status_code=status,
                **where,
            )
        if status >= 400:
            raise AirflowAuthenticationError(
                f"could not obtain an API token (HTTP {status})", status_code=status, **where
            )
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AirflowAuthenticationError(
                "the token endpoint answered without an access_token", **where
            ) from None
        return token, _jwt_expiry(token)

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
