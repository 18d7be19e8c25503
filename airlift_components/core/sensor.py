"""The Dagster sensor that turns Airflow activity into asset events, one per Airflow instance.

:func:`build_airflow_sensor` wraps one tick (:func:`~airlift_components.core.sensor_tick.poll_airflow`:
what each tick queries, how much it costs, and why each row is handled exactly once) into a
``SensorDefinition`` that reports the events, stores the cursor, and requests the asset checks of what
materialized. A tick that replays one the daemon died in drops what that tick already stored
(:mod:`~airlift_components.core.sensor_fence`). This module also keeps the tick's public names importable from here.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from airlift_components.airflow_api import AirflowClient, AirflowError
from airlift_components.core.cursor import SensorCursor
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.sensor_fence import drop_events_stored_by_an_interrupted_tick, write_fence
from airlift_components.core.sensor_tick import (
    DEFAULT_LOOKBACK,
    DEFAULT_MAX_TASK_INSTANCES_PER_TICK,
    DEFAULT_OVERLAP,
    OPEN_RUN_MAX_AGE,
    PollResult,
    SensorSettings,
    poll_airflow,
)

DEFAULT_SENSOR_INTERVAL_SECONDS = 30


class AirflowSensorError(Exception):
    """The sensor could not read Airflow; the tick fails and the cursor stays where it was."""


def check_keys_for(context: SensorEvaluationContext, keys: set[AssetKey]) -> list[AssetCheckKey]:
    """The asset checks (in the code location) that target any of ``keys``."""
    repository_def = context.repository_def
    if repository_def is None or not keys:
        return []
    return sorted(
        (
            check_key
            for check_key in repository_def.asset_graph.asset_check_keys
            if check_key.asset_key in keys
        ),
        key=lambda check_key: check_key.to_user_string(),
    )


def build_airflow_sensor(
    *,
    client_factory: Callable[[], AirflowClient],
    plan: AirflowSensorPlan,
    name: str,
    minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    default_status: DefaultSensorStatus | None = None,
    settings: SensorSettings = SensorSettings(),
) -> SensorDefinition:
    """The polling sensor for one Airflow instance.

    It reports materializations/observations through ``SensorResult.asset_events`` and requests a run
    of the asset checks that target the materialized assets, so checks run after the Airflow work.
    """
    if minimum_interval_seconds < 1:
        raise ValueError(f"sensor_minimum_interval_seconds must be >= 1, got {minimum_interval_seconds}")

    @sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or DefaultSensorStatus.RUNNING,
        # The only runs this sensor requests execute asset checks.
        asset_selection=AssetSelection.all_asset_checks(),
        description=f"Polls Airflow instance {plan.instance_name!r} ({plan.webserver_url}) for finished "
        "tasks and DAG runs and reports them as asset events.",
    )
    def _airflow_sensor(context: SensorEvaluationContext) -> SensorResult:
        cursor = SensorCursor.parse(context.cursor)
        if context.cursor and cursor is None:
            context.log.warning(
                "The stored cursor is unreadable (older format?); starting from the look-back."
            )
        try:
            client = client_factory()
            # The sensor's client lives as long as the code location: a login session saves Airflow 2 a
            # password check per request (a no-op after the first tick and on Airflow 3).
            client.use_login_session()
            result = poll_airflow(client, plan, cursor, settings=settings, log=context.log.info)
        except AirflowError as exc:
            raise AirflowSensorError(
                f"Could not read Airflow instance {plan.instance_name!r}: {exc}. "
                "No events were reported and the cursor did not move; the next tick retries."
            ) from exc
        materialized = {event.asset_key for event in result.events if isinstance(event, AssetMaterialization)}
        check_keys = check_keys_for(context, materialized)
        run_requests = (
            [
                RunRequest(
                    asset_selection=[],
                    asset_check_keys=check_keys,
                    tags={"airlift/instance": plan.instance_name},
                )
            ]
            if check_keys
            else []
        )
        assert result.cursor is not None
        new_cursor = result.cursor.serialize()
        events = list(result.events)
        instance = _instance_of(context)
        if instance is not None and events:
            fence_name = f"{context.repository_name or ''}/{name}"
            events = drop_events_stored_by_an_interrupted_tick(instance, fence_name, context.cursor, events)
            write_fence(instance, fence_name, context.cursor, new_cursor)
        return SensorResult(asset_events=events, run_requests=run_requests, cursor=new_cursor)

    return _airflow_sensor


def _instance_of(context: SensorEvaluationContext) -> DagsterInstance | None:
    """The Dagster instance the daemon evaluates the sensor for (None in a bare test context)."""
    if context.instance_ref is None and getattr(context, "_instance", None) is None:
        return None
    return context.instance


__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_MAX_TASK_INSTANCES_PER_TICK",
    "DEFAULT_OVERLAP",
    "DEFAULT_SENSOR_INTERVAL_SECONDS",
    "OPEN_RUN_MAX_AGE",
    "AirflowSensorError",
    "PollResult",
    "SensorCursor",
    "SensorSettings",
    "build_airflow_sensor",
    "check_keys_for",
    "poll_airflow",
]
