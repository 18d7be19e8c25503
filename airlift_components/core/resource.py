"""``AirflowInstanceResource``: an Airflow instance as a Dagster ``ConfigurableResource``.

It is bound in the Definitions under ``airflow_<instance name>`` (see
:func:`~airlift_components.core.naming.resource_key`), so the Dagster UI lists it with its configuration,
the sensor uses it, and any asset can talk to Airflow::

    import dagster as dg
    from airlift_components.core import AirflowInstanceResource

    @dg.asset
    def kick_off_export(airflow_prod: AirflowInstanceResource) -> None:
        client = airflow_prod.get_client()
        run = client.trigger_dag_run("export_customers")
        client.wait_for_dag_run(run.dag_id, run.run_id)

    airflow_prod = AirflowInstanceResource(
        name="prod",
        webserver_url="https://airflow.example.com",
        username="dagster",
        password=dg.EnvVar("AIRFLOW_PASSWORD"),  # the UI shows the variable name, never the value
    )

Secrets: give ``password`` and ``token`` as ``dg.EnvVar(...)``. A plain string would be shown by the
UI as configuration, so constructing the resource with one raises ``DagsterInvalidDefinitionError``
(pass ``allow_plain_secrets=True`` only in tests). Dagster's own re-creation of the resource from its
processed config (env vars replaced by their values, at run time) is not refused.
Auth backends built in Python (``BasicAuthBackend(..., password="...")``, custom subclasses) are not
config at all: :func:`register_auth_backend` keeps them in the process that loaded the code, and the
resource (``auth_type: python``) looks them up by instance name.
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg
from pydantic import Field

from airlift_components.airflow_api import (
    AirflowAuthBackend,
    AirflowClient,
    BasicAuthBackend,
    TokenAuthBackend,
)
from airlift_components.core.cloud_auth_config import CLOUD_AUTH_TYPES, build_cloud_auth_backend

AuthType = Literal["basic", "token", "mwaa", "mwaa_airflow3", "composer", "astronomer", "python"]

_BACKENDS: dict[str, AirflowAuthBackend] = {}
_CLIENTS: dict[str, AirflowClient] = {}
_LOCK = threading.Lock()
SECRET_FIELDS = ("password", "token")
# Set while Dagster re-creates the resource from processed config, where env vars are already values.
_FROM_PROCESSED_CONFIG = contextvars.ContextVar("airlift_from_processed_config", default=False)


def register_auth_backend(instance_name: str, backend: AirflowAuthBackend) -> None:
    """Keep a Python-built auth backend for ``instance_name`` in this process (not in config, not in the UI)."""
    with _LOCK:
        _BACKENDS[instance_name] = backend


class AirflowInstanceResource(dg.ConfigurableResource):
    """One Airflow instance: where it is, how to authenticate, and how to talk to it."""

    name: str = Field(description="The instance name used in asset keys, e.g. `prod` -> `prod/dag/<dag_id>`.")
    webserver_url: str = Field(description="Base URL of the Airflow webserver / API server.")
    auth_type: AuthType = Field(
        default="basic",
        description="basic (username/password; JWT on Airflow 3, basic auth on 2), token (static bearer), "
        "mwaa (Amazon MWAA on Airflow 2 via boto3), mwaa_airflow3 (MWAA on Airflow 3), composer (Google "
        "Cloud Composer via google-auth), astronomer (Astro API token from an env var), python (an auth "
        "backend registered in code).",
    )
    username: str | None = Field(default=None, description="For auth_type basic.")
    password: str | None = Field(
        default=None, description="For auth_type basic. Give it as EnvVar('AIRFLOW_PASSWORD')."
    )
    token: str | None = Field(default=None, description="For auth_type token. Give it as EnvVar(...).")
    token_env: str | None = Field(
        default=None, description="For auth_type astronomer: the env var holding the API token (read at use)."
    )
    mwaa_environment_name: str | None = Field(default=None, description="For auth_type mwaa / mwaa_airflow3.")
    aws_region: str | None = Field(default=None, description="For auth_type mwaa (boto3 default if unset).")
    google_credentials_file: str | None = Field(
        default=None,
        description="For auth_type composer: a service account key file (default: Application Default "
        "Credentials).",
    )
    api_version: Literal["auto", "v1", "v2"] = Field(
        default="auto", description="v2 = Airflow 3, v1 = Airflow 2, auto = detect once."
    )
    timeout_seconds: float = Field(default=30.0, description="Timeout of each HTTP request.")
    max_retries: int = Field(
        default=3, description="Retries of read-only calls on 5xx/429/connection errors."
    )
    page_size: int = Field(default=100, description="Rows asked for per page of a listing.")
    verify_ssl: bool = Field(default=True, description="Verify TLS certificates (keep on in production).")
    ca_bundle_path: str | None = Field(
        default=None, description="CA bundle for a private certificate authority."
    )
    allow_plain_secrets: bool = Field(
        default=False,
        description="Accept password/token as plain strings (tests only: the UI would show them).",
    )

    def __init__(self, **data: Any) -> None:
        if not _FROM_PROCESSED_CONFIG.get():
            _refuse_plain_secrets(data)
        super().__init__(**data)

    # Dagster re-creates a resource from its processed config (env vars replaced by values) through these
    # two; what the user wrote was checked when they constructed it.
    def _with_updated_values(self, values: Mapping[str, Any] | None) -> AirflowInstanceResource:
        token = _FROM_PROCESSED_CONFIG.set(True)
        try:
            return super()._with_updated_values(values)  # type: ignore[return-value]
        finally:
            _FROM_PROCESSED_CONFIG.reset(token)

    @classmethod
    def from_resource_context(cls, context: Any, nested_resources: Mapping[str, Any] | None = None) -> Any:
        token = _FROM_PROCESSED_CONFIG.set(True)
        try:
            return super().from_resource_context(context, nested_resources=nested_resources)
        finally:
            _FROM_PROCESSED_CONFIG.reset(token)

    def _verify(self) -> bool | str:
        if self.ca_bundle_path:
            return self.ca_bundle_path
        return self.verify_ssl

    def build_auth_backend(self) -> AirflowAuthBackend:
        """The auth backend this configuration describes (errors name the instance and the field)."""
        where = f"AirflowInstanceResource {self.name!r}"
        if self.auth_type == "python":
            backend = _BACKENDS.get(self.name)
            if backend is None:
                raise dg.DagsterInvalidConfigError(
                    f"{where}: auth_type 'python' but no auth backend was registered for it in this process "
                    "(build_defs_from_airflow_instance registers it when the code location loads)",
                    [],
                    None,
                )
            return backend
        if self.auth_type == "basic":
            if not self.username or self.password is None:
                raise dg.DagsterInvalidConfigError(
                    f"{where}: auth_type 'basic' needs `username` and `password`", [], None
                )
            return BasicAuthBackend(self.webserver_url, self.username, self.password)
        if self.auth_type == "token":
            if not self.token:
                raise dg.DagsterInvalidConfigError(f"{where}: auth_type 'token' needs `token`", [], None)
            return TokenAuthBackend(self.webserver_url, self.token)
        if self.auth_type in CLOUD_AUTH_TYPES:
            return build_cloud_auth_backend(self, where)
        raise dg.DagsterInvalidConfigError(f"{where}: unknown auth_type {self.auth_type!r}", [], None)

    def _cache_key(self) -> str:
        parts = [
            self.name,
            self.webserver_url,
            self.auth_type,
            self.username or "",
            self.password or "",
            self.token or "",
            self.mwaa_environment_name or "",
            self.token_env or "",
            self.google_credentials_file or "",
            self.api_version,
            str(self.timeout_seconds),
            str(self.max_retries),
            str(self.page_size),
            str(self._verify()),
            str(id(_BACKENDS.get(self.name))),
        ]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def resolved(self) -> AirflowInstanceResource:
        """This resource with ``EnvVar`` fields replaced by their values (outside a run, Dagster has not done it)."""
        if any(
            isinstance(getattr(self, f), dg.EnvVar)
            for f in ("password", "token", "username", "webserver_url")
        ):
            return self.process_config_and_initialize()
        return self

    def get_client(self) -> AirflowClient:
        """A client for this instance, reused across sensor ticks in the same process (keeps the session and JWT)."""
        if self is not (resolved := self.resolved()):
            return resolved.get_client()
        key = self._cache_key()
        with _LOCK:
            client = _CLIENTS.get(key)
        if client is None:
            client = AirflowClient(
                self.build_auth_backend(),
                name=self.name,
                api_version=self.api_version,
                timeout=self.timeout_seconds,
                max_retries=self.max_retries,
                page_size=self.page_size,
                verify=self._verify(),
            )
            with _LOCK:
                client = _CLIENTS.setdefault(key, client)
        return client


def _refuse_plain_secrets(data: Mapping[str, Any]) -> None:
    if data.get("allow_plain_secrets"):
        return
    for field_name in SECRET_FIELDS:
        raw = data.get(field_name)
        # dg.EnvVar is a str subclass: only a literal string is refused.
        if isinstance(raw, str) and not isinstance(raw, dg.EnvVar):
            raise dg.DagsterInvalidDefinitionError(
                f"AirflowInstanceResource {data.get('name')!r}: `{field_name}` is a plain string, which the "
                f"Dagster UI would display. Give it as dg.EnvVar('AIRFLOW_{field_name.upper()}') instead "
                "(allow_plain_secrets=True accepts it, for tests only)."
            )
