"""The operators ``proxying_to_dagster`` uses unless told otherwise: Dagster URL and token from env vars.

Environment variables (read in the Airflow worker at run time, never logged):

``AIRLIFT_DAGSTER_URL``
    The Dagster webserver or Dagster+ deployment URL; default ``http://localhost:3000``.
``AIRLIFT_DAGSTER_TOKEN``
    Optional. Sent as ``Dagster-Cloud-Api-Token`` to ``*.dagster.cloud`` / ``*.dagster.plus`` URLs and
    as ``Authorization: Bearer <token>`` elsewhere.
``AIRLIFT_INSTANCE_NAME``
    The Dagster-side name of this Airflow instance (the first part of DAG asset keys). Without it the
    operator scans asset keys and metadata once to find the DAG asset by ``airlift/dag_id``.

To take these from somewhere else (an Airflow Variable or Connection), subclass the base operators and
override ``get_dagster_url`` / ``get_dagster_session``.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import requests

from airlift_components.conventions import ENV_DAGSTER_TOKEN, ENV_DAGSTER_URL
from airlift_components.in_airflow._compat import Context
from airlift_components.in_airflow.base_operators import (
    BaseProxyDAGToDagsterOperator,
    BaseProxyTaskToDagsterOperator,
)

DEFAULT_DAGSTER_URL = "http://localhost:3000"


def dagster_url_from_env() -> str:
    """``AIRLIFT_DAGSTER_URL`` or ``http://localhost:3000``."""
    return os.environ.get(ENV_DAGSTER_URL) or DEFAULT_DAGSTER_URL


def dagster_session_from_env(url: str) -> requests.Session:
    """A session carrying ``AIRLIFT_DAGSTER_TOKEN`` (if set) in the header Dagster at ``url`` expects."""
    session = requests.Session()
    token = os.environ.get(ENV_DAGSTER_TOKEN)
    if token:
        host = urlparse(url).hostname or ""
        if host.endswith((".dagster.cloud", ".dagster.plus")):
            session.headers["Dagster-Cloud-Api-Token"] = token
        else:
            session.headers["Authorization"] = f"Bearer {token}"
    return session


class DagsterFromEnvironment:
    """The Dagster connection of the default operators: ``AIRLIFT_DAGSTER_URL`` and ``AIRLIFT_DAGSTER_TOKEN``.

    Mixed in before a base proxy operator, whose two abstract methods it implements.
    """

    def get_dagster_session(self, context: Context) -> requests.Session:
        """A session with the token from ``AIRLIFT_DAGSTER_TOKEN``, if any."""
        return dagster_session_from_env(self.get_dagster_url(context))

    def get_dagster_url(self, context: Context) -> str:
        """``AIRLIFT_DAGSTER_URL`` or ``http://localhost:3000``."""
        return dagster_url_from_env()


class DefaultProxyTaskToDagsterOperator(DagsterFromEnvironment, BaseProxyTaskToDagsterOperator):
    """Task-level proxy configured by ``AIRLIFT_DAGSTER_URL`` / ``AIRLIFT_DAGSTER_TOKEN``."""


class DefaultProxyDAGToDagsterOperator(DagsterFromEnvironment, BaseProxyDAGToDagsterOperator):
    """DAG-level proxy configured by ``AIRLIFT_DAGSTER_URL`` / ``AIRLIFT_DAGSTER_TOKEN``."""


#: dagster-airlift's name for the default task-level operator.
DefaultProxyToDagsterOperator = DefaultProxyTaskToDagsterOperator
