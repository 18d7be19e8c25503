"""Airflow REST client for Airflow 3 (``/api/v2``) and Airflow 2 (``/api/v1``).

Imports neither dagster nor airflow, so it can be used from either side.
"""

from airlift_components.airflow_api.auth import (
    AirflowAuthBackend,
    AirflowBasicAuthBackend,
    BasicAuthBackend,
    MwaaSessionAuthBackend,
    TokenAuthBackend,
)
from airlift_components.airflow_api.client import AirflowClient
from airlift_components.airflow_api.cloud_auth import (
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    RenewingBearerAuthBackend,
)
from airlift_components.airflow_api.errors import (
    AirflowAuthenticationError,
    AirflowError,
    AirflowNotFoundError,
    AirflowRequestError,
    AirflowResponseError,
    AirflowTLSError,
    AirflowUnavailableError,
)
from airlift_components.airflow_api.records import (
    FINISHED_RUN_STATES,
    AirflowAssetRecord,
    AirflowVersionInfo,
    AssetEventRecord,
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    TaskRecord,
)

__all__ = [
    "AirflowAssetRecord",
    "AssetEventRecord",
    "FINISHED_RUN_STATES",
    "AirflowAuthBackend",
    "AirflowAuthenticationError",
    "AirflowBasicAuthBackend",
    "AirflowClient",
    "AirflowError",
    "AirflowNotFoundError",
    "AirflowRequestError",
    "AirflowResponseError",
    "AirflowTLSError",
    "AirflowUnavailableError",
    "AirflowVersionInfo",
    "AstronomerAuthBackend",
    "BasicAuthBackend",
    "ComposerAuthBackend",
    "DagRecord",
    "DagRunRecord",
    "MwaaAirflow3AuthBackend",
    "MwaaSessionAuthBackend",
    "RenewingBearerAuthBackend",
    "TaskInstanceRecord",
    "TaskRecord",
    "TokenAuthBackend",
]
