"""A stand-in for Airflow 3's Execution API, answering the Task SDK runner with no metadata database.

The Task SDK's task runner talks to Airflow only through the Execution API client
(``airflow.sdk.api.client.Client``). :class:`ExecutionApiStandIn` is an httpx transport handler for that
client that:

- answers the task-instance routes from the payload (``run`` returns the DAG run's facts: logical
  date, data interval, ``conf``), and records the task's state and rendered template fields;
- reads the previous successful DAG run (``prev_*_success`` templates) from Airflow's REST API;
- answers XCom reads of the tasks in the payload's ``upstream_xcoms`` (tasks of a DAG proxied as a whole
  that ran earlier in the same Dagster run, so never pushed to Airflow) from there;
- reads other upstream XComs from Airflow's public REST API (``xcomEntries``: one value, a slice, an item or
  the count over a mapped task's map indexes), returning the raw stored value so the task runner deserialises it with Airflow's own XCom backend;
- captures XCom writes (they are relayed, never written to Airflow from here);
- answers connections and variables with "not found", so only the environment (``AIRFLOW_CONN_*``,
  ``AIRFLOW_VAR_*``) and a configured secrets backend are used, and records which were asked for;
- answers anything else with HTTP 501 naming the route, and records it, so an unsupported feature
  fails loudly with its name.

Cost: one REST request per upstream XCom read (two or more for a slice over map indexes); nothing else
leaves the process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from airlift_components.airflow_api import AirflowClient
from airlift_components.airflow_api.errors import AirflowNotFoundError
from airlift_components.formats.zero_code import RelayedXCom, ZeroCodePayload

_XCOM = re.compile(r"/xcoms/(?P<dag>[^/]+)/(?P<run>[^/]+)/(?P<task>[^/]+)/(?P<key>[^/]+)(?P<rest>/.*)?")
_TI = re.compile(r"/task-instances/(?P<id>[^/]+)/(?P<route>[a-z-]+)")


@dataclass
class Captured:
    """What the task did through the Execution API, for the result."""

    xcoms: list[RelayedXCom] = field(default_factory=list)
    rendered_fields: dict[str, Any] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)
    missing_connections: list[str] = field(default_factory=list)
    missing_variables: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


class ExecutionApiStandIn:
    """The handler of an ``httpx.MockTransport`` serving the Task SDK runner for one task instance.

    Args:
        payload: the task instance and its DAG run facts.
        rest: a client for Airflow's REST API (upstream XCom reads); None when the task reads no XCom
            from other tasks (a read then fails naming the missing configuration).
        max_tries: the task's ``retries`` (the runner reports the outcome; Airflow decides retries).
    """

    def __init__(self, payload: ZeroCodePayload, rest: AirflowClient | None, *, max_tries: int = 0) -> None:
        self.payload = payload
        self.rest = rest
        self.max_tries = max_tries
        self.captured = Captured()

    # ------------------------------------------------------------------ dispatch

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one Execution API request."""
        path, method = request.url.path, request.method
        if path.startswith("/connections/"):
            self.captured.missing_connections.append(_last(path))
            return _not_found("connection is not provided by the zero-code runner's Execution API")
        if path.startswith("/variables/"):
            if method == "GET":
                self.captured.missing_variables.append(_last(path))
                return _not_found("variable is not provided by the zero-code runner's Execution API")
            return self._unsupported(method, path, "writing Airflow Variables from a zero-code task")
        xcom = _XCOM.fullmatch(path)
        if xcom:
            return self._xcom(request, xcom.groupdict())
        ti = _TI.fullmatch(path)
        if ti:
            return self._task_instance(request, ti["route"])
        return self._unsupported(method, path, "this Execution API route")

    def _unsupported(self, method: str, path: str, what: str) -> httpx.Response:
        route = f"{method} {path}"
        self.captured.unsupported.append(route)
        return httpx.Response(501, json={"detail": f"the zero-code runner does not support {what} ({route})"})

    # ------------------------------------------------------------------ task instance

    def _task_instance(self, request: httpx.Request, route: str) -> httpx.Response:
        method = request.method
        if method == "PATCH" and route == "run":
            return httpx.Response(200, json=self.run_context())
        if method == "PATCH" and route == "state":
            body = json.loads(request.content or b"{}")
            self.captured.states.append(str(body.get("state")))
            return httpx.Response(204)
        if method == "PUT" and route == "rtif":
            self.captured.rendered_fields.update(json.loads(request.content or b"{}"))
            return httpx.Response(201, json={"message": "ok"})
        if method == "PUT" and route == "heartbeat":
            return httpx.Response(204)
        if method == "PATCH" and route == "rendered-map-index":
            return httpx.Response(204)
        if route == "validate-inlets-and-outlets":
            return httpx.Response(200, json={"inactive_assets": []})
        if route == "previous-successful-dagrun":
            return httpx.Response(200, json=self.previous_successful_dag_run())
        if method == "PATCH" and route == "skip-downstream":
            return self._unsupported(method, request.url.path, "skipping downstream tasks (branching)")
        return self._unsupported(method, request.url.path, f"the task-instance route {route!r}")

    def run_context(self) -> dict[str, Any]:
        """The ``TIRunContext`` body: the DAG run as Airflow would describe it to its worker."""
        p = self.payload
        start = p.data_interval_start or p.logical_date
        end = p.data_interval_end or p.logical_date
        run_after = p.run_after or end or _now()
        return {
            "dag_run": {
                "dag_id": p.dag_id,
                "run_id": p.run_id,
                "logical_date": p.logical_date,
                "data_interval_start": start,
                "data_interval_end": end,
                "run_after": run_after,
                "start_date": _now(),
                "end_date": None,
                "run_type": p.run_type,
                "state": "running",
                "conf": dict(p.conf),
                "consumed_asset_events": [],
                "partition_key": None,
            },
            "max_tries": self.max_tries,
            "should_retry": False,
        }

    def previous_successful_dag_run(self) -> dict[str, Any]:
        """The latest successful run of the DAG before this run's logical date (``prev_*_success``
        templates), read from REST as Airflow reads it from its database; empty without a logical date."""
        if self.payload.logical_date is None or self.rest is None:
            return {}
        body = self.rest.request(
            "GET",
            f"/api/v2/dags/{quote(self.payload.dag_id, safe='')}/dagRuns",
            params={
                "state": "success",
                "logical_date_lt": self.payload.logical_date,
                "order_by": "-logical_date",
                "limit": 1,
            },
        )
        runs = body.get("dag_runs", [])
        if not runs:
            return {}
        fields = ("data_interval_start", "data_interval_end", "start_date", "end_date")
        return {name: runs[0].get(name) for name in fields}

    # ------------------------------------------------------------------ XCom

    def _xcom(self, request: httpx.Request, where: dict[str, str]) -> httpx.Response:
        method, rest_of_path = request.method, where["rest"] or ""
        dag_id, run_id, task_id, key = (where[k] for k in ("dag", "run", "task", "key"))
        params = request.url.params
        if method == "POST" and not rest_of_path:
            if (dag_id, run_id, task_id) != (self.payload.dag_id, self.payload.run_id, self.payload.task_id):
                return self._unsupported(method, request.url.path, "pushing XCom for another task instance")
            self.captured.xcoms.append(RelayedXCom(key=key, value=json.loads(request.content or b"null")))
            return httpx.Response(201, json={"message": "ok"})
        if method == "DELETE" and not rest_of_path:
            # The runner clears the task's own XComs before a try; captured XComs start empty anyway.
            return httpx.Response(200, json={"message": "ok"})
        if method not in ("GET", "HEAD"):
            return self._unsupported(method, request.url.path, "this XCom route")
        if params.get("include_prior_dates") in ("true", "True"):
            return self._unsupported(method, request.url.path, "XCom reads with include_prior_dates")
        own = self._own_xcom(dag_id, run_id, task_id, key)
        if method == "HEAD" and not rest_of_path:
            # How many map indexes pushed this key (a downstream task iterating a mapped upstream's output).
            values = own if own is not None else self._rest_values(dag_id, run_id, task_id, key)
            return httpx.Response(200, headers={"Content-Range": f"map_indexes {len(values)}"})
        if rest_of_path == "/slice":
            values = own if own is not None else self._rest_values(dag_id, run_id, task_id, key)
            start, stop, step = (_int_or_none(params.get(name)) for name in ("start", "stop", "step"))
            return httpx.Response(200, json=values[slice(start, stop, step)])
        if rest_of_path.startswith("/item/"):
            values = own if own is not None else self._rest_values(dag_id, run_id, task_id, key)
            index = int(rest_of_path.rsplit("/", 1)[1])
            try:
                return httpx.Response(200, json=values[index])
            except IndexError:
                return _not_found(f"XCom {key!r} of task {task_id!r} has no item {index}")
        if rest_of_path:
            return self._unsupported(method, request.url.path, "this XCom route")
        map_index = int(params.get("map_index", -1))
        if own is not None:
            return httpx.Response(200, json={"key": key, "value": own[-1]}) if own else _not_found("no XCom")
        try:
            value = self._rest_value(dag_id, run_id, task_id, key, map_index)
        except AirflowNotFoundError:
            return _not_found(f"no XCom {key!r} for task {task_id!r} map index {map_index}")
        return httpx.Response(200, json={"key": key, "value": value})

    def _own_xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[Any] | None:
        """The values known in this process (None: ask Airflow): a task reading back its own XCom sees
        what it pushed in this execution; a task of the same Dagster run, what its result carried."""
        if (dag_id, run_id) != (self.payload.dag_id, self.payload.run_id):
            return None
        if task_id == self.payload.task_id:
            return [x.value for x in self.captured.xcoms if x.key == key]
        same_run = self.payload.upstream_xcoms.get(task_id)
        if same_run is None:
            return None
        return [same_run[key]] if key in same_run else []

    def _require_rest(self, task_id: str, key: str) -> AirflowClient:
        if self.rest is None:
            from airlift_components.formats.zero_code import ENV_AIRFLOW_URL

            message = (
                f"the task reads XCom {key!r} of task {task_id!r}, but the runner has no Airflow REST API to "
                f"read it from: set {ENV_AIRFLOW_URL} and its credentials in the runner's environment"
            )
            raise LookupError(message)
        return self.rest

    def _xcom_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return (
            f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/xcomEntries"
        )

    def _rest_value(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int) -> Any:
        rest = self._require_rest(task_id, key)
        body = rest.request(
            "GET",
            f"{self._xcom_path(dag_id, run_id, task_id)}/{quote(key, safe='')}",
            params={"map_index": map_index},
        )
        return body.get("value")

    def _rest_values(self, dag_id: str, run_id: str, task_id: str, key: str) -> list[Any]:
        """Every map index's value of one XCom key, in map-index order (an unmapped task has one, -1)."""
        rest = self._require_rest(task_id, key)
        try:
            return [self._rest_value(dag_id, run_id, task_id, key, -1)]
        except AirflowNotFoundError:
            pass
        indexes: set[int] = set()
        offset = 0
        while True:  # page through the listing: a mapped task can have more entries than one page
            try:
                listing = rest.request(
                    "GET",
                    self._xcom_path(dag_id, run_id, task_id),
                    params={"xcom_key": key, "limit": 100, "offset": offset},
                )
            except AirflowNotFoundError:
                return []
            entries = listing.get("xcom_entries", [])
            indexes.update(int(entry.get("map_index", -1)) for entry in entries if entry.get("key") == key)
            offset += len(entries)
            if not entries or offset >= int(listing.get("total_entries", 0)):
                break
        return [self._rest_value(dag_id, run_id, task_id, key, index) for index in sorted(indexes)]


def _not_found(message: str) -> httpx.Response:
    return httpx.Response(404, json={"detail": {"reason": "not_found", "message": message}})


def _last(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _int_or_none(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()
