"""How the Airflow client talks HTTP: retries, request counting, error mapping and paging.

urllib3's ``Retry`` (see :mod:`airlift_components.http_retry`) retries idempotent calls after connection
errors, timeouts, 429 and 5xx, with doubling backoff and ``Retry-After``; every request sent, retries
included, is counted in :attr:`AirflowTransport.request_count`. Failures become the named errors of
:mod:`airlift_components.airflow_api.errors`, and :func:`iter_pages` is the one paging loop of every listing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError

from airlift_components.airflow_api.auth.base import tls_error
from airlift_components.airflow_api.errors import (
    AirflowAuthenticationError,
    AirflowNotFoundError,
    AirflowRequestError,
    AirflowResponseError,
    AirflowUnavailableError,
)
from airlift_components.airflow_api.records import AirflowVersionInfo
from airlift_components.http_retry import (
    RETRY_STATUSES,
    backoff_delay,
    mount_retrying_adapter,
    problem_name,
    retry_policy,
    retrying,
)

logger = logging.getLogger("airlift_components.airflow_api")

_MAX_BACKOFF_S = 10.0


@dataclass
class AirflowTransport:
    """Sends requests to one Airflow through a session and turns failures into named errors.

    Args:
        webserver_url: the Airflow base URL (no trailing slash).
        name: the label of log lines.
        timeout: seconds to wait for each HTTP response.
        max_retries: retries of an idempotent call.
        backoff_seconds: the first retry's delay; it doubles each retry (with jitter), capped at 10 s.
        verify: TLS verification: True, a CA bundle path, or False.
    """

    webserver_url: str
    name: str
    timeout: float
    max_retries: int
    backoff_seconds: float
    verify: bool | str
    #: HTTP requests sent so far, each retry counted.
    request_count: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mount(self, session: requests.Session, pool_maxsize: int = 10) -> requests.Session:
        """Put the retrying connection pool on ``session`` (and return it)."""
        mount_retrying_adapter(session, pool_connections=4, pool_maxsize=max(pool_maxsize, 4))
        return session

    def _count(self) -> None:
        with self._count_lock:
            self.request_count += 1

    def send(
        self,
        session: requests.Session,
        method: str,
        endpoint: str,
        *,
        idempotent: bool,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One call, retried if ``idempotent``; returns the response, whatever its status.

        Raises :class:`AirflowTLSError` for an untrusted certificate and :class:`AirflowUnavailableError`
        when no answer came after the retries.
        """
        attempts = (self.max_retries + 1) if idempotent else 1
        sent = 0
        problem = ""

        def on_retry(what: str) -> None:
            nonlocal sent, problem
            problem = what
            self._log_failure(method, endpoint, what, sent, attempts)
            sent += 1
            self._count()

        while True:
            sent += 1
            self._count()
            try:
                with retrying(retry_policy(attempts - sent, self.backoff_seconds, on_retry=on_retry)):
                    return session.request(
                        method,
                        self.webserver_url + endpoint,
                        params=params,
                        json=json,
                        headers=headers,
                        timeout=self.timeout,
                        verify=self.verify,
                    )
            except requests.exceptions.SSLError as exc:
                raise tls_error(exc, webserver_url=self.webserver_url, endpoint=endpoint) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,  # the connection dropped while the body was read
            ) as exc:
                problem = problem_name(exc)
                # urllib3 retries until the response headers are in; a failure while requests reads the body
                # comes later, so it is retried here, within the same number of attempts.
                read_the_body = not (exc.args and isinstance(exc.args[0], MaxRetryError))
                if read_the_body and sent < attempts:
                    self._log_failure(method, endpoint, problem, sent, attempts)
                    time.sleep(backoff_delay(self.backoff_seconds, sent, _MAX_BACKOFF_S))
                    continue
            raise AirflowUnavailableError(
                f"Airflow did not answer {method} after {sent} attempt(s) (last problem: {problem})",
                webserver_url=self.webserver_url,
                endpoint=endpoint,
            )

    def detect_version(self, session: requests.Session, requested: str) -> AirflowVersionInfo:
        """The Airflow version and API dialect: ``/api/v2/version``, then ``/api/v1/version`` (for ``"auto"``)."""
        candidates = ["v2", "v1"] if requested == "auto" else [requested]
        last_status = None
        for candidate in candidates:
            endpoint = f"/api/{candidate}/version"
            response = self.send(session, "GET", endpoint, idempotent=True)
            last_status = response.status_code
            if response.status_code == 404:
                continue
            if response.status_code in (401, 403):
                # The endpoint exists but wants credentials (some Airflow 2 setups): the dialect is known.
                return AirflowVersionInfo(version="unknown", api_version=candidate)
            if response.status_code >= 400:
                raise AirflowRequestError(
                    f"version endpoint answered HTTP {response.status_code}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=response.status_code,
                )
            version = str(self.decode(response, endpoint).get("version", "unknown"))
            if requested == "auto" and version.startswith("2.") and candidate == "v2":
                continue
            return AirflowVersionInfo(version=version, api_version=candidate)
        raise AirflowRequestError(
            f"no Airflow REST API found (version endpoints answered HTTP {last_status}); "
            "is this the Airflow webserver / API server URL?",
            webserver_url=self.webserver_url,
            endpoint="/api/v2/version",
            status_code=last_status,
        )

    def _log_failure(self, method: str, endpoint: str, problem: str, attempt: int, attempts: int) -> None:
        logger.warning(
            "Airflow %s: %s %s failed (%s), attempt %d/%d",
            self.name,
            method,
            endpoint,
            problem,
            attempt,
            attempts,
        )

    def check(self, response: requests.Response, endpoint: str, credentials: str = "") -> None:
        """Raise the named error for an HTTP error status (``credentials`` names them in a 401/403 message)."""
        status = response.status_code
        if status < 400:
            return
        where = {"webserver_url": self.webserver_url, "endpoint": endpoint, "status_code": status}
        if status in (401, 403):
            used = f": {credentials}" if credentials else ""
            raise AirflowAuthenticationError(
                f"Airflow refused the credentials (HTTP {status}){used}", **where
            )
        if status == 404:
            raise AirflowNotFoundError(f"not found (HTTP 404){_detail(response)}", **where)
        if status in RETRY_STATUSES:
            raise AirflowUnavailableError(f"Airflow kept answering HTTP {status}", **where)
        raise AirflowRequestError(f"Airflow rejected the request (HTTP {status}){_detail(response)}", **where)

    def decode(self, response: requests.Response, endpoint: str) -> Any:
        """The JSON body, or :class:`AirflowResponseError` if it is not JSON (truncated, HTML, ...)."""
        try:
            return response.json()
        except ValueError:
            raise AirflowResponseError(
                f"HTTP {response.status_code} answer is not valid JSON ({len(response.content)} bytes)",
                webserver_url=self.webserver_url,
                endpoint=endpoint,
                status_code=response.status_code,
            ) from None

    def rows(self, body: Any, key: str, endpoint: str) -> list[dict[str, Any]]:
        """The ``key`` list of a listing's body, or :class:`AirflowResponseError` naming what was expected."""
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise AirflowResponseError(
                f"expected a JSON object with a {key!r} list",
                webserver_url=self.webserver_url,
                endpoint=endpoint,
            )
        return body[key]


