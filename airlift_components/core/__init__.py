"""The Dagster side: peer to Airflow, observe DAGs and tasks as assets.

Example::

    from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance

    defs = build_defs_from_airflow_instance(
        airflow_instance=AirflowInstance(
            auth_backend=BasicAuthBackend("http://localhost:8080", "admin", "admin"),
            name="airflow_instance_one",
        )
    )
"""

from airlift_components.airflow_api import (
    AirflowAuthBackend,
    AirflowBasicAuthBackend,
    AstronomerAuthBackend,
    BasicAuthBackend,
    ComposerAuthBackend,
    MwaaAirflow3AuthBackend,
    MwaaSessionAuthBackend,
    TokenAuthBackend,
)
from airlift_components.core.airflow_assets import AirflowAssetsSettings
from airlift_components.core.cursor import SensorCursor
from airlift_components.core.defs_builder import (
    AirflowMappingError,
    AirflowMappingWarning,
    build_defs_from_airflow_instance,
    build_defs_from_snapshot,
    dag_asset_spec,
)
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.instance import AirflowInstance
from airlift_components.core.mappings import (
    assets_with_dag_mappings,
    assets_with_multiple_task_mappings,
    assets_with_task_mappings,
)
from airlift_components.core.naming import airflow_asset_key, dag_asset_key, resource_key, sensor_name
from airlift_components.core.resource import AirflowInstanceResource
from airlift_components.core.sensor import (
    AirflowSensorError,
    SensorSettings,
    build_airflow_sensor,
    poll_airflow,
)
from airlift_components.core.snapshot import AirflowFilter, AirflowSnapshot, fetch_snapshot
from airlift_components.core.snapshot_cache import load_snapshot, refresh_snapshot
from airlift_components.core.zero_code import ZeroCode, ZeroCodeDefinitionError

__all__ = [
    "AirflowAssetsSettings",
    "AirflowAuthBackend",
    "AirflowBasicAuthBackend",
    "AirflowFilter",
    "AirflowInstance",
    "AirflowInstanceResource",
    "AirflowMappingError",
    "AirflowMappingWarning",
    "AirflowSensorError",
    "AirflowSensorPlan",
    "AirflowSnapshot",
    "AstronomerAuthBackend",
    "BasicAuthBackend",
    "ComposerAuthBackend",
    "MwaaAirflow3AuthBackend",
    "MwaaSessionAuthBackend",
    "SensorCursor",
    "SensorSettings",
    "TokenAuthBackend",
    "ZeroCode",
    "ZeroCodeDefinitionError",
    "airflow_asset_key",
    "assets_with_dag_mappings",
    "assets_with_multiple_task_mappings",
    "assets_with_task_mappings",
    "build_airflow_sensor",
    "build_defs_from_airflow_instance",
    "build_defs_from_snapshot",
    "dag_asset_key",
    "dag_asset_spec",
    "fetch_snapshot",
    "load_snapshot",
    "poll_airflow",
    "refresh_snapshot",
    "resource_key",
    "sensor_name",
]
