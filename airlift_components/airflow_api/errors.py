"""Errors raised by the Airflow REST client.

Every message names the Airflow instance URL and the endpoint that failed. None of them ever contains
a password or a token: the client builds messages from the URL path and the HTTP status only.
"""

from __future__ import annotations


class AirflowError(Exception):
    """Base class for everything the Airflow client raises.

    Attributes:
        webserver_url: the Airflow instance the request went to.
        endpoint: the REST path that failed (e.g. ``/api/v2/dags``), when there was one.
        status_code: the HTTP status, when the server answered.
    """

    def __init__(
        self,
        message: str,
        *,
        webserver_url: str | None = None,
        endpoint: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.webserver_url = webserver_url
        self.endpoint = endpoint
        self.status_code = status_code
        where = ""
        if webserver_url:
            where = f" [{webserver_url}{endpoint or ''}]"
        super().__init__(f"{message}{where}")


class AirflowAuthenticationError(AirflowError):
    """Airflow refused our credentials (401/403, or no token could be obtained)."""


class AirflowNotFoundError(AirflowError):
    """The DAG, run, task or variable does not exist (404)."""


class AirflowUnavailableError(AirflowError):
    """Airflow could not be reached or kept failing (connection errors, timeouts, 5xx, 429) after retries."""


class AirflowTLSError(AirflowUnavailableError):
    """The TLS handshake failed, usually a certificate that is not trusted (self-signed or private CA)."""


class AirflowRequestError(AirflowError):
    """Airflow rejected the request (a 4xx other than auth and not-found): the message carries its detail."""


class AirflowResponseError(AirflowError):
    """Airflow answered with a body we could not read (not JSON, truncated, or missing required fields)."""
