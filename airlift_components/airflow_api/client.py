"""The Airflow REST client: one object per Airflow instance, speaking Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

This module holds the endpoint methods. How a request travels (one pooled ``requests.Session``, a
timeout on every call, urllib3 retries of idempotent calls, named errors, paging to the end) is
:mod:`~airlift_components.airflow_api.transport`; each record reads both dialects' JSON itself
(:mod:`~airlift_components.airflow_api.records`).

Example::

    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend

    client = AirflowClient(BasicAuthBackend("http://localhost:8080", "admin", "admin"))
    for dag in client.list_dags():
        print(dag.dag_id, dag.schedule)
    run = client.trigger_dag_run("rebuild_customers_list")
    print(client.wait_for_dag_run(run.dag_id, run.run_id).state)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Literal

import requests

from airlift_components.airflow_api.auth import AirflowAuthBackend
from airlift_components.airflow_api.errors import (
    AirflowError,
    AirflowNotFoundError,
    AirflowResponseError,
)
from airlift_components.airflow_api.records import (
    FINISHED_RUN_STATES,
    AirflowAssetRecord,
    AirflowVersionInfo,
    AssetEventRecord,
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    TaskRecord,
)
from airlift_components.airflow_api.transport import (
    AirflowTransport,
    batch_body,
    iso_timestamp,
    iter_pages,
    quote_part,
)

ApiVersion = Literal["auto", "v1", "v2"]


class AirflowClient:
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

    def __init__(
        self,
        auth_backend: AirflowAuthBackend,
        *,
        name: str | None = None,
        api_version: ApiVersion = "auto",
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        page_size: int = 100,
        verify: bool | str = True,
        max_workers: int = 8,
    ) -> None:
        if api_version not in ("auto", "v1", "v2"):
            raise ValueError(f"api_version must be 'auto', 'v1' or 'v2', got {api_version!r}")
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.auth_backend = auth_backend
        self.webserver_url = auth_backend.get_webserver_url().rstrip("/")
        self.name = name or self.webserver_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.page_size = page_size
        self.verify = verify
        self.max_workers = max_workers
        self._transport = AirflowTransport(
            self.webserver_url, self.name, timeout, max_retries, backoff_seconds, verify
        )
        self._requested_api_version = api_version
        self._version_info: AirflowVersionInfo | None = None
        self._session: requests.Session | None = None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ plumbing

    @property
    def request_count(self) -> int:
        """HTTP requests sent to Airflow so far, every retry counted (login requests are not)."""
        return self._transport.request_count

    @request_count.setter
    def request_count(self, value: int) -> None:
        """Reset the count (``client.request_count = 0``) before measuring what one operation costs."""
        self._transport.request_count = value

    @property
    def api_version(self) -> str:
        """``"v2"`` for Airflow 3, ``"v1"`` for Airflow 2 (detected on first use unless given)."""
        return self.version_info.api_version

    @property
    def version_info(self) -> AirflowVersionInfo:
        """The Airflow version and API dialect of this instance."""
        if self._version_info is None:
            with self._lock:
                if self._version_info is None:
                    self._version_info = self._detect_version()
        return self._version_info

    def _detect_version(self) -> AirflowVersionInfo:
        session = self._transport.mount(self.auth_backend.get_session())
        return self._transport.detect_version(session, self._requested_api_version)

    def _get_session(self) -> requests.Session:
        if self._session is None:
            api_version = self.api_version
            with self._lock:
                if self._session is None:
                    session = self._transport.mount(self.auth_backend.get_session(), self.max_workers)
                    self.auth_backend.authenticate(session, api_version, self.timeout, self.verify)
                    self._session = session
        return self._session

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request to ``endpoint`` (a path like ``/api/v2/dags``) and return the decoded JSON body.

        Handles auth refresh on 401 (one retry), retries (for idempotent calls) and error mapping.
        """
        if idempotent is None:
            idempotent = method.upper() == "GET"
        session = self._get_session()
        refreshed = False
        reread = False
        while True:
            self.auth_backend.before_request(session, self.api_version, self.timeout, self.verify)
            response = self._transport.send(
                session, method, endpoint, params=params, json=json, headers=headers, idempotent=idempotent
            )
            status = response.status_code
            if not refreshed and (
                status == 401 or (status == 403 and self.auth_backend.refreshes_on_forbidden)
            ):
                refreshed = True
                if self.auth_backend.refresh(session, self.api_version, self.timeout, self.verify):
                    continue
            self._transport.check(response, endpoint, self.auth_backend.describe_credentials())
            if status == 204 or not response.content:
                return None
            try:
                return self._transport.decode(response, endpoint)
            except AirflowResponseError:
                # A complete HTTP answer whose JSON is cut short (not an urllib3 retry case, the status was
                # fine): usually a dropped upstream connection, so read-only calls read it once more.
                if idempotent and not reread:
                    reread = True
                    continue
                raise

    def _path(self, suffix: str) -> str:
        return f"/api/{self.api_version}{suffix}"

    def _pages(
        self, suffix: str, key: str, query: dict[str, Any], *, post: bool = False
    ) -> Iterator[list[Any]]:
        """The pages of a listing: GET with ``limit``/``offset``, or a batch POST with ``page_limit``/``page_offset``."""
        endpoint = self._path(suffix)

        def fetch(limit: int, offset: int) -> Any:
            if post:
                page = {**query, "page_limit": limit, "page_offset": offset}
                return self.request("POST", endpoint, json=page, idempotent=True)
            return self.request("GET", endpoint, params={**query, "limit": limit, "offset": offset})

        return iter_pages(fetch, lambda body: self._transport.rows(body, key, endpoint), self.page_size)

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


__all__ = ["AirflowClient", "AirflowError", "FINISHED_RUN_STATES"]
