"""What a proxy operator launches: the asset keys mapped to a task or DAG, and their partition key.

The Dagster side writes ``conventions.PROXY_TARGETS_METADATA_KEY`` on each DAG asset as JSON
(:meth:`ProxyTargets.to_json`), the proxy operators and the CLI read it back
(:meth:`ProxyTargets.from_metadata`, :meth:`ProxyTargets.parse`)::

    {"dag": [["customers_csv"]],
     "tasks": {"build_dbt_models": [["customers"], ["orders"]]},
     "partitions": {"customers": {"fmt": "%Y-%m-%d", "timezone": "UTC"}},
     "zero_code": ["export_customers"]}

``zero_code`` lists the tasks whose target is a zero-code asset (the task's own Airflow code run by
the runner); their runs report a ``conventions.ZERO_CODE_RESULT_METADATA_KEY`` observation that the
proxy relays into Airflow. ``partitions`` lists the time-partitioned assets (keyed by their slash-joined key) and how a logical
date becomes their partition key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from airlift_components.conventions import PROXY_TARGETS_METADATA_KEY

AssetKeyPath = tuple[str, ...]


class ProxyTargetsError(ValueError):
    """The DAG asset has no usable proxy targets for this task or DAG, or no partition can be chosen."""


@dataclass(frozen=True)
class PartitionFormat:
    """How a logical date becomes a time-window partition key (strftime ``fmt`` in ``timezone``)."""

    fmt: str
    timezone: str = "UTC"

    def partition_key(self, logical_date: datetime) -> str:
        """The partition key for ``logical_date`` (naive datetimes are taken as UTC)."""
        if logical_date.tzinfo is None:
            logical_date = logical_date.replace(tzinfo=timezone.utc)
        return logical_date.astimezone(ZoneInfo(self.timezone)).strftime(self.fmt)


@dataclass(frozen=True)
class ProxyTargets:
    """The parsed ``airlift/proxy_targets`` metadata of one DAG asset."""

    dag: tuple[AssetKeyPath, ...] = ()
    tasks: Mapping[str, tuple[AssetKeyPath, ...]] = field(default_factory=dict)
    partitions: Mapping[str, PartitionFormat] = field(default_factory=dict)
    zero_code: frozenset[str] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The JSON body written as the DAG asset's ``airlift/proxy_targets`` metadata (the one writer)."""
        body: dict[str, Any] = {
            "dag": [list(key) for key in self.dag],
            "tasks": {task_id: [list(key) for key in keys] for task_id, keys in self.tasks.items()},
            "partitions": {
                path: {"fmt": spec.fmt, "timezone": spec.timezone} for path, spec in self.partitions.items()
            },
        }
        if self.zero_code:  # left out when empty, so DAGs without zero-code tasks keep their metadata
            body["zero_code"] = sorted(self.zero_code)
        return body

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], *, dag_asset: str) -> ProxyTargets:
        """Parse the metadata of the DAG asset named ``dag_asset`` (for error messages)."""
        raw = metadata.get(PROXY_TARGETS_METADATA_KEY)
        if raw is None:
            raise ProxyTargetsError(
                f"DAG asset {dag_asset} has no {PROXY_TARGETS_METADATA_KEY!r} metadata; "
                "is the Dagster code location built with airlift_components?"
            )
        return cls.parse(raw, dag_asset=dag_asset)

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any], *, dag_asset: str) -> ProxyTargets:
        """Parse the metadata value itself (a JSON string or the decoded mapping); the one reader.

        Raises:
            ProxyTargetsError: the value is not the JSON shape :meth:`to_json` writes.
        """
        try:
            body = json.loads(raw) if isinstance(raw, str) else raw
            return cls(
                dag=tuple(tuple(key) for key in body.get("dag") or []),
                tasks={
                    task_id: tuple(tuple(key) for key in keys)
                    for task_id, keys in (body.get("tasks") or {}).items()
                },
                partitions={
                    path: PartitionFormat(spec["fmt"], spec.get("timezone") or "UTC")
                    for path, spec in (body.get("partitions") or {}).items()
                },
                zero_code=frozenset(str(task_id) for task_id in body.get("zero_code") or []),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ProxyTargetsError(
                f"DAG asset {dag_asset}: malformed {PROXY_TARGETS_METADATA_KEY!r} metadata: {exc}"
            ) from None

    def partition_key(self, asset_keys: Sequence[AssetKeyPath], logical_date: datetime | None) -> str | None:
        """The one partition key for a run of ``asset_keys``, or None when none of them is partitioned.

        Raises:
            ProxyTargetsError: some are partitioned but there is no logical date (an Airflow 3 run
                triggered with ``logical_date: null``), or they disagree on the key.
        """
        formats = {
            "/".join(key): self.partitions["/".join(key)]
            for key in asset_keys
            if "/".join(key) in self.partitions
        }
        if not formats:
            return None
        if logical_date is None:
            raise ProxyTargetsError(
                f"assets {sorted(formats)} are partitioned, but this Airflow run has no logical date "
                "(triggered with logical_date: null), so no partition can be chosen; trigger the run "
                "with a logical date"
            )
        keys = {path: fmt.partition_key(logical_date) for path, fmt in formats.items()}
        if len(set(keys.values())) > 1:
            raise ProxyTargetsError(
                f"the assets of one proxied task must share a partition key for {logical_date.isoformat()}, "
                f"got {keys}"
            )
        return next(iter(keys.values()))
