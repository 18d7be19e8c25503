"""`AirflowSnapshot`: everything the Dagster side knows about one Airflow instance, and how to fetch it.

The snapshot is plain data (pydantic, JSON round-trip), so definitions can be rebuilt from a cached
copy without calling Airflow. Fetching costs the login (which tells the API dialect), the paged DAG
listing, and one ``/tasks`` request per DAG whose task structure is needed (mapped DAGs, DAGs tagged as
proxied, or asked for), sent concurrently with a bounded pool.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import cached_property
from typing import Protocol

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from airlift_components.airflow_api import AirflowAssetRecord, AirflowClient, DagRecord, TaskRecord
from airlift_components.conventions import PROXIED_DAG_TAG, PROXIED_TASKS_DAG_TAG, PROXY_MARKER_FIELD
from airlift_components.core.instance import AirflowInstance
from airlift_components.core.naming import dag_url

SNAPSHOT_FORMAT_VERSION = 1

DagSelectorFn = Callable[[DagRecord], bool]


class AirflowFilter(BaseModel):
    """Which DAGs to retrieve from Airflow (applied when the snapshot is fetched).

    Args:
        dag_id_glob: a glob on DAG ids, e.g. ``"finance_*"`` (dagster-airlift's misspelling
            ``dag_id_ggob`` is accepted too, so filters written for it keep working).
        airflow_tags: keep only DAGs that have at least one of these tags (filtered by Airflow).
        include_paused: also retrieve paused DAGs (default True).
    """

    model_config = ConfigDict(frozen=True)

    dag_id_glob: str | None = Field(default=None, validation_alias=AliasChoices("dag_id_glob", "dag_id_ggob"))
    airflow_tags: tuple[str, ...] | None = None
    include_paused: bool = True

    def keeps(self, dag: DagRecord) -> bool:
        """Whether a DAG listed by Airflow passes the filter."""
        if self.dag_id_glob and not fnmatch.fnmatchcase(dag.dag_id, self.dag_id_glob):
            return False
        if self.airflow_tags and not set(self.airflow_tags) & set(dag.tags):
            return False
        return self.include_paused or not dag.is_paused


class AirflowSnapshot(BaseModel):
    """The state of one Airflow instance that definitions are built from.

    Example::

        snapshot = fetch_snapshot(instance, mapped_dag_ids={"rebuild_customers_list"})
        text = snapshot.model_dump_json()
        assert AirflowSnapshot.model_validate_json(text) == snapshot
    """

    model_config = ConfigDict(frozen=True)

    format_version: int = SNAPSHOT_FORMAT_VERSION
    instance_name: str
    webserver_url: str
    airflow_version: str = Field(description='e.g. "3.3.2"; "3.x" when only the major version was known')
    api_version: str = Field(description='"v2" for Airflow 3, "v1" for Airflow 2')
    fetched_at: datetime
    dags: tuple[DagRecord, ...]
    # Only for the DAGs whose structure was fetched; a DAG missing here has unknown tasks.
    tasks: dict[str, tuple[TaskRecord, ...]] = Field(default_factory=dict)
    proxied_task_ids: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # Airflow assets (datasets on Airflow 2); None when they were not fetched.
    airflow_assets: tuple[AirflowAssetRecord, ...] | None = None

    @property
    def dag_ids(self) -> tuple[str, ...]:
        """Every retrieved DAG id, in listing order."""
        return tuple(dag.dag_id for dag in self.dags)

    def dag(self, dag_id: str) -> DagRecord | None:
        """One DAG record, or None if the snapshot does not have it."""
        return self._dags_by_id.get(dag_id)

    @cached_property
    def _dags_by_id(self) -> dict[str, DagRecord]:
        return {dag.dag_id: dag for dag in self.dags}

    def has_tasks(self, dag_id: str) -> bool:
        """Whether the task structure of ``dag_id`` was fetched."""
        return dag_id in self.tasks

    def dag_url(self, dag_id: str) -> str:
        """The DAG's page in the Airflow UI."""
        return dag_url(self.webserver_url, self.api_version, dag_id)


def needs_task_structure(dag: DagRecord) -> bool:
    """DAGs tagged by ``proxying_to_dagster`` have their tasks fetched to show migration progress."""
    return PROXIED_TASKS_DAG_TAG in dag.tags or PROXIED_DAG_TAG in dag.tags


def proxied_task_ids(tasks: Iterable[TaskRecord]) -> tuple[str, ...]:
    """Tasks whose operator carries the proxy marker template field."""
    return tuple(sorted(task.task_id for task in tasks if PROXY_MARKER_FIELD in task.template_fields))


class SnapshotSource(Protocol):
    """What :func:`fetch_snapshot` reads: an :class:`AirflowInstance`, or any object with these three members."""

    @property
    def name(self) -> str: ...

    @property
    def webserver_url(self) -> str: ...

    @property
    def client(self) -> AirflowClient: ...


def fetch_snapshot(
    instance: AirflowInstance | SnapshotSource,
    mapped_dag_ids: Iterable[str] = (),
    *,
    dag_selector_fn: DagSelectorFn | None = None,
    retrieval_filter: AirflowFilter | None = None,
    fetch_tasks_for: Iterable[str] = (),
    fetch_tasks_matching: Callable[[str], bool] | None = None,
    include_airflow_assets: bool = False,
) -> AirflowSnapshot:
    """Fetch an :class:`AirflowSnapshot` from Airflow.

    Args:
        instance: the Airflow instance (``airlift-components status`` passes its peered instance).
        mapped_dag_ids: DAGs with mapped assets; their tasks are fetched to validate task mappings.
        dag_selector_fn: keep only DAGs for which this returns True.
        retrieval_filter: DAG id glob / tags filter.
        fetch_tasks_for: more DAG ids whose tasks to fetch.
        fetch_tasks_matching: also fetch the tasks of the kept DAGs whose id this accepts (e.g. the
            zero-code DAG globs, known only once the DAGs are listed).
        include_airflow_assets: also list Airflow assets / datasets (paged; one request per 100).

    Cost: the login (which tells the API dialect; a version request instead for backends whose login does
    not) + ceil(DAGs / page size) listing requests + one request per DAG whose tasks are needed
    (concurrent). ``airflow_version`` is the exact version only when a request already told it, else the
    major version (``"3.x"``): asking for it would cost a request on every refresh.
    """
    client = instance.client
    retrieval_filter = retrieval_filter or AirflowFilter()
    listed = client.list_dags(
        tags=list(retrieval_filter.airflow_tags) if retrieval_filter.airflow_tags else None
    )
    dags = [
        dag
        for dag in listed
        if retrieval_filter.keeps(dag) and (dag_selector_fn is None or dag_selector_fn(dag))
    ]
    wanted = set(mapped_dag_ids) | set(fetch_tasks_for)
    task_dag_ids = [
        dag.dag_id
        for dag in dags
        if dag.dag_id in wanted
        or needs_task_structure(dag)
        or (fetch_tasks_matching is not None and fetch_tasks_matching(dag.dag_id))
    ]
    tasks = client.list_tasks_for_dags(task_dag_ids)
    return AirflowSnapshot(
        instance_name=instance.name,
        webserver_url=instance.webserver_url,
        airflow_version=client.known_airflow_version,
        api_version=client.api_version,
        fetched_at=datetime.now(timezone.utc),
        dags=tuple(dags),
        tasks={dag_id: tuple(records) for dag_id, records in tasks.items()},
        proxied_task_ids={dag_id: proxied_task_ids(records) for dag_id, records in tasks.items()},
        airflow_assets=tuple(client.list_assets()) if include_airflow_assets else None,
    )
