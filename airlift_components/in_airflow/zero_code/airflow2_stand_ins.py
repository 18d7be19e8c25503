"""Airflow 2 stand-ins for what a task reaches in Airflow's metadata database, while the zero-code runner
runs it (:mod:`.runner_airflow2`).

- :class:`RestXCom`: ``ti.xcom_pull`` from the payload's same-run XComs, then Airflow's REST API v1;
  ``ti.xcom_push`` captured for the result.
- :class:`RestRunHistory`: the previous DAG runs a context reads (``prev_*_success``), over REST v1.
- :func:`metadata_db_refused`: connections and variables not found in the metastore (recorded), any other
  database use refused before a connection opens.
- :class:`Captured`: what the task asked for while it ran.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_URL,
    RelayedXCom,
    ZeroCodePayload,
)
from airlift_components.in_airflow.zero_code.errors import (
    ZeroCodeUnsupportedError,
)

RETURN_KEY = "return_value"  # Airflow's XCOM_RETURN_KEY


@dataclass
class Captured:
    """What the task asked of Airflow while it ran: pushed XComs, misses and refused features."""

    xcoms: list[RelayedXCom] = field(default_factory=list)
    missing_connections: list[str] = field(default_factory=list)
    missing_variables: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


class RestXCom:
    """``ti.xcom_pull`` / ``ti.xcom_push`` for one task instance: reads from the payload's same-run XComs,
    then from Airflow's REST API v1; writes are captured for the result (relayed by the proxy)."""

    def __init__(self, payload: ZeroCodePayload, rest: Any, captured: Captured) -> None:
        self.payload = payload
        self.rest = rest
        self.captured = captured

    def push(self, key: str, value: Any, execution_date: datetime | None = None, session: Any = None) -> None:
        """Capture one XCom in the form Airflow's XCom backend stores it (a JSON-serialisable value)."""
        from airflow.models.xcom import XCom

        if execution_date is not None:
            self._unsupported(f"xcom_push with execution_date (key {key!r})")
        # Airflow's own serialisation: a value it cannot store fails here as it would in Airflow.
        stored = XCom.serialize_value(
            value,
            key=key,
            task_id=self.payload.task_id,
            dag_id=self.payload.dag_id,
            run_id=self.payload.run_id,
        )
        self.captured.xcoms.append(RelayedXCom(key=key, value=json.loads(stored)))

    def pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_KEY,
        include_prior_dates: bool = False,
        session: Any = None,
        *,
        map_indexes: int | Iterable[int] | None = None,
        default: Any = None,
    ) -> Any:
        """Airflow 2's ``xcom_pull`` for this DAG run: one value for one task id, a list for several."""
        if include_prior_dates:
            self._unsupported("xcom_pull(include_prior_dates=True)")
        if task_ids is None:
            self._unsupported("xcom_pull without task_ids (the runner reads XCom per task)")
        if dag_id not in (None, self.payload.dag_id):
            self._unsupported(f"xcom_pull from another DAG ({dag_id!r})")
        if not (map_indexes is None or isinstance(map_indexes, int) and map_indexes == -1):
            self._unsupported(f"xcom_pull with map_indexes={map_indexes!r} (mapped upstream tasks)")
        if isinstance(task_ids, str):
            found, value = self._one(task_ids, key)
            return value if found else default
        values = []
        for task_id in task_ids:  # type: ignore[union-attr]
            found, value = self._one(task_id, key)
            if found:
                values.append(value)
        return values

    def _one(self, task_id: str, key: str) -> tuple[bool, Any]:
        from airflow.serialization.serde import deserialize

        if task_id == self.payload.task_id:
            own = [x.value for x in self.captured.xcoms if x.key == key]
            return (True, deserialize(own[-1])) if own else (False, None)
        same_run = self.payload.upstream_xcoms.get(task_id)
        if same_run is not None:
            return (True, deserialize(same_run[key])) if key in same_run else (False, None)
        return self._rest(task_id, key)

    def _rest(self, task_id: str, key: str) -> tuple[bool, Any]:
        from airlift_components.airflow_api.errors import AirflowNotFoundError

        if self.rest is None:
            raise LookupError(
                f"the task reads XCom {key!r} of task {task_id!r}, but the runner has no Airflow REST API to "
                f"read it from: set {ENV_AIRFLOW_URL} and its credentials in the runner's environment"
            )
        p = self.payload
        path = (
            f"/api/v1/dags/{quote(p.dag_id, safe='')}/dagRuns/{quote(p.run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/xcomEntries/{quote(key, safe='')}"
        )
        try:
            # stringify=false: the value as JSON (the stored value decoded by Airflow's XCom backend).
            body = self.rest.request("GET", path, params={"map_index": -1, "stringify": "false"})
        except AirflowNotFoundError:
            return False, None
        return True, body.get("value")

    def _unsupported(self, what: str) -> None:
        self.captured.unsupported.append(what)
        raise ZeroCodeUnsupportedError(f"the zero-code runner does not support {what} on Airflow 2")


