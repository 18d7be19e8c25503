"""Run one Airflow 2 task's original operator without a metadata database (Airflow 2.11's subset).

Airflow 2 has no Task SDK, so this path does what an Airflow 2 worker does around ``execute``, with every
database read replaced (:func:`run_task_airflow2`):

1. check the payload's env vars; parse the DAG file with ``DagBag`` and proxying off (the DAGs folder on
   ``sys.path``, as a worker has it); refuse what is not Python, Bash or SQL on Airflow 2;
2. build the task's context with Airflow's own ``_get_template_context`` on a task instance and DAG run
   that live only in memory: the run's facts come from the payload, ``prev_*_success`` from REST v1,
   ``ti.xcom_pull`` from ``payload.upstream_xcoms`` then REST v1, ``ti.xcom_push`` is captured;
3. ``render_template_fields``, then ``execute`` (with ``execution_timeout``), and push the return value
   (and ``multiple_outputs`` keys) as Airflow's worker does;
4. map the outcome to the same :class:`~airlift_components.formats.zero_code.ZeroCodeResult` as the
   Airflow 3 path (skip, fail without retry, failure).

Connections and variables come from the environment (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``) and any
configured secrets backend; the metastore backend answers "not found" and records the miss, so the error
names the conn_id and how to provide it. Any other metadata-DB access is refused before a connection is
opened (no SQLite file is ever created) and fails the task naming what was attempted.

Cost: two REST requests to check the DAG file against Airflow's parsed source, one per upstream XCom
read, one for the previous successful run (the context reads it eagerly, as Airflow 2 does).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_TOKEN,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    RelayedXCom,
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.formats.zero_code_eligibility import classify_task
from airlift_components.in_airflow.zero_code.errors import (
    ZeroCodeInputError,
    ZeroCodeRefusedError,
    ZeroCodeUnsupportedError,
)

_RETURN_KEY = "return_value"
# Airflow 2's DagBag imports a DAG file under a mangled module name; messages show the file's own name.
_MANGLED_MODULE = re.compile(r"^unusual_prefix_[0-9a-f]+_")
# Exceptions after which Airflow must not retry the task (as on the Airflow 3 path).
_NO_RETRY = {"AirflowFailException", "AirflowSensorTimeout", "ZeroCodeUnsupportedError"}
_CALLBACKS = (
    "on_execute_callback",
    "on_failure_callback",
    "on_success_callback",
    "on_retry_callback",
    "on_skipped_callback",
)


@dataclass
class Captured:
    """What the task asked of Airflow while it ran: pushed XComs, misses and refused features."""

    xcoms: list[RelayedXCom] = field(default_factory=list)
    missing_connections: list[str] = field(default_factory=list)
    missing_variables: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def run_task_airflow2(payload: ZeroCodePayload) -> ZeroCodeResult:
    """Run the payload's task once on Airflow 2 and report what happened (no metadata database).

    A task that raises gives a ``failed`` result (``retryable`` False after ``AirflowFailException``);
    ``AirflowSkipException`` (and ``skip_on_exit_code``) gives ``skipped``.

    Raises:
        ZeroCodeInputError: a missing env var, DAG file, DAG or task, or a payload without logical date.
        ZeroCodeRefusedError: the task's kind does not run zero-code on Airflow 2 (the message says why).
    """
    from airlift_components.in_airflow.zero_code import runner

    runner._require_env_vars(payload)
    secrets = runner._secret_values(payload)
    if payload.logical_date is None:
        raise ZeroCodeInputError(
            f"{payload.describe()}: logical_date is required on Airflow 2 (every run has one)"
        )
    rest = rest_client_v1()
    if rest is not None:
        check_dag_source_airflow2(payload, rest)
    captured = Captured()
    with metadata_db_refused(captured):
        # As Airflow's worker does: a copy locked for execution (no upstream re-wiring on assignment).
        task = load_task_airflow2(payload).prepare_for_execution()
        started = time.monotonic()
        error: BaseException | None = None
        rendered: dict[str, Any] = {}
        try:
            context = template_context(payload, task, rest, captured)
            task.render_template_fields(context)
            rendered = rendered_fields(task)
            _execute(task, context)
        except Exception as exc:  # noqa: BLE001 - the task's own failure becomes the result
            error = exc
        duration = time.monotonic() - started
    state, error_text, error_type = _outcome(payload, error, captured)
    return ZeroCodeResult(
        state=state,  # type: ignore[arg-type]
        xcoms=tuple(captured.xcoms) if state == "success" else (),
        rendered_fields=runner._redacted(rendered, secrets),
        error=runner._redacted(error_text, secrets) if error_text else None,
        error_type=error_type,
        retryable=error_type not in _NO_RETRY,
        duration_seconds=round(duration, 4),
    )


def load_task_airflow2(payload: ZeroCodePayload) -> Any:
    """Parse the payload's DAG file with ``DagBag`` and proxying off; return the original task.

    Raises:
        ZeroCodeInputError: the file does not exist or fails to import, or has no such DAG or task.
        ZeroCodeRefusedError: the task is not eligible for zero-code on Airflow 2.
    """
    from airlift_components.in_airflow.zero_code.runner import _is_mapped, proxying_disabled

    dag_path = payload.dag_path
    if not dag_path.is_file():
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG file {dag_path} does not exist (dags_folder {payload.dags_folder!r}, "
            f"dag_file {payload.dag_file!r})"
        )
    from airflow.models.dagbag import DagBag

    # An Airflow 2 worker has its DAGs folder on sys.path (helper modules next to the DAG files).
    if payload.dags_folder not in sys.path:
        sys.path.insert(0, payload.dags_folder)
    with proxying_disabled():
        bag = DagBag(
            dag_folder=str(dag_path),
            include_examples=False,
            safe_mode=False,
            read_dags_from_db=False,
            load_op_links=False,
        )
    if bag.import_errors:
        details = "; ".join(
            f"{file}: {text.strip().splitlines()[-1]}" for file, text in bag.import_errors.items()
        )
        raise ZeroCodeInputError(f"{payload.describe()}: DAG file {dag_path} failed to import: {details}")
    dag = bag.dags.get(payload.dag_id)
    if dag is None:
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG {payload.dag_id!r} is not defined in {dag_path} "
            f"(it defines: {sorted(bag.dags)})"
        )
    task = dag.task_dict.get(payload.task_id)
    if task is None:
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG {payload.dag_id!r} has no task {payload.task_id!r} "
            f"(its tasks: {sorted(dag.task_dict)})"
        )
    cls = type(task)
    verdict = classify_task(
        operator_class=cls.__name__,
        operator_module=_MANGLED_MODULE.sub("", cls.__module__),
        is_mapped=_is_mapped(task),
        deferrable=bool(getattr(task, "deferrable", False)),
        base_classes=[f"{base.__module__}.{base.__name__}" for base in cls.__mro__[1:]],
        airflow_major=2,
    )
    if not verdict.eligible:
        raise ZeroCodeRefusedError(
            verdict.message(
                instance_name=payload.instance_name or "airflow", dag_id=dag.dag_id, task_id=task.task_id
            )
        )
    if payload.map_index != -1:
        raise ZeroCodeRefusedError(
            f"{payload.describe()}: map_index {payload.map_index} given for an unmapped task"
        )
    for name in _CALLBACKS:
        # Callbacks fire once, in Airflow, on the proxy task.
        if hasattr(task, name):
            setattr(task, name, None)
    for name in ("email_on_failure", "email_on_retry"):
        if hasattr(task, name):
            setattr(task, name, False)
    return task


def check_dag_source_airflow2(payload: ZeroCodePayload, rest: Any) -> None:
    """Refuse to run when the DAG file differs from the source Airflow 2 last parsed for the DAG.

    Airflow 2 keeps no DAG versions: its workers run the file on their disk, and ``dagSources`` holds the
    scheduler's latest parse. A mismatch means the runner's ``dags_folder`` is not Airflow's code (or a
    new file is not parsed yet). Cost: two requests (the DAG's file token, then its source).

    Raises:
        ZeroCodeInputError: the file on disk is not the source Airflow parsed.
    """
    from airlift_components.airflow_api.errors import AirflowNotFoundError

    if not payload.dag_path.is_file():
        return
    try:
        dag = rest.request("GET", f"/api/v1/dags/{quote(payload.dag_id, safe='')}")
        body = rest.request(
            "GET", f"/api/v1/dagSources/{dag['file_token']}", headers={"Accept": "application/json"}
        )
    except (AirflowNotFoundError, KeyError):
        return  # a DAG Airflow does not know (a launch from Dagster alone) is not checked
    source = body.get("content") if isinstance(body, dict) else None
    if source is not None and source != payload.dag_path.read_text():
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG file {payload.dag_path} is not the code Airflow parsed for this DAG; "
            "deploy the same DAG files to the runner's dags_folder, or retry once Airflow has parsed the new file"
        )


def template_context(payload: ZeroCodePayload, task: Any, rest: Any, captured: Captured) -> Any:
    """The context Airflow 2.11's worker gives ``task``, built by Airflow's own code on an in-memory run.

    ``dag_run`` and ``ti`` are transient ORM objects never added to a session; the methods that would
    query the database (previous runs, XCom) are replaced on the instance by REST-backed ones.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, _get_template_context
    from airflow.utils import timezone
    from sqlalchemy.orm.attributes import set_committed_value

    dag = task.dag
    logical_date = timezone.parse(payload.logical_date)
    start = timezone.parse(payload.data_interval_start) if payload.data_interval_start else logical_date
    end = timezone.parse(payload.data_interval_end) if payload.data_interval_end else logical_date
    dag_run = DagRun(
        dag_id=payload.dag_id,
        run_id=payload.run_id,
        execution_date=logical_date,
        start_date=timezone.utcnow(),
        external_trigger=payload.run_type == "manual",
        conf=dict(payload.conf),
        state="running",
        run_type=payload.run_type,
        data_interval=(start, end),
    )
    dag_run.dag = dag
    ti = TaskInstance(task, run_id=payload.run_id, map_index=payload.map_index)
    set_committed_value(ti, "dag_run", dag_run)
    ti.try_number = payload.try_number
    ti.max_tries = int(task.retries or 0)
    ti.state = "running"
    ti.start_date = timezone.utcnow()
    ti.hostname = "zero-code-runner"
    xcom = RestXCom(payload, rest, captured)
    ti.xcom_pull = xcom.pull
    ti.xcom_push = xcom.push
    history = RestRunHistory(payload, rest)
    ti.get_previous_dagrun = history.previous_dag_run
    ti.get_previous_execution_date = history.previous_execution_date
    ti.get_previous_start_date = history.previous_start_date
    ti.get_relevant_upstream_map_indexes = lambda *args, **kwargs: None
    return _get_template_context(task_instance=ti, dag=dag)


def rendered_fields(task: Any) -> dict[str, Any]:
    """The task's rendered template fields as Airflow 2 stores them (``RenderedTaskInstanceFields``)."""
    from airflow.serialization.helpers import serialize_template_field
    from airflow.utils.log.secrets_masker import redact

    return {
        name: redact(serialize_template_field(getattr(task, name), name), name)
        for name in task.template_fields
    }


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
        key: str = _RETURN_KEY,
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


def rest_client_v1() -> Any:
    """A client for Airflow 2's REST API v1 from the ``AIRLIFT_AIRFLOW_*`` env vars, or None when unset."""
    import os

    url = os.environ.get(ENV_AIRFLOW_URL)
    if not url:
        return None
    from airlift_components.airflow_api import AirflowClient, BasicAuthBackend, TokenAuthBackend

    token = os.environ.get(ENV_AIRFLOW_TOKEN)
    if token:
        backend: Any = TokenAuthBackend(url, token)
    else:
        username, password = os.environ.get(ENV_AIRFLOW_USERNAME), os.environ.get(ENV_AIRFLOW_PASSWORD)
        if not username or not password:
            raise ZeroCodeInputError(
                f"{ENV_AIRFLOW_URL} is set but neither {ENV_AIRFLOW_TOKEN} nor both {ENV_AIRFLOW_USERNAME} and "
                f"{ENV_AIRFLOW_PASSWORD} are"
            )
        backend = BasicAuthBackend(url, username, password)
    return AirflowClient(backend, name="zero-code runner", api_version="v1", timeout=30.0)


def _execute(task: Any, context: Any) -> None:
    """``execute`` as Airflow 2's worker calls it: current context set, ``execution_timeout`` enforced,
    the return value (and ``multiple_outputs`` keys) pushed as XCom."""
    from airflow.exceptions import AirflowException, AirflowTaskTimeout
    from airflow.models.base import _sentinel
    from airflow.models.taskinstance import set_current_context
    from airflow.utils.operator_helpers import ExecutionCallableRunner
    from airflow.utils.timeout import timeout

    ti = context["ti"]
    # The sentinel tells Airflow's ExecutorSafeguard that a worker, not user code, calls execute.
    kwargs = {f"{type(task).__name__}__sentinel": _sentinel}

    def call() -> Any:
        from airflow.models.taskinstance import context_get_outlet_events

        try:
            return ExecutionCallableRunner(
                task.execute, context_get_outlet_events(context), logger=task.log
            ).run(context=context, **kwargs)
        except SystemExit as exit_:
            if exit_.code is not None and exit_.code != 0:
                raise
            return None

    with set_current_context(context):
        task.pre_execute(context=context)
        if task.execution_timeout:
            try:
                with timeout(task.execution_timeout.total_seconds()):
                    result = call()
            except AirflowTaskTimeout:
                task.on_kill()
                raise
        else:
            result = call()
        if task.do_xcom_push and result is not None:
            if task.multiple_outputs:
                if not isinstance(result, dict) or not all(isinstance(key, str) for key in result):
                    raise AirflowException(
                        f"Returned output was type {type(result)}; multiple_outputs expects a dict with str keys"
                    )
                for key, value in result.items():
                    ti.xcom_push(key=key, value=value)
            ti.xcom_push(key=_RETURN_KEY, value=result)
        task.post_execute(context=context, result=result)


def _outcome(
    payload: ZeroCodePayload, error: BaseException | None, captured: Captured
) -> tuple[str, str | None, str | None]:
    from airflow.exceptions import AirflowSkipException

    if error is None:
        if captured.unsupported:
            # The task survived a refused feature (it caught the error): say so rather than pass silently.
            return (
                "failed",
                f"{payload.describe()}: needs {'; '.join(captured.unsupported)}",
                ZeroCodeUnsupportedError.__name__,
            )
        return "success", None, None
    if isinstance(error, AirflowSkipException):
        return "skipped", None, None
    hints = [_missing_connection_hint(conn_id) for conn_id in dict.fromkeys(captured.missing_connections)]
    for key in dict.fromkeys(captured.missing_variables):
        hints.append(
            f"Airflow Variable {key!r} is not available to the zero-code runner: set AIRFLOW_VAR_{key.upper()} "
            "(and list it in the runner's env_vars) or configure a secrets backend it can read"
        )
    error_type = type(error).__name__
    if captured.unsupported and not isinstance(error, ZeroCodeUnsupportedError):
        hints.append(
            "the task needs what the zero-code runner does not support: " + "; ".join(captured.unsupported)
        )
    text = f"{payload.describe()} failed: {error_type}: {error}" + "".join(f"\n{hint}" for hint in hints)
    return "failed", text, error_type


def _missing_connection_hint(conn_id: str) -> str:
    where = "is not in the runner's environment or a secrets backend it can read"
    rest = rest_client_v1()
    if rest is not None:
        # Say whether Airflow has it in its metadata database: its password cannot be read over REST.
        with contextlib.suppress(Exception):
            rest.request("GET", f"/api/v1/connections/{quote(conn_id, safe='')}")
            where = (
                "exists only in Airflow's metadata database, which the zero-code runner cannot read "
                "(the REST API redacts passwords)"
            )
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    return (
        f"connection {conn_id!r} {where}: provide it as the environment variable {env_name} (a connection URI "
        f"or JSON) in the runner's environment and list {env_name} in the runner's env_vars, or use a secrets "
        "backend both Airflow and the runner read"
    )
