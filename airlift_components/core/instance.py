"""`AirflowInstance`: a named Airflow deployment that Dagster peers to (dagster-airlift's name).

A thin façade over the one connection object, :class:`~airlift_components.core.AirflowInstanceResource`:
the name is what Dagster asset keys, sensor names and resource keys are derived from; the resource owns
the client. Creating an instance makes no HTTP request.
"""

from __future__ import annotations

from typing import Any

from airlift_components.airflow_api import AirflowAuthBackend, AirflowClient
from airlift_components.core.naming import safe_identifier
from airlift_components.core.resource import AirflowInstanceResource


class AirflowInstance:
    """One Airflow deployment, as Dagster sees it.

    Example::

        from airlift_components.core import AirflowInstance, BasicAuthBackend

        instance = AirflowInstance(
            auth_backend=BasicAuthBackend("http://localhost:8080", "admin", "admin"),
            name="airflow_instance_one",
        )

    Args:
        auth_backend: how to reach and authenticate to Airflow (kept in memory, never config).
        name: a stable name, unique among the instances of one code location. It is the first part
            of every DAG asset key (``[name, "dag", dag_id]``).
        client_options: passed to :class:`AirflowClient` (``timeout``, ``page_size``, ``max_workers``, ...).
    """

    def __init__(self, auth_backend: AirflowAuthBackend, name: str, **client_options: Any) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("AirflowInstance needs a non-empty name")
        self._auth_backend: AirflowAuthBackend | None = auth_backend
        self.name = name
        self._client_options = client_options
        self._resource: AirflowInstanceResource | None = None
        self._client: AirflowClient | None = None

    @classmethod
    def from_resource(
        cls, resource: AirflowInstanceResource, client: AirflowClient | None = None
    ) -> AirflowInstance:
        """The instance of a configured resource (what the component does with its ``auth:`` block).

        ``client`` replaces the resource's own (shared) client, e.g. one made by ``resource.create_client()``
        for a one-off snapshot fetch.
        """
        instance = cls.__new__(cls)
        instance._auth_backend = None
        instance.name = resource.name
        instance._client_options = {}
        instance._resource = resource
        instance._client = client
        return instance

    @property
    def resource(self) -> AirflowInstanceResource:
        """The instance's connection object, bound under ``airflow_<name>`` (built on first use)."""
        if self._resource is None:
            assert self._auth_backend is not None
            self._resource = AirflowInstanceResource.for_auth_backend(
                self.name, self._auth_backend, **self._client_options
            )
        return self._resource

    @property
    def auth_backend(self) -> AirflowAuthBackend:
        """How the client authenticates (for a configured resource: built from its config on first use)."""
        if self._auth_backend is not None:
            return self._auth_backend
        return self.client.auth_backend

    @property
    def client(self) -> AirflowClient:
        """The REST client (created on first use; creating it makes no request).

        An instance built from an auth backend has a client of its own (the snapshot fetch and the sensor
        use it); one built :meth:`from_resource` uses the resource's.
        """
        if self._client is None:
            own = self._auth_backend is not None
            self._client = self.resource.create_client() if own else self.resource.get_client()
        return self._client

    @property
    def webserver_url(self) -> str:
        """The Airflow base URL, without a trailing slash."""
        if self._auth_backend is not None:
            return self._auth_backend.get_webserver_url().rstrip("/")
        return self.client.webserver_url

    @property
    def safe_name(self) -> str:
        """The name reduced to ``[A-Za-z0-9_]`` for Dagster names that allow nothing else (sensor, group)."""
        return safe_identifier(self.name)

    def __repr__(self) -> str:
        url = self._resource.webserver_url if self._resource is not None else self.webserver_url
        return f"AirflowInstance(name={self.name!r}, webserver_url={url!r})"
