"""The retry policy both HTTP clients mount on their ``requests`` session: urllib3's ``Retry``, counted.

The Airflow REST client (:mod:`airlift_components.airflow_api`) and the proxy operators' Dagster GraphQL
client (:mod:`airlift_components.in_airflow.dagster_graphql`) both retry through
:class:`RetryingAdapter` and :class:`CountedRetry`, so urllib3 does the retrying, the backoff and the
``Retry-After`` waits. This module imports only requests and urllib3: the Airflow side may import it
without pydantic or dagster.

Example::

    session = requests.Session()
    adapter = RetryingAdapter()
    session.mount("http://", adapter)
    with adapter.retrying(retry_policy(3, backoff_seconds=0.5)):
        session.get("http://localhost:8080/api/v2/version", timeout=10)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

#: Statuses worth another try: rate limited, or the server (or a proxy in front of it) failing for now.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Longest wait a ``Retry-After`` header can impose before one retry.
MAX_RETRY_AFTER_S = 30.0

# The Retry of the call in progress in this thread (see RetryingAdapter.retrying).
_CALL_RETRY: ContextVar[Retry | None] = ContextVar("airlift_call_retry", default=None)


def backoff_delay(backoff_factor: float, retry_number: int, cap: float, jitter: float = 0.2) -> float:
    """The wait before retry ``retry_number`` (1 = the first retry): ``backoff_factor`` doubling, capped, jittered."""
    if retry_number < 1:
        return 0.0
    delay = min(backoff_factor * 2 ** (retry_number - 1), cap)
    return delay * (1.0 - jitter + 2 * jitter * random.random())


class CountedRetry(Retry):
    """urllib3's ``Retry`` with the clients' backoff schedule and a callback per retry.

    The first retry waits ``backoff_factor`` seconds and each later one twice as long, capped at
    ``backoff_max``, with ``jitter`` (a fraction, default ±20 %) so that clients do not retry in step.
    ``on_retry(problem)`` runs before every retry with a short reason (``"HTTP 503"``, ``"ReadTimeout"``),
    so the caller can count every request sent and log it.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(
        self, *args: Any, on_retry: Callable[[str], None] | None = None, jitter: float = 0.2, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry
        self.jitter = jitter

    def new(self, **kwargs: Any) -> CountedRetry:
        retry = super().new(**kwargs)
        retry.on_retry, retry.jitter = self.on_retry, self.jitter
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> CountedRetry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises once spent
        if self.on_retry is not None:
            self.on_retry(f"HTTP {response.status}" if response is not None else problem_name(error))
        return retry

    def get_backoff_time(self) -> float:
        return backoff_delay(self.backoff_factor, len(self.history), self.backoff_max, self.jitter)


def retry_policy(
    retries: int,
    backoff_seconds: float,
    *,
    on_retry: Callable[[str], None] | None = None,
    statuses: frozenset[int] = RETRY_STATUSES,
    unsent_only: bool = False,
    backoff_max: float = 10.0,
) -> CountedRetry:
    """The retry policy of one call: up to ``retries`` retries after a connection failure, a timeout or
    one of ``statuses`` (waiting out ``Retry-After``, at most :data:`MAX_RETRY_AFTER_S`).

    ``unsent_only`` (for calls that must not run twice) retries only failures to connect, where the
    request surely never reached the server. Any other error (a TLS failure, ...) is never retried, and
    once the retries are spent on a status, the last response is returned for the caller to name.
    """
    return CountedRetry(
        total=retries,
        read=0 if unsent_only else None,
        status=0 if unsent_only else None,
        other=0,
        allowed_methods=None,  # the caller decides what is safe to repeat, not the HTTP method
        status_forcelist=statuses,
        backoff_factor=backoff_seconds,
        backoff_max=backoff_max,
        retry_after_max=MAX_RETRY_AFTER_S,
        raise_on_status=False,
        on_retry=on_retry,
    )


def problem_name(error: BaseException | None) -> str:
    """A short name for a transport failure, in the words of ``requests`` (``ReadTimeout``, ``ConnectionError``)."""
    if (
        isinstance(error, requests.RequestException)
        and error.args
        and isinstance(error.args[0], MaxRetryError)
    ):
        error = error.args[0].reason  # what urllib3 gave up on
    if isinstance(error, ReadTimeoutError):
        return "ReadTimeout"
    if isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError):
        return "ConnectTimeout"
    if isinstance(error, requests.RequestException):
        return type(error).__name__
    return "ConnectionError"


class RetryingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose urllib3 ``Retry`` is chosen per call with :func:`retrying`.

    Outside such a block it does what a plain adapter does (no retry).
    """

    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        return _CALL_RETRY.get() or self._default_retry

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._default_retry = value


@contextmanager
def retrying(retry: Retry) -> Iterator[None]:
    """Send the requests made in this block (in this thread) through a :class:`RetryingAdapter` with ``retry``."""
    token = _CALL_RETRY.set(retry)
    try:
        yield
    finally:
        _CALL_RETRY.reset(token)


def mount_retrying_adapter(session: requests.Session, **pool: Any) -> RetryingAdapter:
    """Mount one :class:`RetryingAdapter` for ``http://`` and ``https://`` on ``session`` and return it."""
    adapter = RetryingAdapter(**pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return adapter
