"""Airflow assets (Airflow 3) and datasets (Airflow 2) as Dagster assets.

Off by default (:class:`AirflowAssetsSettings`): it adds one listing request per snapshot fetch and a
second sensor that polls asset events. When on, each Airflow asset whose URI passes the filter becomes
an external Dagster asset spec:

- key: ``[instance_name, "airflow_asset", uri_key_part(uri)]`` (see
  :func:`~airlift_components.core.naming.uri_key_part`);
- deps: the assets mapped to the tasks that produce it, or else their DAG's asset (``producer ->
  Airflow asset``), and every DAG asset scheduled on it depends on it (``Airflow asset -> consumer
  DAG``). A producer edge that would close a cycle (a DAG that consumes what it, directly or through
  other DAGs, produces) is left out and listed in the metadata instead, since Dagster's asset graph
  must be acyclic;
- metadata: URI, name, group, extra, producing tasks, consuming DAGs.

Asset events become materializations through :func:`poll_asset_events`, run by the sensor
``<instance>__airflow_asset_event_sensor``: one paged query per tick for events since the cursor's
watermark minus an overlap window, each event id handled once (the same scheme as task instances in
:mod:`airlift_components.core.sensor`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import dagster as dg
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from pydantic import BaseModel, Field

from airlift_components.airflow_api import AirflowAssetRecord, AirflowClient, AirflowError, AssetEventRecord
from airlift_components.core.cursor import parse_versioned_cursor
from airlift_components.core.naming import (
    airflow_asset_key,
    airflow_assets_group_name,
    asset_event_sensor_name,
    dag_asset_key,
    run_url,
)
from airlift_components.core.sensor import AirflowSensorError
from airlift_components.core.snapshot import AirflowSnapshot

ASSET_EVENT_CURSOR_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AirflowAssetsSettings:
    """Whether and which Airflow assets / datasets become Dagster assets.

    Example::

        AirflowAssetsSettings(enabled=True, uri_patterns=("s3://warehouse/*", "postgres://*"))

    Args:
        enabled: off by default (one more listing per snapshot fetch and one more sensor).
        uri_patterns: keep assets whose URI matches any of these globs (``fnmatch``, case-sensitive);
            empty keeps all.
        sensor_minimum_interval_seconds: how often the asset-event sensor polls.
        lookback: history the sensor's first tick reads.
        overlap: window re-read behind the watermark (late commits, clock skew).
    """

    enabled: bool = False
    uri_patterns: tuple[str, ...] = ()
    sensor_minimum_interval_seconds: int = 30
    lookback: timedelta = timedelta(days=1)
    overlap: timedelta = timedelta(minutes=2)

    def keeps(self, uri: str) -> bool:
        """Whether an asset URI passes the filter."""
        return not self.uri_patterns or any(fnmatch.fnmatchcase(uri, p) for p in self.uri_patterns)


class AirflowAssetsModel(dg.Model):
    """The component's ``airflow_assets:`` block (see :class:`AirflowAssetsSettings`)."""

    enabled: bool = Field(default=False, description="Turn Airflow assets / datasets into Dagster assets.")
    uri_patterns: list[str] = Field(
        default_factory=list,
        description="Keep assets whose URI matches any of these globs (empty = all).",
        examples=[["s3://warehouse/*"]],
    )
    minimum_interval_seconds: int = Field(
        default=30, description="Polling interval of the asset-event sensor."
    )

    def settings(self, where: str) -> AirflowAssetsSettings:
        """The settings for the definitions builder; ``where`` names the component in errors."""
        if self.minimum_interval_seconds < 1:
            raise ValueError(f"{where}: airflow_assets.minimum_interval_seconds must be >= 1")
        return AirflowAssetsSettings(
            enabled=self.enabled,
            uri_patterns=tuple(self.uri_patterns),
            sensor_minimum_interval_seconds=self.minimum_interval_seconds,
        )


