"""Auth backends for managed Airflow, under their earlier import path.

They live in :mod:`airlift_components.airflow_api.auth.managed` (and the renewing bearer base in
:mod:`airlift_components.airflow_api.auth.base`); this module keeps ``from
airlift_components.airflow_api.cloud_auth import ComposerAuthBackend`` working.
"""

from airlift_components.airflow_api.auth.base import RenewingBearerAuthBackend
from airlift_components.airflow_api.auth.managed import (
    CLOUD_PLATFORM_SCOPE,
    AstronomerAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
)

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "AstronomerAuthBackend",
    "ComposerAuthBackend",
    "MwaaAirflow3AuthBackend",
    "RenewingBearerAuthBackend",
]
