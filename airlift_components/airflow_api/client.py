"""The Airflow REST client: one object per Airflow instance, speaking Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

This module holds the endpoint methods. The settings, the authenticated session, one request (with the
auth refresh) and paging are :mod:`~airlift_components.airflow_api.base_client`; how a request travels
(one pooled ``requests.Session``, a timeout on every call, urllib3 retries of idempotent calls, named
errors, paging to the end) is :mod:`~airlift_components.airflow_api.transport`; each record reads both
dialects' JSON itself (:mod:`~airlift_components.airflow_api.records`).

Example::

    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend

    client = AirflowClient(BasicAuthBackend("http://localhost:8080", "admin", "admin"))
    for dag in client.list_dags():
        print(dag.dag_id, dag.schedule)
    run = client.trigger_dag_run("rebuild_customers_list")
    print(client.wait_for_dag_run(run.dag_id, run.run_id).state)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from airlift_components.airflow_api.base_client import ApiVersion, BaseAirflowClient
from airlift_components.airflow_api.errors import AirflowError, AirflowNotFoundError
from airlift_components.airflow_api.records import (
    FINISHED_RUN_STATES,
    AirflowAssetRecord,
    AssetEventRecord,
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    TaskRecord,
)
from airlift_components.airflow_api.transport import batch_body, iso_timestamp, quote_part


class AirflowClient(BaseAirflowClient):
    """A client for one Airflow instance.

    Args:
        auth_backend: how to authenticate (:class:`BasicAuthBackend`, :class:`TokenAuthBackend`, ...).
        name: a label used in log lines (defaults to the URL).
        api_version: ``"auto"`` (detect once from the version endpoint), ``"v2"`` (Airflow 3) or ``"v1"`` (Airflow 2).
        timeout: seconds to wait for each HTTP response.
        max_retries: retries of an idempotent call after a connection error, timeout, 429 or 5xx.
        backoff_seconds: the first retry's delay; it doubles each retry (with jitter), capped at 10 s.
        page_size: rows asked for per page (the server may return fewer; paging follows what it returns).
        verify: TLS verification: True (default), a CA bundle path, or False.
        max_workers: bound on concurrent requests for per-DAG fetches.
    """

    # ------------------------------------------------------------------ DAGs and tasks

    def list_dags(
        self,
        *,
        dag_id_pattern: str | None = None,
        tags: Sequence[str] | None = None,
        only_active: bool = True,
        paused: bool | None = None,
    ) -> list[DagRecord]:
        """Every DAG (paged to the end; never truncated). ``tags`` keeps DAGs having any of the tags."""
        params: dict[str, Any] = {}
        if self.api_version == "v2":
            params["exclude_stale"] = "true" if only_active else "false"
        else:
            params["only_active"] = "true" if only_active else "false"
        if dag_id_pattern:
            params["dag_id_pattern"] = dag_id_pattern
        if tags:
            params["tags"] = list(tags)
        if paused is not None:
            params["paused"] = "true" if paused else "false"
        return [DagRecord.from_api(row) for page in self._pages("/dags", "dags", params) for row in page]

    def get_dag(self, dag_id: str) -> DagRecord:
        """One DAG by id (raises :class:`AirflowNotFoundError` if Airflow does not know it)."""
        return DagRecord.from_api(self.request("GET", self._path(f"/dags/{quote_part(dag_id)}")))

    def set_dag_paused(self, dag_id: str, paused: bool) -> DagRecord:
        """Pause or unpause a DAG."""
        body = self.request(
            "PATCH",
            self._path(f"/dags/{quote_part(dag_id)}"),
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
            idempotent=True,
        )
        return DagRecord.from_api(body)

    def list_tasks(self, dag_id: str) -> list[TaskRecord]:
        """The tasks of one DAG with upstream and downstream ids."""
        body = self.request("GET", self._path(f"/dags/{quote_part(dag_id)}/tasks"))
        rows = self._transport.rows(body, "tasks", self._path(f"/dags/{dag_id}/tasks"))
        return TaskRecord.list_from_api(dag_id, rows)

    def list_tasks_for_dags(self, dag_ids: Iterable[str]) -> dict[str, list[TaskRecord]]:
        """Tasks of many DAGs, fetched concurrently (at most ``max_workers`` requests in flight)."""
        dag_ids = list(dag_ids)
        if not dag_ids:
            return {}
        self._get_session()
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(dag_ids)))) as pool:
            return dict(zip(dag_ids, pool.map(self.list_tasks, dag_ids), strict=True))

    def get_dag_source(self, dag_id: str) -> str:
        """The Python source of the file that defines ``dag_id``."""
        if self.api_version == "v2":
            body = self.request("GET", self._path(f"/dagSources/{quote_part(dag_id)}"))
        else:
            token = self.get_dag(dag_id).file_token
            body = self.request(
                "GET", self._path(f"/dagSources/{token}"), headers={"Accept": "application/json"}
            )
        return body.get("content", "") if isinstance(body, dict) else str(body)

    # ------------------------------------------------------------------ runs and task instances

    def iter_dag_run_pages(
        self,
        *,
        dag_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
    ) -> Iterator[list[DagRunRecord]]:
        """DAG runs across DAGs (the batch endpoint), ordered by end date, one list per page."""
        payload = batch_body(
            order_by="end_date",
            dag_ids=dag_ids,
            states=states,
            end_date_gte=end_date_gte,
            end_date_lte=end_date_lte,
        )
        for rows in self._pages("/dags/~/dagRuns/list", "dag_runs", payload, post=True):
            yield [DagRunRecord.from_api(row) for row in rows]

    def list_dag_runs(self, **filters: Any) -> list[DagRunRecord]:
        """All DAG runs matching the filters of :meth:`iter_dag_run_pages`."""
        return [run for page in self.iter_dag_run_pages(**filters) for run in page]

    def first_page_of_dag_runs_updated_since(
        self, updated_at_gte: datetime
    ) -> tuple[list[DagRunRecord], bool]:
        """The first page of the runs of every DAG that Airflow changed at or after ``updated_at_gte``,
        and whether that page holds them all.

        A run changes when it is created, starts, finishes, and on every scheduler loop while it runs
        (``last_scheduling_decision``), so this one listing shows both the runs that finished since then
        and those still running. Cost: one request.
        """
        endpoint = self._path("/dags/~/dagRuns")
        params = {
            "updated_at_gte": iso_timestamp(updated_at_gte),
            "order_by": "id",
            "limit": self.page_size,
            "offset": 0,
        }
        body = self.request("GET", endpoint, params=params)
        runs = [DagRunRecord.from_api(row) for row in self._transport.rows(body, "dag_runs", endpoint)]
        total = body.get("total_entries")
        return runs, len(runs) >= total if total is not None else len(runs) < self.page_size

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRunRecord:
        """One DAG run."""
        return DagRunRecord.from_api(
            self.request("GET", self._path(f"/dags/{quote_part(dag_id)}/dagRuns/{quote_part(run_id)}"))
        )

    def iter_task_instance_pages(
        self,
        *,
        dag_ids: Sequence[str] | None = None,
        run_ids: Sequence[str] | None = None,
        task_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
    ) -> Iterator[list[TaskInstanceRecord]]:
        """Task instances across DAGs and runs (the batch endpoint), one list per page."""
        # Airflow 2's task-instance batch body has no order_by.
        payload = batch_body(
            order_by="end_date" if self.api_version == "v2" else None,
            dag_ids=dag_ids,
            dag_run_ids=run_ids,
            task_ids=task_ids,
            state=states,
            end_date_gte=end_date_gte,
            end_date_lte=end_date_lte,
        )
        for rows in self._pages("/dags/~/dagRuns/~/taskInstances/list", "task_instances", payload, post=True):
            yield [TaskInstanceRecord.from_api(row) for row in rows]

    def list_task_instances(self, **filters: Any) -> list[TaskInstanceRecord]:
        """All task instances matching the filters of :meth:`iter_task_instance_pages`."""
        return [ti for page in self.iter_task_instance_pages(**filters) for ti in page]

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        run_id: str | None = None,
        logical_date: datetime | str | None = None,
        conf: dict[str, Any] | None = None,
    ) -> DagRunRecord:
        """Start a DAG run. Without ``logical_date``, Airflow 3 creates a run with none (Airflow 2 uses now)."""
        payload: dict[str, Any] = {"conf": conf or {}}
        if run_id is not None:
            payload["dag_run_id"] = run_id
        if self.api_version == "v2":
            payload["logical_date"] = iso_timestamp(logical_date)
        elif logical_date is not None:
            payload["logical_date"] = iso_timestamp(logical_date)
        body = self.request(
            "POST", self._path(f"/dags/{quote_part(dag_id)}/dagRuns"), json=payload, idempotent=False
        )
        return DagRunRecord.from_api(body)

    def wait_for_dag_run(
        self, dag_id: str, run_id: str, *, timeout: float = 300.0, poll_interval: float = 1.0
    ) -> DagRunRecord:
        """Poll a run until it finishes; raises :class:`TimeoutError` naming the run if it does not in time."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_dag_run(dag_id, run_id)
            if run.state in FINISHED_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"DAG run {dag_id}/{run_id} on {self.webserver_url} still {run.state!r} after {timeout:.0f}s"
                    + run.not_due_hint()
                )
            time.sleep(poll_interval)

    # ------------------------------------------------------------------ variables

    def get_variable(self, key: str) -> str | None:
        """An Airflow Variable's value, or None if it does not exist."""
        try:
            body = self.request("GET", self._path(f"/variables/{quote_part(key)}"))
        except AirflowNotFoundError:
            return None
        return body.get("value")

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        """Create or update an Airflow Variable."""
        payload: dict[str, Any] = {"key": key, "value": value}
        if description is not None:
            payload["description"] = description
        try:
            self.request(
                "PATCH",
                self._path(f"/variables/{quote_part(key)}"),
                json=payload,
                idempotent=True,
            )
        except AirflowNotFoundError:
            self.request("POST", self._path("/variables"), json=payload, idempotent=False)

    # ------------------------------------------------------------------ assets (Airflow 3) / datasets (Airflow 2)

    def list_assets(self) -> list[AirflowAssetRecord]:
        """Every Airflow asset (Airflow 3) or dataset (Airflow 2), with producers and consumers, paged to the end."""
        suffix, key = ("/assets", "assets") if self.api_version == "v2" else ("/datasets", "datasets")
        return [AirflowAssetRecord.from_api(row) for page in self._pages(suffix, key, {}) for row in page]

    def iter_asset_event_pages(self, *, timestamp_gte: datetime) -> Iterator[list[AssetEventRecord]]:
        """Asset (dataset) events at or after ``timestamp_gte``, one list per page.

        Airflow 3 filters by time and pages oldest first. Airflow 2 cannot filter by time, so it pages
        newest first and stops after the first page that reaches back past ``timestamp_gte``.
        """
        if self.api_version == "v2":
            params = {"order_by": "timestamp", "timestamp_gte": iso_timestamp(timestamp_gte)}
            for rows in self._pages("/assets/events", "asset_events", params):
                yield [AssetEventRecord.from_api(row) for row in rows]
            return
        for rows in self._pages("/datasets/events", "dataset_events", {"order_by": "-timestamp"}):
            page = [AssetEventRecord.from_api(row) for row in rows]
            yield [event for event in page if event.timestamp >= timestamp_gte]
            if any(event.timestamp < timestamp_gte for event in page):
                return

    def health(self) -> dict[str, Any]:
        """The monitor/health document (no auth needed)."""
        suffix = "/monitor/health" if self.api_version == "v2" else "/health"
        return self.request("GET", self._path(suffix))

    def __repr__(self) -> str:
        return f"AirflowClient(name={self.name!r}, webserver_url={self.webserver_url!r})"


__all__ = ["AirflowClient", "AirflowError", "ApiVersion", "FINISHED_RUN_STATES"]