def kept_assets(snapshot: AirflowSnapshot, settings: AirflowAssetsSettings) -> list[AirflowAssetRecord]:
    """The snapshot's Airflow assets that pass the URI filter (none when the feature is off)."""
    if not settings.enabled:
        return []
    if snapshot.airflow_assets is None:
        raise ValueError(
            f"airflow_assets is enabled for instance {snapshot.instance_name!r}, but its snapshot has no "
            "Airflow assets: it was fetched without them (refresh it, e.g. `dg utils refresh-defs-state`)"
        )
    return [asset for asset in snapshot.airflow_assets if settings.keeps(asset.uri)]


def _reaches(graph: dict[AssetKey, set[AssetKey]], start: AssetKey, goal: AssetKey) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def airflow_asset_graph(
    snapshot: AirflowSnapshot,
    assets: Sequence[AirflowAssetRecord],
    task_keys: Mapping[str, Mapping[str, Sequence[AssetKey]]] | None = None,
) -> tuple[dict[AssetKey, list[AssetKey]], dict[AssetKey, list[AssetKey]], dict[AssetKey, list[str]]]:
    """``(asset deps, extra DAG-asset deps, producers left out to avoid a cycle)``, all keyed by asset key.

    A producing task with mapped assets (``task_keys``: dag -> task -> keys) is linked through those
    assets; other producers through their DAG asset.
    """
    name = snapshot.instance_name
    dag_ids = set(snapshot.dag_ids)
    task_keys = task_keys or {}
    downstream: dict[AssetKey, set[AssetKey]] = {}  # data flow: upstream -> downstream
    for dag_id, by_task in task_keys.items():
        for keys in by_task.values():
            for key in keys:  # a DAG asset comes after the assets of its tasks
                downstream.setdefault(key, set()).add(dag_asset_key(name, dag_id))
    dag_deps: dict[AssetKey, list[AssetKey]] = {}
    for asset in assets:
        key = airflow_asset_key(name, asset.uri)
        for dag_id in asset.consuming_dag_ids:
            if dag_id in dag_ids:
                dag_key = dag_asset_key(name, dag_id)
                dag_deps.setdefault(dag_key, []).append(key)
                downstream.setdefault(key, set()).add(dag_key)
    asset_deps: dict[AssetKey, list[AssetKey]] = {}
    skipped: dict[AssetKey, list[str]] = {}
    for asset in assets:
        key = airflow_asset_key(name, asset.uri)
        producers: dict[AssetKey, str] = {}
        for dag_id, task_id in asset.producing_tasks:
            if dag_id in dag_ids:
                mapped = task_keys.get(dag_id, {}).get(task_id) or [dag_asset_key(name, dag_id)]
                producers.update({producer: f"{dag_id}.{task_id}" for producer in mapped})
        for producer in sorted(producers, key=lambda k: k.to_user_string()):
            if _reaches(downstream, key, producer):
                skipped.setdefault(key, []).append(producers[producer])
                continue
            asset_deps.setdefault(key, []).append(producer)
            downstream.setdefault(producer, set()).add(key)
    return asset_deps, dag_deps, skipped


