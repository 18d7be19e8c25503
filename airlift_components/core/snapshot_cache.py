"""Where a snapshot comes from when definitions load: run-worker state, a file cache, or Airflow.

Order of preference (:func:`load_snapshot`):

1. **Reconstruction metadata** — when Dagster reconstructs a code location that it loaded before
   (run workers, sensor/schedule evaluations in a code server launched from a stored origin), the
   snapshot that the code server attached to the definitions is reused: zero requests.
2. **The file cache** — if a cache directory is configured (``snapshot_cache_dir=`` or the
   ``AIRLIFT_SNAPSHOT_CACHE_DIR`` env var), a cached snapshot there is used: code-location reloads
   do not call Airflow. Refresh it with :func:`refresh_snapshot`, by deleting the file, or by loading
   once with ``AIRLIFT_REFRESH_SNAPSHOT=1``.
3. **Airflow** — fetched, then written to the file cache when one is configured.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from airlift_components.core.instance import AirflowInstance
from airlift_components.core.naming import reconstruction_key, safe_identifier
from airlift_components.core.snapshot import (
    SNAPSHOT_FORMAT_VERSION,
    AirflowFilter,
    AirflowSnapshot,
    DagSelectorFn,
    fetch_snapshot,
)

logger = logging.getLogger("airlift_components.core")

SNAPSHOT_CACHE_DIR_ENV = "AIRLIFT_SNAPSHOT_CACHE_DIR"
REFRESH_SNAPSHOT_ENV = "AIRLIFT_REFRESH_SNAPSHOT"

SnapshotSource = Literal["reconstruction", "cache", "airflow"]


def snapshot_cache_path(cache_dir: str | Path, instance_name: str) -> Path:
    """The cache file of one instance (name made file-safe, plus a hash so distinct names never collide)."""
    digest = hashlib.sha256(instance_name.encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{safe_identifier(instance_name)}-{digest}.snapshot.json"


def read_cached_snapshot(path: Path) -> AirflowSnapshot | None:
    """The snapshot stored at ``path``, or None if there is none or it is unreadable / of an older format."""
    try:
        snapshot = AirflowSnapshot.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as exc:
        logger.warning("Ignoring unreadable Airflow snapshot cache %s (%s)", path, type(exc).__name__)
        return None
    return snapshot if snapshot.format_version == SNAPSHOT_FORMAT_VERSION else None


def write_cached_snapshot(path: Path, snapshot: AirflowSnapshot) -> None:
    """Write atomically, so a concurrent reader sees the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(snapshot.model_dump_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def covers(snapshot: AirflowSnapshot, instance: AirflowInstance, mapped_dag_ids: Iterable[str]) -> bool:
    """Whether a cached snapshot can serve these mappings (same instance; tasks fetched for mapped DAGs)."""
    if snapshot.instance_name != instance.name or snapshot.webserver_url != instance.webserver_url:
        return False
    # A mapped DAG missing from the snapshot may be new in Airflow: worth one fetch to find out.
    return all(snapshot.has_tasks(dag_id) for dag_id in mapped_dag_ids)


def _reconstruction_snapshot(instance_name: str) -> AirflowSnapshot | None:
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType

    if not DefinitionsLoadContext.is_set():
        return None
    context = DefinitionsLoadContext.get()
    if context.load_type != DefinitionsLoadType.RECONSTRUCTION:
        return None
    text = context.reconstruction_metadata.get(reconstruction_key(instance_name))
    if not isinstance(text, str):
        return None
    try:
        return AirflowSnapshot.model_validate_json(text)
    except ValidationError:
        return None


def _refilter(
    snapshot: AirflowSnapshot, dag_selector_fn: DagSelectorFn | None, retrieval_filter: AirflowFilter | None
) -> AirflowSnapshot:
    if dag_selector_fn is None and retrieval_filter is None:
        return snapshot
    keep = [
        dag
        for dag in snapshot.dags
        if (retrieval_filter is None or retrieval_filter.keeps(dag))
        and (dag_selector_fn is None or dag_selector_fn(dag))
    ]
    return snapshot.model_copy(update={"dags": tuple(keep)})


def load_snapshot(
    instance: AirflowInstance,
    mapped_dag_ids: Iterable[str] = (),
    *,
    dag_selector_fn: DagSelectorFn | None = None,
    retrieval_filter: AirflowFilter | None = None,
    cache_dir: str | Path | None = None,
    refresh: bool | None = None,
    include_airflow_assets: bool = False,
    fetch_tasks_matching: Callable[[str], bool] | None = None,
) -> tuple[AirflowSnapshot, SnapshotSource]:
    """The snapshot to build definitions from, and where it came from (see the module docstring).

    ``fetch_tasks_matching``: DAG ids whose tasks the snapshot must hold (a cached snapshot that lacks
    them is fetched again, and the new one cached).
    """
    mapped_dag_ids = set(mapped_dag_ids)
    snapshot = _reconstruction_snapshot(instance.name)
    if snapshot is not None:
        return _refilter(snapshot, dag_selector_fn, retrieval_filter), "reconstruction"
    cache_dir = cache_dir if cache_dir is not None else os.environ.get(SNAPSHOT_CACHE_DIR_ENV) or None
    if refresh is None:
        refresh = os.environ.get(REFRESH_SNAPSHOT_ENV, "").lower() in ("1", "true", "yes")
    path = snapshot_cache_path(cache_dir, instance.name) if cache_dir else None
    if path is not None and not refresh:
        cached = read_cached_snapshot(path)
        if (
            cached is not None
            and covers(cached, instance, mapped_dag_ids)
            and (cached.airflow_assets is not None or not include_airflow_assets)
            and (
                fetch_tasks_matching is None
                or all(cached.has_tasks(d) for d in cached.dag_ids if fetch_tasks_matching(d))
            )
        ):
            return _refilter(cached, dag_selector_fn, retrieval_filter), "cache"
    snapshot = fetch_snapshot(
        instance,
        mapped_dag_ids,
        dag_selector_fn=dag_selector_fn,
        retrieval_filter=retrieval_filter,
        include_airflow_assets=include_airflow_assets,
        fetch_tasks_matching=fetch_tasks_matching,
    )
    if path is not None:
        write_cached_snapshot(path, snapshot)
    return snapshot, "airflow"


def refresh_snapshot(
    instance: AirflowInstance,
    mapped_dag_ids: Iterable[str] = (),
    *,
    cache_dir: str | Path | None = None,
    dag_selector_fn: DagSelectorFn | None = None,
    retrieval_filter: AirflowFilter | None = None,
) -> AirflowSnapshot:
    """Fetch a fresh snapshot from Airflow and replace the cached one (e.g. from CI after a DAG deploy).

    Example::

        refresh_snapshot(instance, {"rebuild_customers_list"}, cache_dir="/var/cache/airlift")
    """
    snapshot, _ = load_snapshot(
        instance,
        mapped_dag_ids,
        dag_selector_fn=dag_selector_fn,
        retrieval_filter=retrieval_filter,
        cache_dir=cache_dir,
        refresh=True,
    )
    return snapshot
