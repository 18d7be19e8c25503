"""From an :class:`AirflowSnapshot` and the user's mapped assets to Dagster ``Definitions``.

:func:`build_defs_from_snapshot` is pure (no I/O): one external asset per DAG, the user's mapped
assets unchanged, and the polling sensor. :func:`build_defs_from_airflow_instance` is the seed API:
it loads the snapshot (reconstruction state, file cache, or Airflow; see
:mod:`airlift_components.core.snapshot_cache`) and calls the pure builder.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from dagster import (
    AssetKey,
    AssetSpec,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    TimeWindowPartitionsDefinition,
)
from dagster._record import copy as copy_record

from airlift_components.airflow_api import DagRecord
from airlift_components.conventions import (
    DAG_ID_METADATA_KEY,
    INSTANCE_NAME_METADATA_KEY,
    PROXY_TARGETS_METADATA_KEY,
)
from airlift_components.core.airflow_assets import AirflowAssetsSettings, airflow_assets_defs
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.instance import AirflowInstance
from airlift_components.core.mappings import (
    DagMappings,
    MappedAsset,
    leaf_keys,
    mapped_assets_in,
    mappings_by_dag,
)
from airlift_components.core.naming import (
    dag_asset_key,
    dags_group_name,
    reconstruction_key,
    resource_key,
    sensor_name,
)
from airlift_components.core.progress import dag_markdown, dag_progress, migration_overview_spec
from airlift_components.core.sensor import (
    DEFAULT_SENSOR_INTERVAL_SECONDS,
    SensorSettings,
    build_airflow_sensor,
)
from airlift_components.core.snapshot import AirflowFilter, AirflowSnapshot, DagSelectorFn
from airlift_components.core.snapshot_cache import load_snapshot
from airlift_components.core.zero_code import (
    ZeroCode,
    ZeroCodeDefinitionError,
    ZeroCodePlan,
    plan_zero_code,
    whole_dag_tasks,
)
from airlift_components.core.zero_code_assets import zero_code_assets
from airlift_components.formats.proxy_targets import PartitionFormat, ProxyTargets

OnMissingMapping = Literal["error", "warn"]


class AirflowMappingError(ValueError):
    """Assets are mapped to a DAG or task that the Airflow instance does not have."""


class AirflowMappingWarning(UserWarning):
    """Like :class:`AirflowMappingError`, when the user chose ``on_missing_mapping="warn"``."""


def instance_resources(airflow_instance: AirflowInstance) -> dict[str, Any]:
    """The instance's connection object (:class:`AirflowInstanceResource`) bound under :func:`resource_key`.

    A Python-built auth backend (which may hold a plain password) stays on the resource object, not in
    config: the UI shows the URL, the auth type and the username only.
    """
    return {resource_key(airflow_instance.name): airflow_instance.resource}


def _describe_mapping(asset: MappedAsset) -> str:
    places = [f"task {dag_id}.{task_id}" for dag_id, task_id in asset.task_handles]
    places += [f"DAG {dag_id}" for dag_id in asset.dag_ids]
    return ", ".join(places)


def _check_mapped_once(mapped_assets: Sequence[MappedAsset]) -> None:
    # Two different definitions of one key would otherwise surface later as Dagster's "conflicting specs".
    first: dict[AssetKey, MappedAsset] = {}
    for asset in mapped_assets:
        earlier = first.setdefault(asset.key, asset)
        if earlier != asset:
            raise AirflowMappingError(
                f"asset {asset.key.to_user_string()!r} is mapped twice, by two different definitions: "
                f"to {_describe_mapping(earlier)} and to {_describe_mapping(asset)}. Map one definition "
                "to all its tasks with assets_with_multiple_task_mappings(assets=[...], task_handles=[...])."
            )


def _recorded_task_ids(
    snapshot: AirflowSnapshot, dag_id: str, zero_code: ZeroCode | None
) -> frozenset[str] | None:
    # The tasks a whole-DAG proxy records; only zero-code reads the record, so a malformed one fails there.
    try:
        tasks = whole_dag_tasks(snapshot, dag_id)
    except ZeroCodeDefinitionError:
        if zero_code is not None and zero_code.matches(dag_id):
            raise
        return None
    return frozenset(task.task_id for task in tasks) if tasks is not None else None


def _unknown_task(
    snapshot: AirflowSnapshot,
    dag_id: str,
    task_id: str,
    names: str,
    known: set[str],
    recorded: frozenset[str] | None,
) -> str:
    where = f"assets [{names}] are mapped to task {task_id!r} of DAG {dag_id!r}"
    if recorded is None:
        return f"{where}, which has no such task (its tasks: {', '.join(sorted(known)) or 'none'})"
    instance = snapshot.instance_name
    if task_id in recorded:
        return (
            f"{where}, which Airflow instance {instance!r} runs proxied as a whole (Airflow lists only its "
            "proxy task): map the assets to the DAG (assets_with_dag_mappings), or run the DAG zero-code "
            "(zero_code dags), where task mappings onto its tasks apply"
        )
    return (
        f"{where} of Airflow instance {instance!r}, which has no such task (the DAG is proxied as a whole; "
        f"its tasks, as its proxy records them: {', '.join(sorted(recorded)) or 'none'})"
    )


def _check_mappings(
    snapshot: AirflowSnapshot,
    by_dag: dict[str, DagMappings],
    on_missing: OnMissingMapping,
    zero_code: ZeroCode | None = None,
) -> dict[str, DagMappings]:
    problems: list[str] = []
    valid: dict[str, DagMappings] = {}
    for dag_id, mapping in sorted(by_dag.items()):
        keys = ", ".join(key.to_user_string() for key in mapping.all_keys())
        if snapshot.dag(dag_id) is None:
            problems.append(
                f"assets [{keys}] are mapped to DAG {dag_id!r}, but Airflow instance {snapshot.instance_name!r} "
                f"({snapshot.webserver_url}) has no such DAG (or dag_selector_fn / retrieval_filter left it out)"
            )
            continue
        kept = DagMappings(dag_id, dag_keys=list(mapping.dag_keys))
        known = {task.task_id for task in snapshot.tasks.get(dag_id, ())}
        recorded = _recorded_task_ids(snapshot, dag_id, zero_code) if mapping.task_keys else None
        # A whole-DAG zero-code DAG's tasks run in Dagster as recorded: task mappings resolve against them.
        resolvable = (known | recorded) if recorded and zero_code and zero_code.matches(dag_id) else known
        for task_id, task_keys in mapping.task_keys.items():
            if snapshot.has_tasks(dag_id) and task_id not in resolvable:
                names = ", ".join(key.to_user_string() for key in task_keys)
                problems.append(_unknown_task(snapshot, dag_id, task_id, names, known, recorded))
                continue
            kept.task_keys[task_id] = list(task_keys)
        valid[dag_id] = kept
    if problems:
        message = "Airflow mappings refer to things Airflow does not have:\n  - " + "\n  - ".join(problems)
        if on_missing == "error":
            raise AirflowMappingError(message)
        warnings.warn(message, AirflowMappingWarning, stacklevel=3)
    return valid


def proxy_targets(
    mapping: DagMappings | None,
    mapped: Mapping[AssetKey, MappedAsset],
    zero_code_task_ids: frozenset[str] = frozenset(),
) -> ProxyTargets:
    """What the Airflow-side proxy operators launch for this DAG (written on the DAG asset)."""
    if mapping is None:
        return ProxyTargets()
    partitions: dict[str, PartitionFormat] = {}
    for key in mapping.all_keys():
        partitions_def = mapped[key].partitions_def if key in mapped else None
        if isinstance(partitions_def, TimeWindowPartitionsDefinition):
            partitions["/".join(key.path)] = PartitionFormat(partitions_def.fmt, partitions_def.timezone)
    return ProxyTargets(
        dag=tuple(tuple(key.path) for key in mapping.dag_keys),
        tasks={
            task_id: tuple(tuple(key.path) for key in keys) for task_id, keys in mapping.task_keys.items()
        },
        partitions=partitions,
        zero_code=frozenset(zero_code_task_ids),
    )


def dag_asset_spec(
    snapshot: AirflowSnapshot,
    dag: DagRecord,
    mapping: DagMappings | None,
    mapped: Mapping[AssetKey, MappedAsset],
    group_name: str,
    zero_code_task_ids: frozenset[str] = frozenset(),
) -> AssetSpec:
    """The external asset that stands for one DAG (``zero_code_task_ids``: its tasks run zero-code)."""
    metadata: dict[str, Any] = {
        "Airflow UI": MetadataValue.url(snapshot.dag_url(dag.dag_id)),
        "Schedule": MetadataValue.text(dag.schedule or "none"),
        "Owners": MetadataValue.text(", ".join(dag.owners) or "none"),
        "Airflow tags": MetadataValue.text(", ".join(dag.tags) or "none"),
        "Paused": MetadataValue.bool(dag.is_paused),
        DAG_ID_METADATA_KEY: dag.dag_id,
        INSTANCE_NAME_METADATA_KEY: snapshot.instance_name,
        PROXY_TARGETS_METADATA_KEY: MetadataValue.json(
            proxy_targets(mapping, mapped, zero_code_task_ids).to_json()
        ),
    }
    if dag.fileloc:
        metadata["Source file"] = MetadataValue.path(dag.fileloc)
    if snapshot.has_tasks(dag.dag_id):
        total = len(snapshot.tasks[dag.dag_id])
        proxied = len(snapshot.proxied_task_ids.get(dag.dag_id, ()))
        metadata["Task count"] = MetadataValue.int(total)
        metadata["Tasks proxied"] = MetadataValue.text(f"{proxied}/{total}")
        progress = dag_progress(snapshot, dag.dag_id, mapping)
        metadata["Migration progress"] = MetadataValue.md(dag_markdown(progress))
    deps: list[AssetKey] = []
    if mapping is not None:
        keys = mapping.all_keys()
        deps = leaf_keys(keys, {key: mapped[key].deps for key in keys if key in mapped})
    description = dag.description or f"Airflow DAG {dag.dag_id!r}: materialized when a run of it succeeds."
    return AssetSpec(
        key=dag_asset_key(snapshot.instance_name, dag.dag_id),
        description=description,
        metadata=metadata,
        deps=deps,
        kinds={"airflow"},
        group_name=group_name,
    )


def build_defs_from_snapshot(
    snapshot: AirflowSnapshot,
    defs: Definitions | None = None,
    *,
    airflow_instance: AirflowInstance,
    sensor_minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    default_sensor_status: DefaultSensorStatus | None = None,
    on_missing_mapping: OnMissingMapping = "error",
    sensor_settings: SensorSettings | None = None,
    extra_mapped_assets: Sequence[MappedAsset] = (),
    resources: Mapping[str, Any] | None = None,
    airflow_assets: AirflowAssetsSettings | None = None,
    zero_code: ZeroCode | None = None,
    inline_specs: Sequence[AssetSpec] = (),
) -> Definitions:
    """Definitions for one Airflow instance from a snapshot, without any I/O.

    ``extra_mapped_assets`` are mappings given as objects rather than as metadata on ``defs`` (the YAML
    component gives all its mappings this way, its inline specs' metadata being for display only);
    ``inline_specs`` are the specs of such mappings, merged in here (a zero-code task's mapped specs
    become its executable asset); ``resources`` replaces the instance's default resources; ``zero_code``
    gives the tasks of its DAGs executable assets (see :mod:`airlift_components.core.zero_code`).

    Returns ``defs`` merged with one asset per DAG and the instance's sensor.

    Raises:
        ZeroCodeDefinitionError: a proxied task of a zero-code DAG cannot run zero-code.
    """
    if snapshot.instance_name != airflow_instance.name:
        raise ValueError(
            f"snapshot of instance {snapshot.instance_name!r} given for instance {airflow_instance.name!r}"
        )
    mapped_assets = [*mapped_assets_in(defs), *extra_mapped_assets]
    _check_mapped_once(mapped_assets)
    by_dag = _check_mappings(snapshot, mappings_by_dag(mapped_assets), on_missing_mapping, zero_code)
    zero_code_plan, executable = ZeroCodePlan(), []
    if zero_code is not None:
        zero_code_plan = plan_zero_code(
            snapshot,
            zero_code,
            {dag_id: mapping.task_keys for dag_id, mapping in by_dag.items()},
            {dag_id: mapping.dag_keys for dag_id, mapping in by_dag.items()},
        )
        specs_by_key = {spec.key: spec for spec in [*_specs_in(defs), *inline_specs]}
        executable = zero_code_assets(
            zero_code_plan, zero_code, instance_name=airflow_instance.name, specs_by_key=specs_by_key
        )
        # The executable assets replace the specs of their keys; default-key ones are new task mappings.
        replaced = {key for task in zero_code_plan.tasks if task.mapped for key in task.keys}
        defs = _without_specs(defs, replaced)
        inline_specs = [spec for spec in inline_specs if spec.key not in replaced]
        generated = zero_code_plan.mapped_assets()
        mapped_assets = [*mapped_assets, *generated]
        for dag_id, generated_mapping in mappings_by_dag(generated).items():
            by_dag.setdefault(dag_id, DagMappings(dag_id)).task_keys.update(generated_mapping.task_keys)
        # A whole-DAG proxy launches its tasks' zero-code assets: they are the DAG's targets.
        for dag_id, keys in zero_code_plan.whole_dag_keys().items():
            by_dag.setdefault(dag_id, DagMappings(dag_id)).dag_keys.extend(keys)
    mapped = {asset.key: asset for asset in mapped_assets}
    # A whole-DAG task's mapped asset also depends on its recorded upstream tasks (lineage, DAG asset deps).
    for key, upstream in zero_code_plan.whole_dag_mapped_deps().items():
        if key in mapped:
            mapped[key] = dataclasses.replace(mapped[key], deps=mapped[key].deps | upstream)
    zero_code_ids = zero_code_plan.task_ids_by_dag()
    group_name = dags_group_name(airflow_instance.name)
    dag_specs = [
        dag_asset_spec(
            snapshot,
            dag,
            by_dag.get(dag.dag_id),
            mapped,
            group_name,
            zero_code_ids.get(dag.dag_id, frozenset()),
        )
        for dag in snapshot.dags
    ]
    plan = AirflowSensorPlan(
        instance_name=snapshot.instance_name,
        webserver_url=snapshot.webserver_url,
        api_version=snapshot.api_version,
        dag_ids=frozenset(snapshot.dag_ids),
        task_keys={dag_id: dict(mapping.task_keys) for dag_id, mapping in by_dag.items()},
        dag_keys={dag_id: list(mapping.dag_keys) for dag_id, mapping in by_dag.items() if mapping.dag_keys},
        partitions_defs={key: asset.partitions_def for key, asset in mapped.items() if asset.partitions_def},
    )
    sensor = build_airflow_sensor(
        client_factory=lambda: airflow_instance.client,
        plan=plan,
        name=sensor_name(airflow_instance.name),
        minimum_interval_seconds=sensor_minimum_interval_seconds,
        default_status=default_sensor_status,
        settings=sensor_settings or SensorSettings(),
    )
    # Airflow assets / datasets (off unless `airflow_assets` enables them): see core/airflow_assets.py.
    asset_specs, asset_sensors = airflow_assets_defs(
        snapshot,
        dag_specs,
        airflow_assets,
        instance_name=airflow_instance.name,
        client_factory=lambda: airflow_instance.client,
        default_status=default_sensor_status,
        task_keys=plan.task_keys,
    )
    own_resources = dict(resources) if resources is not None else instance_resources(airflow_instance)
    overview = migration_overview_spec(snapshot, by_dag, group_name)
    own = Definitions(
        assets=[*asset_specs, overview, *executable, *inline_specs],
        sensors=[sensor, *asset_sensors],
        resources=own_resources,
    )
    return Definitions.merge(defs, own) if defs is not None else own


def _specs_in(defs: Definitions | None) -> list[AssetSpec]:
    return [asset for asset in (defs.assets or ()) if isinstance(asset, AssetSpec)] if defs else []


def _without_specs(defs: Definitions | None, keys: set[AssetKey]) -> Definitions | None:
    if defs is None or not keys:
        return defs
    kept = [a for a in (defs.assets or ()) if not (isinstance(a, AssetSpec) and a.key in keys)]
    return copy_record(defs, assets=kept)  # Definitions is a dagster record: copy, keeping every other field


def build_defs_from_airflow_instance(
    *,
    airflow_instance: AirflowInstance,
    defs: Definitions | None = None,
    sensor_minimum_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS,
    dag_selector_fn: DagSelectorFn | None = None,
    retrieval_filter: AirflowFilter | None = None,
    default_sensor_status: DefaultSensorStatus | None = None,
    on_missing_mapping: OnMissingMapping = "error",
    snapshot_cache_dir: str | Path | None = None,
    sensor_settings: SensorSettings | None = None,
    airflow_assets: AirflowAssetsSettings | None = None,
    zero_code: ZeroCode | None = None,
) -> Definitions:
    """Peer Dagster to an Airflow instance: one asset per DAG, mapped assets, and a polling sensor.

    Example::

        defs = build_defs_from_airflow_instance(
            airflow_instance=AirflowInstance(
                auth_backend=BasicAuthBackend("http://localhost:8080", "admin", "admin"),
                name="airflow_instance_one",
            ),
            defs=Definitions(assets=mapped_assets),
        )

    Args:
        airflow_instance: the Airflow instance.
        defs: your definitions, including assets annotated with ``assets_with_task_mappings`` /
            ``assets_with_dag_mappings``; returned merged with the Airflow definitions.
        sensor_minimum_interval_seconds: how often the sensor polls Airflow (default 30, minimum 1).
        dag_selector_fn: keep only DAGs for which this returns True.
        retrieval_filter: an :class:`AirflowFilter` (DAG id glob, tags).
        default_sensor_status: the sensor's default status (running unless told otherwise).
        on_missing_mapping: ``"error"`` (default) or ``"warn"`` when a mapping names a DAG or task that
            Airflow does not have.
        snapshot_cache_dir: cache the Airflow snapshot as a JSON file here so reloads do not call
            Airflow (default: the ``AIRLIFT_SNAPSHOT_CACHE_DIR`` env var; unset = fetch on each load).
        sensor_settings: look-back of the first tick, overlap window and work budget per tick.
        airflow_assets: turn Airflow assets / datasets into Dagster assets (off by default; see
            :class:`AirflowAssetsSettings`).
        zero_code: give the tasks of these DAGs executable assets that run the Airflow task's own code
            (see :class:`~airlift_components.core.zero_code.ZeroCode`); a proxied task that cannot run this
            way fails the load with a message naming instance, DAG, task, operator and reason.
    """
    mapped_dag_ids = set(mappings_by_dag(mapped_assets_in(defs)))
    snapshot, _source = load_snapshot(
        airflow_instance,
        mapped_dag_ids,
        dag_selector_fn=dag_selector_fn,
        retrieval_filter=retrieval_filter,
        cache_dir=snapshot_cache_dir,
        include_airflow_assets=bool(airflow_assets and airflow_assets.enabled),
        fetch_tasks_matching=zero_code.matches if zero_code is not None else None,
    )
    built = build_defs_from_snapshot(
        snapshot,
        defs,
        airflow_instance=airflow_instance,
        sensor_minimum_interval_seconds=sensor_minimum_interval_seconds,
        default_sensor_status=default_sensor_status,
        on_missing_mapping=on_missing_mapping,
        sensor_settings=sensor_settings,
        airflow_assets=airflow_assets,
        zero_code=zero_code,
    )
    # Run workers reconstructing this code location reuse the snapshot instead of calling Airflow.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "preview" API warning; the mechanism is what dagster-airlift uses
        return built.with_reconstruction_metadata(
            {reconstruction_key(airflow_instance.name): snapshot.model_dump_json()}
        )
