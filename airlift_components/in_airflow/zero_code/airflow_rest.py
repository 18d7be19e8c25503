"""The zero-code runner's view of Airflow's REST API, shared by the Airflow 3 and Airflow 2 paths.

The runner reaches Airflow only for what a task reads from other tasks or runs (upstream XComs, previous
runs, the parsed DAG source) and to say where a missing connection lives. Its URL and credentials come
from the ``AIRLIFT_AIRFLOW_*`` environment variables the Dagster side sets; they never appear in the
payload, the result or a message.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_TOKEN,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
)
from airlift_components.in_airflow.zero_code.errors import ZeroCodeInputError

if TYPE_CHECKING:
    from airlift_components.airflow_api import AirflowClient

ApiVersion = Literal["v1", "v2"]


def rest_client(api_version: ApiVersion) -> AirflowClient | None:
    """A client for Airflow's REST API (``v2`` on Airflow 3, ``v1`` on Airflow 2) from the
    ``AIRLIFT_AIRFLOW_*`` env vars, or None when no URL is set.

    Raises:
        ZeroCodeInputError: a URL is set without a token or a username and password.
    """
    url = os.environ.get(ENV_AIRFLOW_URL)
    if not url:
        return None
    # Imported here: a task that reads nothing from Airflow does not pay for the client's imports.
    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend, TokenAuthBackend

    token = os.environ.get(ENV_AIRFLOW_TOKEN)
    if token:
        backend: Any = TokenAuthBackend(url, token)
    else:
        username, password = os.environ.get(ENV_AIRFLOW_USERNAME), os.environ.get(ENV_AIRFLOW_PASSWORD)
        if not username or not password:
            raise ZeroCodeInputError(
                f"{ENV_AIRFLOW_URL} is set but neither {ENV_AIRFLOW_TOKEN} nor both {ENV_AIRFLOW_USERNAME} and "
                f"{ENV_AIRFLOW_PASSWORD} are"
            )
        backend = BasicAuthBackend(url, username, password)
    return AirflowClient(backend, name="zero-code runner", api_version=api_version, timeout=30.0)


def missing_connection_hint(conn_id: str, api_version: ApiVersion) -> str:
    """Why connection ``conn_id`` was not found and how to provide it (one REST request, when a client is
    configured, to say whether it exists only in Airflow's metadata database)."""
    where = "is not in the runner's environment or a secrets backend it can read"
    rest = rest_client(api_version)
    if rest is not None:
        # Its password cannot be read over REST (redacted), so existing there is not enough.
        with contextlib.suppress(Exception):
            rest.request("GET", f"/api/{api_version}/connections/{quote(conn_id, safe='')}")
            where = (
                "exists only in Airflow's metadata database, which the zero-code runner cannot read "
                "(the REST API redacts passwords)"
            )
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    return (
        f"connection {conn_id!r} {where}: provide it as the environment variable {env_name} (a connection URI "
        f"or JSON) in the runner's environment and list {env_name} in the runner's env_vars, or use a secrets "
        "backend both Airflow and the runner read"
    )
