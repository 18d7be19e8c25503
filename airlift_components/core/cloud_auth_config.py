"""Config -> auth backend for managed Airflow (MWAA, Cloud Composer, Astronomer).

Used by :class:`~airlift_components.core.resource.AirflowInstanceResource` (``auth_type``) and so by the
component's ``auth:`` block. The cloud SDKs (boto3, google-auth) are optional extras, imported only
when their auth type is used; a missing one is a config error that names the extra to install.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from airlift_components.airflow_api import (
    AirflowAuthBackend,
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    MwaaSessionAuthBackend,
)

CLOUD_AUTH_TYPES = frozenset({"mwaa", "mwaa_airflow3", "composer", "astronomer"})


def _config_error(message: str) -> dg.DagsterInvalidConfigError:
    return dg.DagsterInvalidConfigError(message, [], None)


def _mwaa_client(config: Any, where: str) -> Any:
    try:
        import boto3
    except ImportError:
        raise _config_error(
            f"{where}: auth_type {config.auth_type!r} needs boto3: pip install 'airlift-components[mwaa]'"
        ) from None
    return boto3.client("mwaa", region_name=config.aws_region) if config.aws_region else boto3.client("mwaa")


def _google_credentials(path: str | None, where: str) -> Any:
    if path is None:
        return None  # Application Default Credentials, resolved when the first token is needed
    try:
        from google.oauth2 import service_account
    except ImportError:
        raise _config_error(
            f"{where}: auth_type 'composer' needs google-auth: pip install 'airlift-components[composer]'"
        ) from None
    try:
        return service_account.Credentials.from_service_account_file(
            path, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    except (OSError, ValueError) as exc:
        raise _config_error(
            f"{where}: google_credentials_file {path!r} is not a readable service account key ({type(exc).__name__})"
        ) from None


def build_cloud_auth_backend(config: Any, where: str) -> AirflowAuthBackend:
    """The backend for ``config.auth_type`` in :data:`CLOUD_AUTH_TYPES` (``config`` is the resource)."""
    kind = config.auth_type
    if kind in ("mwaa", "mwaa_airflow3"):
        if not config.mwaa_environment_name:
            raise _config_error(f"{where}: auth_type {kind!r} needs `mwaa_environment_name`")
        client = _mwaa_client(config, where)
        if kind == "mwaa":
            return MwaaSessionAuthBackend(mwaa_client=client, env_name=config.mwaa_environment_name)
        url = config.webserver_url if config.webserver_url.startswith(("http://", "https://")) else None
        return MwaaAirflow3AuthBackend(
            mwaa_client=client, env_name=config.mwaa_environment_name, webserver_url=url
        )
    if kind == "composer":
        credentials = _google_credentials(config.google_credentials_file, where)
        if credentials is None:
            try:
                import google.auth  # noqa: F401
            except ImportError:
                raise _config_error(
                    f"{where}: auth_type 'composer' needs google-auth: pip install 'airlift-components[composer]'"
                ) from None
        return ComposerAuthBackend(config.webserver_url, credentials=credentials)
    if kind == "astronomer":
        if not config.token_env:
            raise _config_error(f"{where}: auth_type 'astronomer' needs `token_env` (the env var's name)")
        return AstronomerAuthBackend(config.webserver_url, token_env=config.token_env)
    raise _config_error(f"{where}: unknown auth_type {kind!r}")