def airflow_asset_specs(
    snapshot: AirflowSnapshot,
    settings: AirflowAssetsSettings,
    group_name: str,
    task_keys: Mapping[str, Mapping[str, Sequence[AssetKey]]] | None = None,
) -> tuple[list[AssetSpec], dict[AssetKey, list[AssetKey]]]:
    """The Dagster specs of the kept Airflow assets, and the deps to add to DAG assets (consumers)."""
    assets = kept_assets(snapshot, settings)
    asset_deps, dag_deps, skipped = airflow_asset_graph(snapshot, assets, task_keys)
    kind = "Airflow asset" if snapshot.api_version == "v2" else "Airflow dataset"
    specs = []
    for asset in assets:
        key = airflow_asset_key(snapshot.instance_name, asset.uri)
        metadata: dict[str, object] = {
            "URI": MetadataValue.text(asset.uri),
            "Producing tasks": MetadataValue.text(
                ", ".join(f"{dag_id}.{task_id}" for dag_id, task_id in asset.producing_tasks) or "none"
            ),
            "Consuming DAGs": MetadataValue.text(", ".join(asset.consuming_dag_ids) or "none"),
            "airlift/airflow_asset_uri": asset.uri,
        }
        if asset.name and asset.name != asset.uri:
            metadata["Name"] = MetadataValue.text(asset.name)
        if asset.group:
            metadata["Group"] = MetadataValue.text(asset.group)
        if asset.extra:
            metadata["Extra"] = MetadataValue.json(asset.extra)
        if key in skipped:
            metadata["Producers not drawn (cycle)"] = MetadataValue.text(", ".join(skipped[key]))
        specs.append(
            AssetSpec(
                key=key,
                description=f"{kind} `{asset.uri}`: materialized by each asset event Airflow records for it.",
                metadata=metadata,
                deps=asset_deps.get(key, []),
                kinds={"airflow"},
                group_name=group_name,
            )
        )
    return specs, dag_deps


def with_consumed_asset_deps(
    dag_specs: Iterable[AssetSpec], dag_deps: dict[AssetKey, list[AssetKey]]
) -> list[AssetSpec]:
    """DAG asset specs with deps on the Airflow assets they are scheduled on."""
    return [
        spec.merge_attributes(deps=dag_deps[spec.key]) if spec.key in dag_deps else spec for spec in dag_specs
    ]


# ---------------------------------------------------------------- asset events -> materializations


class AssetEventCursor(BaseModel):
    """The asset-event sensor's cursor: a watermark and the event ids handled inside the overlap window."""

    format_version: int = ASSET_EVENT_CURSOR_FORMAT_VERSION
    watermark: datetime
    seen: dict[str, datetime] = Field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> AssetEventCursor | None:
        """The cursor from its stored string, or None when there is none or it is unreadable."""
        return parse_versioned_cursor(cls, text, ASSET_EVENT_CURSOR_FORMAT_VERSION)


@dataclass(frozen=True)
class AssetEventPlan:
    """Which URIs the sensor materializes, and how to link back to Airflow."""

    instance_name: str
    webserver_url: str
    api_version: str
    uris: frozenset[str]

    def run_url(self, dag_id: str, run_id: str) -> str:
        """The producing run's page in the Airflow UI."""
        return run_url(self.webserver_url, self.api_version, dag_id, run_id)


def asset_event_materialization(plan: AssetEventPlan, event: AssetEventRecord) -> AssetMaterialization:
    """The materialization for one Airflow asset event."""
    metadata: dict[str, object] = {
        "URI": MetadataValue.text(event.uri),
        "Airflow event id": MetadataValue.int(event.event_id),
        "Airflow event time": MetadataValue.timestamp(event.timestamp),
        "Source": MetadataValue.text(
            f"{event.source_dag_id}.{event.source_task_id}" if event.source_dag_id else "REST API / external"
        ),
    }
    if event.source_dag_id and event.source_run_id:
        metadata["Airflow run id"] = MetadataValue.text(event.source_run_id)
        metadata["Airflow run"] = MetadataValue.url(plan.run_url(event.source_dag_id, event.source_run_id))
    if event.source_map_index is not None and event.source_map_index >= 0:
        metadata["Map index"] = MetadataValue.int(event.source_map_index)
    if event.extra:
        metadata["Extra"] = MetadataValue.json(event.extra)
    return AssetMaterialization(
        asset_key=airflow_asset_key(plan.instance_name, event.uri),
        description=f"Airflow asset event {event.event_id} for {event.uri}",
        metadata=metadata,
    )