def iter_pages(
    fetch: Callable[[int, int], dict[str, Any]],
    rows_of: Callable[[Any], list[dict[str, Any]]],
    page_size: int,
) -> Iterator[list[dict[str, Any]]]:
    """Every page of a listing: ``fetch(limit, offset)`` until ``total_entries`` (or a short page) says done.

    The offset follows the rows really returned, so a server that caps the page size below ``page_size``
    is still read to the end. Lazy: a caller that stops early sends no more requests.
    """
    offset = 0
    while True:
        body = fetch(page_size, offset)
        rows = rows_of(body)
        yield rows
        offset += len(rows)
        total = body.get("total_entries")
        if not rows or (total is not None and offset >= total) or (total is None and len(rows) < page_size):
            return


def _detail(response: requests.Response) -> str:
    """Airflow's own explanation of an error status (``detail``), shortened, or nothing."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    if not detail:
        return ""
    text = detail if isinstance(detail, str) else str(detail)
    return f": {text[:300]}"


def iso_timestamp(value: datetime | str | None) -> str | None:
    """A datetime as ISO 8601 text (naive means UTC); text and None pass through."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def batch_body(**filters: Any) -> dict[str, Any]:
    """A batch-list body from the filters that are set (lists as lists, datetimes as ISO strings)."""
    body: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            body[name] = iso_timestamp(value)
        elif isinstance(value, str):
            body[name] = value
        else:
            body[name] = list(value)
    return body


def quote_part(part: str) -> str:
    """One URL path segment, every reserved character escaped (DAG and run ids may hold ``/`` or ``:``)."""
    return requests.utils.quote(part, safe="")
