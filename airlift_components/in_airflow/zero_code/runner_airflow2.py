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

import time
from typing import Any
from urllib.parse import quote

from airlift_components.formats.zero_code import (
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.in_airflow.zero_code.airflow2_stand_ins import (
    RETURN_KEY,
    Captured,
    RestRunHistory,
    RestXCom,
    metadata_db_refused,
)
from airlift_components.in_airflow.zero_code.airflow_rest import missing_connection_hint, rest_client
from airlift_components.in_airflow.zero_code.dag_file import original_task, parse_dag_file
from airlift_components.in_airflow.zero_code.errors import (
    ZeroCodeInputError,
    ZeroCodeUnsupportedError,
)

# Exceptions after which Airflow must not retry the task (as on the Airflow 3 path).
_NO_RETRY = {"AirflowFailException", "AirflowSensorTimeout", "ZeroCodeUnsupportedError"}


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
    rest = rest_client("v1")
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
    bag = parse_dag_file(payload, airflow_major=2)
    return original_task(payload, bag, airflow_major=2, no_callbacks=None)


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
            ti.xcom_push(key=RETURN_KEY, value=result)
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
    hints = [
        missing_connection_hint(conn_id, "v1") for conn_id in dict.fromkeys(captured.missing_connections)
    ]
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
