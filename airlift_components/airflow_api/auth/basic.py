"""Username and password (:class:`BasicAuthBackend`) and a static token (:class:`TokenAuthBackend`)."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from airlift_components.airflow_api.auth.base import (
    AirflowAuthBackend,
    RenewingBearerAuthBackend,
    _jwt_expiry,
    tls_error,
)
from airlift_components.airflow_api.errors import AirflowAuthenticationError, AirflowUnavailableError

logger = logging.getLogger("airlift_components.airflow_api")

# The hidden CSRF field of Airflow 2's (Flask-AppBuilder's) login form.
_CSRF_INPUT = re.compile(r"<input[^>]*\bname=[\"']csrf_token[\"'][^>]*>", re.IGNORECASE)
_VALUE = re.compile(r"\bvalue=[\"']([^\"']+)[\"']", re.IGNORECASE)
# After Airflow refused the login session (its [api] auth_backends may lack the session backend), wait
# this long before logging in again; basic auth serves meanwhile.
LOGIN_SESSION_RETRY_S = 3600.0


class BasicAuthBackend(RenewingBearerAuthBackend):
    """Username and password.

    On Airflow 3 the password is exchanged for a JWT at ``/auth/token`` and the token is renewed on 401
    or shortly before it expires (:class:`RenewingBearerAuthBackend`); on Airflow 2 the session uses HTTP
    basic auth, and a long-lived client (the sensor's) logs in once through the webserver's login form
    and sends its session cookie instead (:meth:`start_login_session`). The password is never part of
    ``repr``, logs or error messages.

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
        self._login_lock = threading.Lock()
        self._cookie_session = False  # Airflow 2: the session sends a login cookie, not the password
        self._login_refused_at: float | None = None
        self._cookie_dropped_at: float | None = None
        self.logins = 0  # Airflow 2 form logins that gave a session cookie (tests and diagnostics)

    def get_webserver_url(self) -> str:
        return self._webserver_url

    @property
    def refreshes_on_forbidden(self) -> bool:  # type: ignore[override]
        """True while Airflow 2 gets the login cookie: it answers 403 (not 401) once that session is gone."""
        return self._cookie_session

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        if api_version == "v1":
            session.auth = (self.username, self._password)
        else:
            super().authenticate(session, api_version, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        if api_version == "v1":
            # The login cookie was refused: back to basic auth for this request and the next ones.
            with self._login_lock:
                if not self._cookie_session:
                    # A request sent with the cookie by another thread just before it was dropped: retry.
                    dropped = self._cookie_dropped_at
                    return dropped is not None and time.monotonic() - dropped < timeout
                self._cookie_session = False
                self._login_refused_at = self._cookie_dropped_at = time.monotonic()
                session.cookies.clear()
                session.auth = (self.username, self._password)
            logger.info("Airflow %s refused the login session; using basic auth", self._webserver_url)
            return True
        return super().refresh(session, api_version, timeout, verify)

    def start_login_session(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> bool:
        """Airflow 2: log in once through the webserver's login form and send its session cookie instead
        of the password from then on.

        Airflow 2 checks the password hash (and records the login) on every basic-auth request, which
        is most of the server time of a small request; a session cookie skips that. Cost: two requests
        (the login page, the login) once per client. Airflow must accept sessions on its API (``[api]
        auth_backends`` lists ``airflow.api.auth.backend.session``, Airflow 2's default); when the login
        or a later request with the cookie is refused, the client goes back to basic auth (and tries
        again after an hour). Airflow 3 uses its JWT: nothing to do.
        """
        if api_version != "v1":
            return False
        with self._login_lock:
            if self._cookie_session:
                return True
            refused = self._login_refused_at
            if refused is not None and time.monotonic() - refused < LOGIN_SESSION_RETRY_S:
                return False
            if self._login_with_form(session, timeout, verify):
                session.auth = None  # a basic-auth header would make Airflow check the password again
                self._cookie_session = True
                self.logins += 1
                return True
            self._login_refused_at = time.monotonic()
            return False

    def _login_with_form(self, session: requests.Session, timeout: float, verify: Any) -> bool:
        login_url = self._webserver_url + "/login/"
        try:
            page = session.get(login_url, timeout=timeout, verify=verify)
            field = _CSRF_INPUT.search(page.text) if page.status_code == 200 else None
            token = _VALUE.search(field.group(0)) if field else None
            if token is None:
                logger.info("Airflow %s: no login form at /login/; using basic auth", self._webserver_url)
                return False
            answer = session.post(
                login_url,
                data={"username": self.username, "password": self._password, "csrf_token": token.group(1)},
                timeout=timeout,
                verify=verify,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            logger.info(
                "Airflow %s: login form failed (%s); using basic auth",
                self._webserver_url,
                type(exc).__name__,
            )
            return False
        # Success redirects away from the login page; a wrong password redirects back to it.
        target = urlsplit(answer.headers.get("Location", "")).path
        if answer.status_code in (302, 303) and not target.rstrip("/").endswith("/login") and session.cookies:
            return True
        logger.info(
            "Airflow %s: login form answered HTTP %s; using basic auth",
            self._webserver_url,
            answer.status_code,
        )
        session.cookies.clear()
        return False

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