class RestRunHistory:
    """The previous runs of the DAG (``prev_*`` templates), read from REST v1 as Airflow reads its DB."""

    def __init__(self, payload: ZeroCodePayload, rest: Any) -> None:
        self.payload = payload
        self.rest = rest
        self._cache: dict[str | None, Any] = {}

    def previous_dag_run(self, state: Any = None, session: Any = None) -> Any:
        """The latest run before this one's logical date (with ``state`` if given), or None."""
        key = str(getattr(state, "value", state)) if state is not None else None
        if key not in self._cache:
            self._cache[key] = self._read(key)
        return self._cache[key]

    def previous_execution_date(self, state: Any = None, session: Any = None) -> Any:
        """The previous run's logical date (``prev_execution_date_success``), or None."""
        run = self.previous_dag_run(state)
        return None if run is None else run.execution_date

    def previous_start_date(self, state: Any = None, session: Any = None) -> Any:
        """The previous run's start date, or None."""
        run = self.previous_dag_run(state)
        return None if run is None else run.start_date

    def _read(self, state: str | None) -> Any:
        from airflow.models.dagrun import DagRun
        from airflow.utils import timezone

        if self.rest is None:
            return None
        logical_date = timezone.parse(self.payload.logical_date)
        # REST v1 filters are inclusive: one microsecond earlier is "strictly before", as Airflow's query.
        params: dict[str, Any] = {
            "execution_date_lte": (logical_date - timedelta(microseconds=1)).isoformat(),
            "order_by": "-execution_date",
            "limit": 1,
        }
        if state:
            params["state"] = state
        body = self.rest.request(
            "GET", f"/api/v1/dags/{quote(self.payload.dag_id, safe='')}/dagRuns", params=params
        )
        runs = body.get("dag_runs", [])
        if not runs:
            return None
        row = runs[0]

        def when(name: str) -> Any:
            return timezone.parse(row[name]) if row.get(name) else None

        run = DagRun(
            dag_id=self.payload.dag_id,
            run_id=row.get("dag_run_id"),
            execution_date=when("logical_date") or when("execution_date"),
            start_date=when("start_date"),
            external_trigger=row.get("external_trigger"),
            conf=row.get("conf") or {},
            state=row.get("state"),
            run_type=row.get("run_type"),
            data_interval=(when("data_interval_start"), when("data_interval_end")),
        )
        run.end_date = when("end_date")
        return run


@contextlib.contextmanager
def metadata_db_refused(captured: Captured) -> Iterator[None]:
    """While the task runs: the metastore secrets backend says "not found" (recording the miss) and any
    other use of Airflow's metadata database fails before a connection is opened, naming the statement."""
    from airflow import settings
    from airflow.secrets.metastore import MetastoreBackend
    from sqlalchemy import event

    def no_connection(self: Any, conn_id: str, session: Any = None) -> None:
        captured.missing_connections.append(conn_id)
        return None

    def no_variable(self: Any, key: str, session: Any = None) -> None:
        captured.missing_variables.append(key)
        return None

    def refuse(*args: Any, **kwargs: Any) -> None:
        captured.unsupported.append("Airflow's metadata database")
        raise ZeroCodeUnsupportedError(
            "the task (or an Airflow API it called) tried to use Airflow's metadata database, which the "
            "zero-code runner does not provide; keep this task in Airflow or make it read what it needs from "
            "its context"
        )

    saved = (MetastoreBackend.get_connection, MetastoreBackend.get_variable)
    MetastoreBackend.get_connection = no_connection  # type: ignore[method-assign,assignment]
    MetastoreBackend.get_variable = no_variable  # type: ignore[method-assign,assignment]
    engine = settings.engine
    # do_connect runs before the DBAPI connects, so not even an empty SQLite file is created.
    if engine is not None:
        event.listen(engine, "do_connect", refuse)
    try:
        yield
    finally:
        MetastoreBackend.get_connection, MetastoreBackend.get_variable = saved  # type: ignore[method-assign]
        if engine is not None:
            event.remove(engine, "do_connect", refuse)
