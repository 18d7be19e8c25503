"""`AirflowInstance`: a named Airflow deployment that Dagster peers to.

A thin wrapper over :class:`~airlift_components.airflow_api.AirflowClient`: the name is what
Dagster asset keys, sensor names and resource keys are derived from; the client does the I/O.
Creating an instance makes no HTTP request.
"""

from __future__ import annotations

from typing import Any

from airlift_components.airflow_api import AirflowAuthBackend, AirflowClient
from airlift_components.core.naming import safe_identifier


class AirflowInstance:
    """One Airflow deployment, as Dagster sees it.

    Example::

        from airlift_components.core import AirflowInstance, BasicAuthBackend

        instance = AirflowInstance(
            auth_backend=BasicAuthBackend("http://localhost:8080", "admin", "admin"),
            name="airflow_instance_one",
        )

    Args:
        auth_backend: how to reach and authenticate to Airflow.
        name: a stable name, unique among the instances of one code location. It is the first part
            of every DAG asset key (``[name, "dag", dag_id]``).
        client_options: passed to :class:`AirflowClient` (``timeout``, ``page_size``, ``max_workers``, ...).
    """

    def __init__(self, auth_backend: AirflowAuthBackend, name: str, **client_options: Any) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("AirflowInstance needs a non-empty name")
        self.auth_backend = auth_backend
        self.name = name
        self._client_options = client_options
        self._client: AirflowClient | None = None

    @property
    def client(self) -> AirflowClient:
        """The REST client (created on first use; creating it makes no request)."""
        if self._client is None:
            self._client = AirflowClient(self.auth_backend, name=self.name, **self._client_options)
        return self._client

    @property
    def webserver_url(self) -> str:
        """The Airflow base URL, without a trailing slash."""
        return self.auth_backend.get_webserver_url().rstrip("/")

    @property
    def safe_name(self) -> str:
        """The name reduced to ``[A-Za-z0-9_]`` for Dagster names that allow nothing else (sensor, group)."""
        return safe_identifier(self.name)

    def __repr__(self) -> str:
        return f"AirflowInstance(name={self.name!r}, webserver_url={self.webserver_url!r})"
