"""How :class:`~airlift_components.airflow_api.AirflowClient` reaches one Airflow instance: its settings,
the API dialect (detected once), the authenticated pooled session, one request with the auth refresh on
401, and paging. The endpoint methods are in :mod:`~airlift_components.airflow_api.client`; how a request
travels (timeouts, urllib3 retries, named errors) is :mod:`~airlift_components.airflow_api.transport`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

import requests

from airlift_components.airflow_api.auth import AirflowAuthBackend
from airlift_components.airflow_api.errors import AirflowAuthenticationError, AirflowResponseError
from airlift_components.airflow_api.records import AirflowVersionInfo
from airlift_components.airflow_api.transport import AirflowTransport, iter_pages

ApiVersion = Literal["auto", "v1", "v2"]


class BaseAirflowClient:
    """The request plumbing of :class:`~airlift_components.airflow_api.AirflowClient` (see its arguments)."""

    def __init__(
        self,
        auth_backend: AirflowAuthBackend,
        *,
        name: str | None = None,
        api_version: ApiVersion = "auto",
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        page_size: int = 100,
        verify: bool | str = True,
        max_workers: int = 8,
    ) -> None:
        if api_version not in ("auto", "v1", "v2"):
            raise ValueError(f"api_version must be 'auto', 'v1' or 'v2', got {api_version!r}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.auth_backend = auth_backend
        self.webserver_url = auth_backend.get_webserver_url().rstrip("/")
        self.name = name or self.webserver_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.page_size = page_size
        self.verify = verify
        self.max_workers = max_workers
        self._transport = AirflowTransport(
            self.webserver_url, self.name, timeout, max_retries, backoff_seconds, verify
        )
        self._requested_api_version = api_version
        self._version_info: AirflowVersionInfo | None = None
        self._api_version: str | None = None
        # The dialect was inferred from a missing token endpoint: a 404 before any answer probes for sure.
        self._dialect_unconfirmed = False
        self._session: requests.Session | None = None
        self._lock = threading.RLock()

    @property
    def request_count(self) -> int:
        """HTTP requests sent to Airflow so far, every retry counted (login requests are not)."""
        return self._transport.request_count

    @request_count.setter
    def request_count(self, value: int) -> None:
        """Reset the count (``client.request_count = 0``) before measuring what one operation costs."""
        self._transport.request_count = value

    @property
    def api_version(self) -> str:
        """``"v2"`` for Airflow 3, ``"v1"`` for Airflow 2 (detected on first use unless given).

        Cost of the detection: none beyond the login with a backend whose login only Airflow 3 answers
        (:class:`BasicAuthBackend`: the token request it sends anyway); else one version request (two
        when the first, ``/api/v2/version``, is not found and ``/api/v1/version`` must confirm Airflow 2).
        """
        if self._api_version is None:
            with self._lock:
                if self._api_version is None:
                    self._api_version = self._detect_api_version()
        return self._api_version

    @property
    def version_info(self) -> AirflowVersionInfo:
        """The Airflow version and API dialect of this instance (one version request the first time it is
        asked, unless the detection already read it)."""
        if self._version_info is None:
            with self._lock:
                if self._version_info is None:
                    requested = self._api_version or self._requested_api_version
                    self._version_info = self._transport.detect_version(self._probe_session(), requested)
                    self._api_version = self._api_version or self._version_info.api_version
        return self._version_info

    @property
    def known_airflow_version(self) -> str:
        """The Airflow version if a request already told it, else its major version (``"3.x"``, ``"2.x"``):
        never a request beyond the dialect's detection."""
        if self._version_info is not None and self._version_info.version != "unknown":
            return self._version_info.version
        return "3.x" if self.api_version == "v2" else "2.x"

    def _probe_session(self) -> requests.Session:
        return self._transport.mount(self.auth_backend.get_session())

    def _detect_api_version(self) -> str:
        if self._requested_api_version != "auto":
            return self._requested_api_version
        if self.auth_backend.login_detects_airflow_3:
            session = self._transport.mount(self.auth_backend.get_session(), self.max_workers)
            try:
                self.auth_backend.authenticate(session, "v2", self.timeout, self.verify)
            except AirflowAuthenticationError as exc:
                if exc.status_code in (401, 403):
                    raise  # Airflow 3 answered: the credentials are wrong
                if exc.status_code == 404:
                    # No token endpoint: Airflow 2, confirmed by the first answer of /api/v1 (else probed).
                    self._dialect_unconfirmed = True
                    return "v1"
            else:
                self._session = session  # logged in: Airflow 3, and the session is ready
                return "v2"
        return self.version_info.api_version

    def _get_session(self) -> requests.Session:
        if self._session is None:
            api_version = self.api_version
            with self._lock:
                if self._session is None:
                    session = self._transport.mount(self.auth_backend.get_session(), self.max_workers)
                    self.auth_backend.authenticate(session, api_version, self.timeout, self.verify)
                    self._session = session
        return self._session

    def use_login_session(self) -> bool:
        """Let a long-lived client (the sensor's) log in once where that saves Airflow work on every later
        request; True if it now uses such a session.

        With :class:`BasicAuthBackend` on Airflow 2, the client logs in through the webserver's login form
        and sends the session cookie instead of the password: Airflow 2 checks the password hash on every
        basic-auth request. Cost: two requests the first time (not in :attr:`request_count`, like other
        logins); nothing afterwards, and nothing on Airflow 3 or with other backends.
        """
        session = self._get_session()
        return self.auth_backend.start_login_session(session, self.api_version, self.timeout, self.verify)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request to ``endpoint`` (a path like ``/api/v2/dags``) and return the decoded JSON body.

        Handles auth refresh on 401 (one retry), retries (for idempotent calls) and error mapping.
        """
        if idempotent is None:
            idempotent = method.upper() == "GET"
        session = self._get_session()
        refreshed = False
        reread = False
        while True:
            self.auth_backend.before_request(session, self.api_version, self.timeout, self.verify)
            response = self._transport.send(
                session, method, endpoint, params=params, json=json, headers=headers, idempotent=idempotent
            )
            status = response.status_code
            if not refreshed and (
                status == 401 or (status == 403 and self.auth_backend.refreshes_on_forbidden)
            ):
                refreshed = True
                if self.auth_backend.refresh(session, self.api_version, self.timeout, self.verify):
                    continue
            if status == 404 and self._dialect_unconfirmed:
                # Not Airflow 3, and maybe not Airflow 2 either: the probe names a server without the API.
                self._dialect_unconfirmed = False
                self._transport.detect_version(self._probe_session(), "auto")
            elif status < 400:
                self._dialect_unconfirmed = False
            self._transport.check(response, endpoint, self.auth_backend.describe_credentials())
            if status == 204 or not response.content:
                return None
            try:
                return self._transport.decode(response, endpoint)
            except AirflowResponseError:
                # A complete HTTP answer whose JSON is cut short (not an urllib3 retry case, the status was
                # fine): usually a dropped upstream connection, so read-only calls read it once more.
                if idempotent and not reread:
                    reread = True
                    continue
                raise

    def _path(self, suffix: str) -> str:
        return f"/api/{self.api_version}{suffix}"

    def _pages(
        self, suffix: str, key: str, query: dict[str, Any], *, post: bool = False
    ) -> Iterator[list[Any]]:
        """The pages of a listing: GET with ``limit``/``offset``, or a batch POST with ``page_limit``/``page_offset``."""
        endpoint = self._path(suffix)

        def fetch(limit: int, offset: int) -> Any:
            if post:
                page = {**query, "page_limit": limit, "page_offset": offset}
                return self.request("POST", endpoint, json=page, idempotent=True)
            return self.request("GET", endpoint, params={**query, "limit": limit, "offset": offset})

        return iter_pages(fetch, lambda body: self._transport.rows(body, key, endpoint), self.page_size)
