"""Annotating asset definitions with the Airflow tasks or DAGs that produce them.

The annotations are asset metadata (:data:`TASK_MAPPINGS_METADATA_KEY`, :data:`DAG_MAPPINGS_METADATA_KEY`),
so they travel with the user's own specs or executable assets (dbt assets included), and
:func:`mapped_assets_in` and :func:`mappings_by_dag` read them back when definitions are built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from dagster import AssetKey, AssetsDefinition, AssetSpec, Definitions, PartitionsDefinition

from airlift_components.conventions import DAG_MAPPINGS_METADATA_KEY, TASK_MAPPINGS_METADATA_KEY

MappableAsset = Union[AssetSpec, AssetsDefinition]


def _metadata_list(metadata: Mapping[str, Any], key: str) -> list[dict[str, str]]:
    value = metadata.get(key)
    if value is None:
        return []
    value = getattr(value, "value", value)  # JsonMetadataValue or raw
    if isinstance(value, str):
        value = json.loads(value)
    return [dict(item) for item in value]


def _with_added_mappings(
    metadata: Mapping[str, Any], key: str, handles: Sequence[dict[str, str]]
) -> dict[str, Any]:
    existing = _metadata_list(metadata, key)
    merged = existing + [dict(handle) for handle in handles if dict(handle) not in existing]
    return {**metadata, key: merged}


def mapping_metadata(task_handles: Sequence[tuple[str, str]], dag_ids: Sequence[str]) -> dict[str, Any]:
    """The mapping metadata an asset shows for its producing tasks and DAGs (the form
    :func:`mapped_assets_in` reads); a kind without producers is left out."""
    metadata: dict[str, Any] = {}
    if task_handles:
        metadata[TASK_MAPPINGS_METADATA_KEY] = [
            {"dag_id": dag_id, "task_id": task_id} for dag_id, task_id in task_handles
        ]
    if dag_ids:
        metadata[DAG_MAPPINGS_METADATA_KEY] = [{"dag_id": dag_id} for dag_id in dag_ids]
    return metadata


def _annotate(asset: MappableAsset, key: str, handles: Sequence[dict[str, str]]) -> MappableAsset:
    if isinstance(asset, AssetSpec):
        return asset.replace_attributes(metadata=_with_added_mappings(asset.metadata, key, handles))
    if isinstance(asset, AssetsDefinition):
        return asset.map_asset_specs(
            lambda spec: spec.replace_attributes(metadata=_with_added_mappings(spec.metadata, key, handles))
        )
    raise TypeError(
        f"expected AssetSpec or AssetsDefinition, got {type(asset).__name__}: map Airflow tasks to asset specs "
        "or to executable assets (e.g. @asset, @multi_asset, @dbt_assets)"
    )


def assets_with_task_mappings(
    dag_id: str, task_mappings: Mapping[str, Sequence[MappableAsset]]
) -> Sequence[MappableAsset]:
    """Annotate assets with the Airflow task that produces them.

    When the task succeeds in Airflow, the sensor materializes the assets.

    Example::

        mapped_assets = assets_with_task_mappings(
            dag_id="rebuild_customers_list",
            task_mappings={
                "load_raw_customers": [AssetSpec(key=["raw_data", "raw_customers"])],
                "build_dbt_models": [dbt_project_assets],
            },
        )
    """
    return [
        _annotate(asset, TASK_MAPPINGS_METADATA_KEY, [{"dag_id": dag_id, "task_id": task_id}])
        for task_id, assets in task_mappings.items()
        for asset in assets
    ]


def assets_with_multiple_task_mappings(
    assets: Sequence[MappableAsset], task_handles: Sequence[Mapping[str, str]]
) -> Sequence[MappableAsset]:
    """Annotate assets produced by several tasks (e.g. the same table written by two DAGs).

    Example::

        assets_with_multiple_task_mappings(
            assets=[AssetSpec("customers")],
            task_handles=[{"dag_id": "daily", "task_id": "load"}, {"dag_id": "backfill", "task_id": "load"}],
        )
    """
    handles = [{"dag_id": handle["dag_id"], "task_id": handle["task_id"]} for handle in task_handles]
    return [_annotate(asset, TASK_MAPPINGS_METADATA_KEY, handles) for asset in assets]


def assets_with_dag_mappings(dag_mappings: Mapping[str, Sequence[MappableAsset]]) -> Sequence[MappableAsset]:
    """Annotate assets with the Airflow DAG that produces them: they materialize when a DAG run succeeds.

    Example::

        assets_with_dag_mappings(dag_mappings={"rebuild_customers_list": [AssetSpec("customers_csv")]})
    """
    return [
        _annotate(asset, DAG_MAPPINGS_METADATA_KEY, [{"dag_id": dag_id}])
        for dag_id, assets in dag_mappings.items()
        for asset in assets
    ]


@dataclass(frozen=True)
class MappedAsset:
    """One mapped asset as the definitions builder and the sensor see it."""

    key: AssetKey
    deps: frozenset[AssetKey]
    partitions_def: PartitionsDefinition | None
    task_handles: tuple[tuple[str, str], ...]  # (dag_id, task_id)
    dag_ids: tuple[str, ...]


@dataclass
class DagMappings:
    """Everything mapped to one DAG."""

    dag_id: str
    task_keys: dict[str, list[AssetKey]] = field(default_factory=dict)  # task_id -> keys
    dag_keys: list[AssetKey] = field(default_factory=list)

    def all_keys(self) -> list[AssetKey]:
        """Task- and DAG-mapped keys, without duplicates, in first-seen order."""
        keys = [key for keys in self.task_keys.values() for key in keys] + self.dag_keys
        return list(dict.fromkeys(keys))


def _specs_of(asset: Any) -> Iterable[tuple[AssetSpec, PartitionsDefinition | None]]:
    if isinstance(asset, AssetSpec):
        yield asset, asset.partitions_def
    elif isinstance(asset, AssetsDefinition):
        for spec in asset.specs:
            yield spec, spec.partitions_def or asset.partitions_def


def mapped_assets_in(defs: Definitions | None) -> list[MappedAsset]:
    """Every asset in ``defs`` that carries task or DAG mapping metadata."""
    if defs is None:
        return []
    found: list[MappedAsset] = []
    for asset in defs.assets or ():
        for spec, partitions_def in _specs_of(asset):
            tasks = _metadata_list(spec.metadata, TASK_MAPPINGS_METADATA_KEY)
            dags = _metadata_list(spec.metadata, DAG_MAPPINGS_METADATA_KEY)
            if not tasks and not dags:
                continue
            found.append(
                MappedAsset(
                    key=spec.key,
                    deps=frozenset(dep.asset_key for dep in spec.deps),
                    partitions_def=partitions_def,
                    task_handles=tuple((item["dag_id"], item["task_id"]) for item in tasks),
                    dag_ids=tuple(item["dag_id"] for item in dags),
                )
            )
    return found


def mappings_by_dag(mapped: Iterable[MappedAsset]) -> dict[str, DagMappings]:
    """Group mapped assets by DAG id."""
    result: dict[str, DagMappings] = {}
    for asset in mapped:
        for dag_id, task_id in asset.task_handles:
            keys = result.setdefault(dag_id, DagMappings(dag_id)).task_keys.setdefault(task_id, [])
            if asset.key not in keys:
                keys.append(asset.key)
        for dag_id in asset.dag_ids:
            dag_keys = result.setdefault(dag_id, DagMappings(dag_id)).dag_keys
            if asset.key not in dag_keys:
                dag_keys.append(asset.key)
    return result


def leaf_keys(
    keys: Sequence[AssetKey], deps_by_key: Mapping[AssetKey, frozenset[AssetKey]]
) -> list[AssetKey]:
    """The keys among ``keys`` that no other key of ``keys`` depends on (the DAG asset depends on these)."""
    upstream_of_others = {dep for key in keys for dep in deps_by_key.get(key, frozenset()) if dep != key}
    return [key for key in keys if key not in upstream_of_others]
