"""The Airflow REST client: one object per Airflow instance, speaking Airflow 3 (``/api/v2``) and 2 (``/api/v1``).

It reuses one ``requests.Session`` (keep-alive), puts a timeout on every call, retries idempotent
calls with backoff on connection errors, timeouts, 429 and 5xx, pages every listing to the end
(following ``total_entries`` and whatever page size the server really applies), and turns both
dialects into the records of :mod:`airlift_components.airflow_api.records`.

Example::

    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend

    client = AirflowClient(BasicAuthBackend("http://localhost:8080", "admin", "admin"))
    for dag in client.list_dags():
        print(dag.dag_id, dag.schedule)
    run = client.trigger_dag_run("rebuild_customers_list")
    print(client.wait_for_dag_run(run.dag_id, run.run_id).state)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Literal

import requests
from requests.adapters import HTTPAdapter

from airlift_components.airflow_api.auth import TLS_FIX, AirflowAuthBackend
from airlift_components.airflow_api.errors import (
    AirflowAuthenticationError,
    AirflowError,
    AirflowNotFoundError,
    AirflowRequestError,
    AirflowResponseError,
    AirflowTLSError,
    AirflowUnavailableError,
)
from airlift_components.airflow_api.records import (
    AirflowAssetRecord,
    AirflowVersionInfo,
    AssetEventRecord,
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    TaskRecord,
)

logger = logging.getLogger("airlift_components.airflow_api")

ApiVersion = Literal["auto", "v1", "v2"]
FINISHED_RUN_STATES = ("success", "failed")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _future_run_hint(run: DagRunRecord) -> str:
    """Why a run may never start: Airflow's scheduler leaves runs whose time is still ahead alone."""
    dates = [date for date in (run.logical_date, run.run_after) if date is not None]
    when = max(dates, default=None)
    if when is None or when <= datetime.now(timezone.utc):
        return ""
    return (
        f"; it is not due until {when.isoformat()} (its logical date is in the future, and Airflow's"
        " scheduler starts no task of a run before then)"
    )


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
        self.request_count = 0
        self._requested_api_version = api_version
        self._version_info: AirflowVersionInfo | None = None
        self._session: requests.Session | None = None
        self._lock = threading.RLock()
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

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
        candidates = ["v2", "v1"] if self._requested_api_version == "auto" else [self._requested_api_version]
        session = self.auth_backend.get_session()
        last_status = None
        for candidate in candidates:
            endpoint = f"/api/{candidate}/version"
            response = self._send_with_retries(session, "GET", endpoint, idempotent=True)
            last_status = response.status_code
            if response.status_code == 404:
                continue
            if response.status_code in (401, 403):
                # The endpoint exists but wants credentials (some Airflow 2 setups): the dialect is known.
                return AirflowVersionInfo(version="unknown", api_version=candidate)
            if response.status_code >= 400:
                raise AirflowRequestError(
                    f"version endpoint answered HTTP {response.status_code}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=response.status_code,
                )
            body = self._json(response, endpoint)
            version = str(body.get("version", "unknown"))
            if self._requested_api_version == "auto" and version.startswith("2.") and candidate == "v2":
                continue
            return AirflowVersionInfo(version=version, api_version=candidate)
        raise AirflowRequestError(
            f"no Airflow REST API found (version endpoints answered HTTP {last_status}); "
            "is this the Airflow webserver / API server URL?",
            webserver_url=self.webserver_url,
            endpoint="/api/v2/version",
            status_code=last_status,
        )

    def _get_session(self) -> requests.Session:
        if self._session is None:
            api_version = self.api_version
            with self._lock:
                if self._session is None:
                    session = self.auth_backend.get_session()
                    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(self.max_workers, 4))
                    session.mount("http://", adapter)
                    session.mount("https://", adapter)
                    self.auth_backend.authenticate(session, api_version, self.timeout, self.verify)
                    self._session = session
        return self._session

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _send_with_retries(
        self,
        session: requests.Session,
        method: str,
        endpoint: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool,
    ) -> requests.Response:
        url = self.webserver_url + endpoint
        attempts = (self.max_retries + 1) if idempotent else 1
        last_problem = ""
        last_retry_after: str | None = None
        for attempt in range(attempts):
            if attempt:
                self._sleep_before_retry(attempt, last_retry_after)
            last_retry_after = None
            try:
                with self._count_lock:
                    self.request_count += 1
                response = session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except requests.exceptions.SSLError as exc:
                raise AirflowTLSError(
                    f"TLS verification failed ({type(exc).__name__}): the server's certificate is not trusted. "
                    f"{TLS_FIX}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                ) from None
            # ChunkedEncodingError: the connection dropped while the body was read (a truncated answer).
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                last_problem = type(exc).__name__
                logger.warning(
                    "Airflow %s: %s %s failed (%s), attempt %d/%d",
                    self.name,
                    method,
                    endpoint,
                    last_problem,
                    attempt + 1,
                    attempts,
                )
                continue
            if response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                last_problem = f"HTTP {response.status_code}"
                last_retry_after = response.headers.get("Retry-After")
                logger.warning(
                    "Airflow %s: %s %s answered %s, attempt %d/%d",
                    self.name,
                    method,
                    endpoint,
                    last_problem,
                    attempt + 1,
                    attempts,
                )
                continue
            return response
        raise AirflowUnavailableError(
            f"Airflow did not answer {method} after {attempts} attempt(s) (last problem: {last_problem})",
            webserver_url=self.webserver_url,
            endpoint=endpoint,
        )

    def _sleep_before_retry(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.backoff_seconds * (2 ** (attempt - 1)), 10.0)
        if retry_after:
            try:
                delay = min(max(float(retry_after), delay), 30.0)
            except ValueError:
                pass
        time.sleep(delay * (0.8 + 0.4 * random.random()))

    def _json(self, response: requests.Response, endpoint: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise AirflowResponseError(
                f"HTTP {response.status_code} answer is not valid JSON ({len(response.content)} bytes)",
                webserver_url=self.webserver_url,
                endpoint=endpoint,
                status_code=response.status_code,
            ) from None

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
        retried_body = False
        while True:
            self.auth_backend.before_request(session, self.api_version, self.timeout, self.verify)
            response = self._send_with_retries(
                session, method, endpoint, params=params, json=json, headers=headers, idempotent=idempotent
            )
            status = response.status_code
            if not refreshed and (
                status == 401 or (status == 403 and self.auth_backend.refreshes_on_forbidden)
            ):
                refreshed = True
                if self.auth_backend.refresh(session, self.api_version, self.timeout, self.verify):
                    continue
            if status in (401, 403):
                used = self.auth_backend.describe_credentials()
                raise AirflowAuthenticationError(
                    f"Airflow refused the credentials (HTTP {status}){f': {used}' if used else ''}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=status,
                )
            if status == 404:
                raise AirflowNotFoundError(
                    f"not found (HTTP 404){self._detail(response)}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=status,
                )
            if status in _RETRY_STATUSES:
                raise AirflowUnavailableError(
                    f"Airflow kept answering HTTP {status}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=status,
                )
            if status >= 400:
                raise AirflowRequestError(
                    f"Airflow rejected the request (HTTP {status}){self._detail(response)}",
                    webserver_url=self.webserver_url,
                    endpoint=endpoint,
                    status_code=status,
                )
            if status == 204 or not response.content:
                return None
            try:
                return self._json(response, endpoint)
            except AirflowResponseError:
                # A truncated body is usually a dropped connection: read-only calls get one more try.
                if idempotent and not retried_body:
                    retried_body = True
                    continue
                raise

    @staticmethod
    def _detail(response: requests.Response) -> str:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            return ""
        if not detail:
            return ""
        text = detail if isinstance(detail, str) else str(detail)
        return f": {text[:300]}"

    def _path(self, suffix: str) -> str:
        return f"/api/{self.api_version}{suffix}"

    def _paged_get(self, suffix: str, key: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body = self.request(
                "GET", self._path(suffix), params={**params, "limit": self.page_size, "offset": offset}
            )
            rows = self._rows(body, key, suffix)
            yield from rows
            offset += len(rows)
            total = body.get("total_entries")
            if (
                not rows
                or (total is not None and offset >= total)
                or (total is None and len(rows) < self.page_size)
            ):
                return

    def _paged_post(self, suffix: str, key: str, payload: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        offset = 0
        while True:
            body = self.request(
                "POST",
                self._path(suffix),
                json={**payload, "page_limit": self.page_size, "page_offset": offset},
                idempotent=True,
            )
            rows = self._rows(body, key, suffix)
            yield rows
            offset += len(rows)
            total = body.get("total_entries")
            if (
                not rows
                or (total is not None and offset >= total)
                or (total is None and len(rows) < self.page_size)
            ):
                return

    def _rows(self, body: Any, key: str, suffix: str) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            raise AirflowResponseError(
                f"expected a JSON object with a {key!r} list",
                webserver_url=self.webserver_url,
                endpoint=self._path(suffix),
            )
        return body[key]

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
        return [self._dag_record(row) for row in self._paged_get("/dags", "dags", params)]

    def get_dag(self, dag_id: str) -> DagRecord:
        """One DAG by id (raises :class:`AirflowNotFoundError` if Airflow does not know it)."""
        return self._dag_record(self.request("GET", self._path(f"/dags/{_q(dag_id)}")))

    def _dag_record(self, row: dict[str, Any]) -> DagRecord:
        if self.api_version == "v2":
            schedule = row.get("timetable_summary")
            is_active = not row.get("is_stale", False)
        else:
            schedule = _v1_schedule(row.get("schedule_interval"))
            is_active = bool(row.get("is_active", True))
        return DagRecord(
            dag_id=row["dag_id"],
            is_paused=bool(row.get("is_paused")),
            is_active=is_active,
            schedule=schedule,
            schedule_description=row.get("timetable_description"),
            tags=tuple(t["name"] if isinstance(t, dict) else str(t) for t in row.get("tags") or ()),
            owners=tuple(row.get("owners") or ()),
            fileloc=row.get("fileloc"),
            description=row.get("description"),
            file_token=row.get("file_token"),
        )

    def set_dag_paused(self, dag_id: str, paused: bool) -> DagRecord:
        """Pause or unpause a DAG."""
        body = self.request(
            "PATCH",
            self._path(f"/dags/{_q(dag_id)}"),
            params={"update_mask": "is_paused"},
            json={"is_paused": paused},
            idempotent=True,
        )
        return self._dag_record(body)

    def list_tasks(self, dag_id: str) -> list[TaskRecord]:
        """The tasks of one DAG with upstream and downstream ids."""
        body = self.request("GET", self._path(f"/dags/{_q(dag_id)}/tasks"))
        rows = self._rows(body, "tasks", f"/dags/{dag_id}/tasks")
        upstream: dict[str, list[str]] = {}
        for row in rows:
            for downstream in row.get("downstream_task_ids") or ():
                upstream.setdefault(downstream, []).append(row["task_id"])
        records = []
        for row in rows:
            class_ref = row.get("class_ref") or {}
            records.append(
                TaskRecord(
                    dag_id=dag_id,
                    task_id=row["task_id"],
                    downstream_task_ids=tuple(row.get("downstream_task_ids") or ()),
                    upstream_task_ids=tuple(sorted(upstream.get(row["task_id"], ()))),
                    operator=class_ref.get("class_name") or row.get("operator_name"),
                    operator_module=class_ref.get("module_path"),
                    is_mapped=bool(row.get("is_mapped")),
                    doc_md=row.get("doc_md"),
                    retries=row.get("retries"),
                    pool=row.get("pool"),
                    queue=row.get("queue"),
                    trigger_rule=row.get("trigger_rule"),
                    template_fields=tuple(row.get("template_fields") or ()),
                )
            )
        return records

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
            body = self.request("GET", self._path(f"/dagSources/{_q(dag_id)}"))
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
        payload = _batch_body(
            order_by="end_date",
            dag_ids=dag_ids,
            states=states,
            end_date_gte=end_date_gte,
            end_date_lte=end_date_lte,
        )
        for rows in self._paged_post("/dags/~/dagRuns/list", "dag_runs", payload):
            yield [self._run_record(row) for row in rows]

    def list_dag_runs(self, **filters: Any) -> list[DagRunRecord]:
        """All DAG runs matching the filters of :meth:`iter_dag_run_pages`."""
        return [run for page in self.iter_dag_run_pages(**filters) for run in page]

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRunRecord:
        """One DAG run."""
        return self._run_record(self.request("GET", self._path(f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")))

    def _run_record(self, row: dict[str, Any]) -> DagRunRecord:
        return DagRunRecord(
            dag_id=row["dag_id"],
            run_id=row["dag_run_id"],
            state=row.get("state"),
            run_type=row.get("run_type"),
            logical_date=row.get("logical_date") or row.get("execution_date"),
            run_after=row.get("run_after"),
            start_date=row.get("start_date"),
            end_date=row.get("end_date"),
            data_interval_start=row.get("data_interval_start"),
            data_interval_end=row.get("data_interval_end"),
            conf=row.get("conf"),
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
        payload = _batch_body(
            order_by="end_date" if self.api_version == "v2" else None,
            dag_ids=dag_ids,
            dag_run_ids=run_ids,
            task_ids=task_ids,
            state=states,
            end_date_gte=end_date_gte,
            end_date_lte=end_date_lte,
        )
        for rows in self._paged_post("/dags/~/dagRuns/~/taskInstances/list", "task_instances", payload):
            yield [self._task_instance_record(row) for row in rows]

    def list_task_instances(self, **filters: Any) -> list[TaskInstanceRecord]:
        """All task instances matching the filters of :meth:`iter_task_instance_pages`."""
        return [ti for page in self.iter_task_instance_pages(**filters) for ti in page]

    def _task_instance_record(self, row: dict[str, Any]) -> TaskInstanceRecord:
        return TaskInstanceRecord(
            dag_id=row["dag_id"],
            run_id=row["dag_run_id"],
            task_id=row["task_id"],
            map_index=row.get("map_index", -1) if row.get("map_index") is not None else -1,
            try_number=row.get("try_number") or 0,
            state=row.get("state"),
            start_date=row.get("start_date"),
            end_date=row.get("end_date"),
            logical_date=row.get("logical_date") or row.get("execution_date"),
            operator=row.get("operator"),
            rendered_fields=row.get("rendered_fields"),
        )

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
            payload["logical_date"] = _iso(logical_date)
        elif logical_date is not None:
            payload["logical_date"] = _iso(logical_date)
        body = self.request("POST", self._path(f"/dags/{_q(dag_id)}/dagRuns"), json=payload, idempotent=False)
        return self._run_record(body)

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
                    + _future_run_hint(run)
                )
            time.sleep(poll_interval)

    # ------------------------------------------------------------------ variables

    def get_variable(self, key: str) -> str | None:
        """An Airflow Variable's value, or None if it does not exist."""
        try:
            body = self.request("GET", self._path(f"/variables/{_q(key)}"))
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
                self._path(f"/variables/{_q(key)}"),
                json=payload,
                idempotent=True,
            )
        except AirflowNotFoundError:
            self.request("POST", self._path("/variables"), json=payload, idempotent=False)

    # ------------------------------------------------------------------ assets (Airflow 3) / datasets (Airflow 2)

    def list_assets(self) -> list[AirflowAssetRecord]:
        """Every Airflow asset (Airflow 3) or dataset (Airflow 2), with producers and consumers, paged to the end."""
        suffix, key = ("/assets", "assets") if self.api_version == "v2" else ("/datasets", "datasets")
        return [self._asset_record(row) for row in self._paged_get(suffix, key, {})]

    def _asset_record(self, row: dict[str, Any]) -> AirflowAssetRecord:
        consumers = row.get("scheduled_dags") if self.api_version == "v2" else row.get("consuming_dags")
        return AirflowAssetRecord(
            uri=row["uri"],
            asset_id=row.get("id"),
            name=row.get("name"),
            group=row.get("group"),
            extra=row.get("extra") or None,
            producing_tasks=tuple(
                sorted((t["dag_id"], t["task_id"]) for t in row.get("producing_tasks") or ())
            ),
            consuming_dag_ids=tuple(sorted({d["dag_id"] for d in consumers or ()})),
        )

    def iter_asset_event_pages(self, *, timestamp_gte: datetime) -> Iterator[list[AssetEventRecord]]:
        """Asset (dataset) events at or after ``timestamp_gte``, one list per page.

        Airflow 3 filters by time and pages oldest first. Airflow 2 cannot filter by time, so it pages
        newest first and stops after the first page that reaches back past ``timestamp_gte``.
        """
        if self.api_version == "v2":
            params = {"order_by": "timestamp", "timestamp_gte": _iso(timestamp_gte)}
            for rows in _pages(self._paged_get("/assets/events", "asset_events", params), self.page_size):
                yield [self._asset_event_record(row) for row in rows]
            return
        for rows in _pages(
            self._paged_get("/datasets/events", "dataset_events", {"order_by": "-timestamp"}), self.page_size
        ):
            page = [self._asset_event_record(row) for row in rows]
            yield [event for event in page if event.timestamp >= timestamp_gte]
            if any(event.timestamp < timestamp_gte for event in page):
                return

    def _asset_event_record(self, row: dict[str, Any]) -> AssetEventRecord:
        return AssetEventRecord(
            event_id=row["id"],
            uri=row.get("uri") or row.get("dataset_uri") or "",
            timestamp=row["timestamp"],
            asset_id=row.get("asset_id", row.get("dataset_id")),
            extra=row.get("extra") or None,
            source_dag_id=row.get("source_dag_id"),
            source_task_id=row.get("source_task_id"),
            source_run_id=row.get("source_run_id"),
            source_map_index=row.get("source_map_index"),
        )

    def health(self) -> dict[str, Any]:
        """The monitor/health document (no auth needed)."""
        suffix = "/monitor/health" if self.api_version == "v2" else "/health"
        return self.request("GET", self._path(suffix))

    def __repr__(self) -> str:
        return f"AirflowClient(name={self.name!r}, webserver_url={self.webserver_url!r})"


def _batch_body(**filters: Any) -> dict[str, Any]:
    """A batch-list body from the filters that are set (lists as lists, datetimes as ISO strings)."""
    body: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            body[name] = _iso(value)
        elif isinstance(value, str):
            body[name] = value
        else:
            body[name] = list(value)
    return body


def _pages(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Group a row stream into lists of ``size`` (consumed lazily, so stopping early saves requests)."""
    page: list[dict[str, Any]] = []
    for row in rows:
        page.append(row)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _q(part: str) -> str:
    return requests.utils.quote(part, safe="")


def _v1_schedule(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "CronExpression":
            return value.get("value")
        if kind == "TimeDelta":
            return f"every {value.get('days', 0)}d {value.get('seconds', 0)}s"
        return value.get("value") or kind
    return str(value)


__all__ = ["AirflowClient", "AirflowError", "FINISHED_RUN_STATES"]
