"""What every auth backend shares: the backend interface, token renewal, JWT expiry and the TLS error."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import requests

from airlift_components.airflow_api.errors import AirflowAuthenticationError, AirflowTLSError

# Renew a token this many seconds (at most a tenth of its lifetime) before it expires, so that no
# request races the expiry.
_EXPIRY_MARGIN_S = 30.0
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

    #: Its Airflow 3 login is a request that only Airflow 3 answers (HTTP 404 elsewhere), so the client can
    #: learn the API dialect from the login it sends anyway instead of asking the version endpoint first.
    login_detects_airflow_3: bool = False

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

    def start_login_session(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> bool:
        """For a long-lived client: trade per-request credentials for a login session if that is cheaper
        for Airflow. Returns True if ``session`` now carries one. The default does nothing."""
        return False

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


def tls_error(exc: Exception, *, webserver_url: str, endpoint: str, doing: str = "") -> AirflowTLSError:
    """The error for a certificate ``requests`` did not trust (``doing``: e.g. ``" while logging in"``)."""
    return AirflowTLSError(
        f"TLS verification failed{doing} ({type(exc).__name__}): the server's certificate is not trusted. "
        f"{TLS_FIX}",
        webserver_url=webserver_url,
        endpoint=endpoint,
    )


class RenewingBearerAuthBackend(AirflowAuthBackend):
    """A bearer token that is fetched on first use, renewed before it expires and once on 401.

    Subclasses implement :meth:`fetch_token` (and :meth:`get_webserver_url`).
    """

    def __init__(self) -> None:
        self._token: str | None = None
        # When to renew: a little before the token expires (None: it does not say).
        self._token_expiry: float | None = None
        self._token_lock = threading.Lock()
        self.token_fetches = 0  # how many tokens were obtained (tests and diagnostics)

    def fetch_token(self, timeout: float, verify: Any) -> tuple[str, float | None]:
        """A fresh token and its expiry (seconds since the epoch, None if unknown)."""
        raise NotImplementedError

    def _renew(self, session: requests.Session, timeout: float, verify: Any) -> None:
        with self._token_lock:
            token, expiry = self.fetch_token(timeout, verify)
            if not token:
                raise AirflowAuthenticationError(
                    f"{type(self).__name__} obtained an empty token", webserver_url=self.get_webserver_url()
                )
            now = time.time()
            self._token = token
            self.token_fetches += 1
            self._token_expiry = (
                None if expiry is None else expiry - min(_EXPIRY_MARGIN_S, 0.1 * max(expiry - now, 0.0))
            )
        session.headers["Authorization"] = f"Bearer {token}"

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        self._renew(session, timeout, verify)

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        self._renew(session, timeout, verify)
        return True

    def before_request(
        self, session: requests.Session, api_version: str, timeout: float, verify: Any
    ) -> None:
        if self._token is None or (self._token_expiry is not None and time.time() >= self._token_expiry):
            self._renew(session, timeout, verify)
