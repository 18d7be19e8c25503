"""``AirflowInstanceResource``: the one connection object for an Airflow instance.

Every way of reaching Airflow ends here: the component's ``auth:`` block becomes one, the Python API's
:class:`~airlift_components.core.AirflowInstance` produces one, the sensor and the CLI ask one for its
client, and it is bound in the Definitions under ``airflow_<instance name>`` (see
:func:`~airlift_components.core.naming.resource_key`), so the Dagster UI lists it with its configuration
and any asset can talk to Airflow::

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
config at all: :meth:`AirflowInstanceResource.for_auth_backend` keeps the backend on the resource object
(``auth_type: python``), and Dagster's run-time copies of the resource carry it along.

The cloud SDKs (boto3 for MWAA, google-auth for Composer) are optional extras, imported only when their
auth type is used; a missing one is a config error that names the extra to install.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping
from typing import Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from airlift_components.airflow_api import (
    AirflowAuthBackend,
    AirflowClient,
    AstronomerAuthBackend,
    BasicAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    MwaaSessionAuthBackend,
    TokenAuthBackend,
)
from airlift_components.airflow_api.auth import CLOUD_PLATFORM_SCOPE

AuthType = Literal["basic", "token", "mwaa", "mwaa_airflow3", "composer", "astronomer", "python"]
SECRET_FIELDS = ("password", "token")
# Set while Dagster re-creates the resource from processed config, where env vars are already values.
_FROM_PROCESSED_CONFIG = contextvars.ContextVar("airlift_from_processed_config", default=False)


class AirflowInstanceResource(dg.ConfigurableResource):
    """One Airflow instance: where it is, how to authenticate, and how to talk to it."""

    name: str = Field(description="The instance name used in asset keys, e.g. `prod` -> `prod/dag/<dag_id>`.")
    webserver_url: str = Field(
        description="Base URL of the Airflow webserver / API server (`mwaa://<env>` when MWAA finds it)."
    )
    auth_type: AuthType = Field(
        default="basic",
        description="basic (username/password; JWT on Airflow 3, basic auth on 2), token (static bearer), "
        "mwaa (Amazon MWAA on Airflow 2 via boto3), mwaa_airflow3 (MWAA on Airflow 3), composer (Google "
        "Cloud Composer via google-auth), astronomer (Astro API token from an env var), python (an auth "
        "backend built in code, see `for_auth_backend`).",
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

    # Not config: a Python-built backend (never shown, never serialized), other AirflowClient options
    # (backoff_seconds, max_workers), and the client reused across sensor ticks in this process.
    _auth_backend: AirflowAuthBackend | None = PrivateAttr(default=None)
    _client_options: dict[str, Any] = PrivateAttr(default_factory=dict)
    _client: AirflowClient | None = PrivateAttr(default=None)
    _client_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **data: Any) -> None:
        if not _FROM_PROCESSED_CONFIG.get():
            _refuse_plain_secrets(data)
        super().__init__(**data)

    @classmethod
    def for_auth_backend(
        cls, name: str, auth_backend: AirflowAuthBackend, **client_options: Any
    ) -> AirflowInstanceResource:
        """The resource of a Python-built auth backend (``auth_type: python``).

        The backend stays on this object (its secrets never become config): the UI shows the URL, the auth
        type, the username and the client settings. ``client_options`` are :class:`AirflowClient`'s
        (``timeout``, ``max_retries``, ``page_size``, ``verify``, ``api_version``, ``backoff_seconds``, ...).

        Cost: asks the backend for its URL (MWAA backends ask AWS).
        """
        options = dict(client_options)
        verify = options.pop("verify", True)
        fields: dict[str, Any] = {
            "name": name,
            "webserver_url": auth_backend.get_webserver_url().rstrip("/"),
            "auth_type": "python",
            "username": getattr(auth_backend, "username", None),
            "verify_ssl": verify is not False,
            "ca_bundle_path": verify if isinstance(verify, str) else None,
        }
        for option, field_name in (
            ("api_version", "api_version"),
            ("timeout", "timeout_seconds"),
            ("max_retries", "max_retries"),
            ("page_size", "page_size"),
        ):
            if option in options:
                fields[field_name] = options.pop(option)
        resource = cls(**fields)
        resource._auth_backend = auth_backend
        resource._client_options = options
        return resource

    # Dagster re-creates a resource from its processed config (env vars replaced by values) through these
    # two; what the user wrote was checked when they constructed it, and the private state is carried over.
    def _with_updated_values(self, values: Mapping[str, Any] | None) -> AirflowInstanceResource:
        token = _FROM_PROCESSED_CONFIG.set(True)
        try:
            copy: AirflowInstanceResource = super()._with_updated_values(values)  # type: ignore[assignment]
        finally:
            _FROM_PROCESSED_CONFIG.reset(token)
        copy._auth_backend = self._auth_backend
        copy._client_options = self._client_options
        return copy

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
        if self._auth_backend is not None:
            return self._auth_backend
        where = f"AirflowInstanceResource {self.name!r}"
        build = _BACKEND_BUILDERS.get(self.auth_type)
        if build is None:
            raise _config_error(
                f"{where}: auth_type 'python' needs the auth backend object; build the resource with "
                "AirflowInstanceResource.for_auth_backend(name, backend) (AirflowInstance does)"
                if self.auth_type == "python"
                else f"{where}: unknown auth_type {self.auth_type!r}"
            )
        return build(self, where)

    def resolved(self) -> AirflowInstanceResource:
        """This resource with ``EnvVar`` fields replaced by their values (outside a run, Dagster has not done it)."""
        if any(
            isinstance(getattr(self, f), dg.EnvVar)
            for f in ("password", "token", "username", "webserver_url")
        ):
            resolved: AirflowInstanceResource = self.process_config_and_initialize()
            resolved._auth_backend = self._auth_backend
            resolved._client_options = self._client_options
            return resolved
        return self

    def create_client(self) -> AirflowClient:
        """A new client for this instance: the one place a client is constructed (env vars are read now).

        Creating it makes no request. Prefer :meth:`get_client`, which reuses one per resource object.
        """
        return AirflowClient(
            self.resolved().build_auth_backend(),
            name=self.name,
            api_version=self.api_version,
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
            page_size=self.page_size,
            verify=self._verify(),
            **self._client_options,
        )

    def get_client(self) -> AirflowClient:
        """The client of this resource object, created on first use and then reused (session, JWT)."""
        with self._client_lock:
            if self._client is None:
                self._client = self.create_client()
            return self._client


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


# ---------------------------------------------------------------- auth_type -> backend


def _config_error(message: str) -> dg.DagsterInvalidConfigError:
    return dg.DagsterInvalidConfigError(message, [], None)


def _basic(config: AirflowInstanceResource, where: str) -> AirflowAuthBackend:
    if not config.username or config.password is None:
        raise _config_error(f"{where}: auth_type 'basic' needs `username` and `password`")
    return BasicAuthBackend(config.webserver_url, config.username, config.password)


def _token(config: AirflowInstanceResource, where: str) -> AirflowAuthBackend:
    if not config.token:
        raise _config_error(f"{where}: auth_type 'token' needs `token`")
    return TokenAuthBackend(config.webserver_url, config.token)


def _mwaa(config: AirflowInstanceResource, where: str) -> AirflowAuthBackend:
    kind = config.auth_type
    if not config.mwaa_environment_name:
        raise _config_error(f"{where}: auth_type {kind!r} needs `mwaa_environment_name`")
    try:
        import boto3
    except ImportError:
        raise _config_error(
            f"{where}: auth_type {kind!r} needs boto3: pip install 'airlift-components[mwaa]'"
        ) from None
    client = (
        boto3.client("mwaa", region_name=config.aws_region) if config.aws_region else boto3.client("mwaa")
    )
    if kind == "mwaa":
        return MwaaSessionAuthBackend(mwaa_client=client, env_name=config.mwaa_environment_name)
    url = config.webserver_url if config.webserver_url.startswith(("http://", "https://")) else None
    return MwaaAirflow3AuthBackend(
        mwaa_client=client, env_name=config.mwaa_environment_name, webserver_url=url
    )


def _composer(config: AirflowInstanceResource, where: str) -> AirflowAuthBackend:
    needs = f"{where}: auth_type 'composer' needs google-auth: pip install 'airlift-components[composer]'"
    try:
        import google.auth  # noqa: F401
        from google.oauth2 import service_account
    except ImportError:
        raise _config_error(needs) from None
    path = config.google_credentials_file
    if path is None:  # Application Default Credentials, resolved when the first token is needed
        return ComposerAuthBackend(config.webserver_url, credentials=None)
    try:
        credentials = service_account.Credentials.from_service_account_file(
            path, scopes=[CLOUD_PLATFORM_SCOPE]
        )
    except (OSError, ValueError) as exc:
        raise _config_error(
            f"{where}: google_credentials_file {path!r} is not a readable service account key ({type(exc).__name__})"
        ) from None
    return ComposerAuthBackend(config.webserver_url, credentials=credentials)


def _astronomer(config: AirflowInstanceResource, where: str) -> AirflowAuthBackend:
    if not config.token_env:
        raise _config_error(f"{where}: auth_type 'astronomer' needs `token_env` (the env var's name)")
    return AstronomerAuthBackend(config.webserver_url, token_env=config.token_env)


_BACKEND_BUILDERS = {
    "basic": _basic,
    "token": _token,
    "mwaa": _mwaa,
    "mwaa_airflow3": _mwaa,
    "composer": _composer,
    "astronomer": _astronomer,
}