def poll_asset_events(
    client: AirflowClient,
    plan: AssetEventPlan,
    cursor: AssetEventCursor | None,
    *,
    settings: AirflowAssetsSettings,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[list[AssetMaterialization], AssetEventCursor]:
    """One tick: events since ``watermark - overlap``, each event id once, in Airflow's order.

    Raises :class:`AirflowError` when Airflow cannot be read; the given cursor is never modified.
    """
    now = now or datetime.now(timezone.utc)
    cursor = cursor.model_copy(deep=True) if cursor else AssetEventCursor(watermark=now - settings.lookback)
    low = cursor.watermark - settings.overlap
    new_events: list[AssetEventRecord] = []
    for page in client.iter_asset_event_pages(timestamp_gte=low):
        for event in page:
            identity = str(event.event_id)
            if identity in cursor.seen or event.timestamp < low:
                continue
            cursor.seen[identity] = event.timestamp
            if event.uri in plan.uris:
                new_events.append(event)
            elif settings.keeps(event.uri):
                log(f"Skipped asset event {event.event_id}: {event.uri} is not in the snapshot (new asset?)")
    new_events.sort(key=lambda e: (e.timestamp, e.event_id))  # Airflow 2 pages newest first
    events = [asset_event_materialization(plan, event) for event in new_events]
    cursor.watermark = now
    floor = now - settings.overlap
    cursor.seen = {identity: at for identity, at in cursor.seen.items() if at >= floor}
    return events, cursor


def build_asset_event_sensor(
    *,
    client_factory: Callable[[], AirflowClient],
    plan: AssetEventPlan,
    name: str,
    settings: AirflowAssetsSettings,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """The sensor that reports Airflow asset events as materializations of the Airflow asset specs."""

    @sensor(
        name=name,
        minimum_interval_seconds=settings.sensor_minimum_interval_seconds,
        default_status=default_status or DefaultSensorStatus.RUNNING,
        description=f"Polls Airflow instance {plan.instance_name!r} for asset events and reports them as "
        "materializations of its Airflow assets.",
    )
    def _asset_event_sensor(context: SensorEvaluationContext) -> SensorResult:
        cursor = AssetEventCursor.parse(context.cursor)
        try:
            events, new_cursor = poll_asset_events(
                client_factory(), plan, cursor, settings=settings, log=context.log.info
            )
        except AirflowError as exc:
            raise AirflowSensorError(
                f"Could not read asset events of Airflow instance {plan.instance_name!r}: {exc}. "
                "No events were reported and the cursor did not move; the next tick retries."
            ) from exc
        return SensorResult(asset_events=events, cursor=new_cursor.model_dump_json())

    return _asset_event_sensor


def airflow_assets_defs(
    snapshot: AirflowSnapshot,
    dag_specs: Sequence[AssetSpec],
    settings: AirflowAssetsSettings | None,
    *,
    instance_name: str,
    client_factory: Callable[[], AirflowClient],
    default_status: DefaultSensorStatus | None = None,
    task_keys: Mapping[str, Mapping[str, Sequence[AssetKey]]] | None = None,
) -> tuple[list[AssetSpec], list[SensorDefinition]]:
    """What the definitions builder adds: DAG specs (with consumer deps) + Airflow asset specs, and the sensor.

    With the feature off, the DAG specs come back unchanged and there is no sensor.
    """
    settings = settings or AirflowAssetsSettings()
    if not settings.enabled:
        return list(dag_specs), []
    specs, dag_deps = airflow_asset_specs(
        snapshot, settings, airflow_assets_group_name(instance_name), task_keys
    )
    plan = AssetEventPlan(
        instance_name=snapshot.instance_name,
        webserver_url=snapshot.webserver_url,
        api_version=snapshot.api_version,
        uris=frozenset(asset.uri for asset in kept_assets(snapshot, settings)),
    )
    event_sensor = build_asset_event_sensor(
        client_factory=client_factory,
        plan=plan,
        name=asset_event_sensor_name(instance_name),
        settings=settings,
        default_status=default_status,
    )
    return [*with_consumed_asset_deps(dag_specs, dag_deps), *specs], [event_sensor]
