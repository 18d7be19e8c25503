"""Run one Airflow task's original operator with Airflow 3's own task runner, without a metadata database.

Steps (:func:`run_task`):

1. check that the environment variables the payload names are set;
2. parse the DAG file the way an Airflow worker does (``BundleDagBag``, the DAGs folder on ``sys.path``)
   with ``proxying_to_dagster`` turned off, so the original task is in place;
3. refuse tasks zero-code does not run (:func:`~airlift_components.formats.zero_code_eligibility.classify_task`
   on the real class and its bases) and strip task callbacks (they fire once, in Airflow, on the proxy);
4. run the task with the Task SDK's in-process supervisor and an Execution-API stand-in
   (:mod:`.execution_api`): the DAG run's facts come from the payload, upstream XComs from Airflow's
   REST API, XCom writes and rendered fields are captured;
5. return a :class:`~airlift_components.formats.zero_code.ZeroCodeResult` with secrets removed from
   its error text.

On Airflow 2 :func:`run_task` hands the payload to :mod:`.runner_airflow2` (no Task SDK there).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any
from urllib.parse import quote

from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_TOKEN,
    RelayedXCom,
    ZeroCodePayload,
    ZeroCodeResult,
    connection_passwords,
)
from airlift_components.in_airflow.zero_code.airflow_rest import missing_connection_hint, rest_client
from airlift_components.in_airflow.zero_code.dag_file import original_task, parse_dag_file
from airlift_components.in_airflow.zero_code.errors import (
    ZeroCodeInputError,
    ZeroCodeUnsupportedError,
)

# Exceptions after which Airflow must not retry the task.
_NO_RETRY = {
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowTaskTerminated",
    "ZeroCodeUnsupportedError",
}
_STATE = {"success": "success", "skipped": "skipped"}


def run_task(payload: ZeroCodePayload) -> ZeroCodeResult:
    """Run the payload's task once and report what happened.

    A task that raises gives a ``failed`` result (with ``retryable`` False for ``AirflowFailException``);
    a task that cannot be run at all raises.

    Raises:
        ZeroCodeInputError: a missing env var, DAG file, DAG or task (the message names them).
        ZeroCodeRefusedError: the task's kind does not run zero-code (the message says why).
        ZeroCodeUnsupportedError: the task needs a feature the runner lacks.
    """
    if airflow_major_version() < 3:
        from airlift_components.in_airflow.zero_code.runner_airflow2 import run_task_airflow2

        return run_task_airflow2(payload)
    _require_env_vars(payload)
    secrets = _secret_values(payload)
    rest = rest_client("v2")
    if rest is not None:
        check_dag_source(payload, rest)
    task = load_task(payload)
    import httpx
    from airflow.sdk.api.client import Client
    from airflow.sdk.api.datamodels._generated import TaskInstance
    from airflow.sdk.execution_time.supervisor import run_task_in_process

    from airlift_components.in_airflow.zero_code.execution_api import ExecutionApiStandIn

    stand_in = ExecutionApiStandIn(payload, rest, max_tries=int(getattr(task, "retries", 0) or 0))
    client = Client(
        base_url="http://zero-code-runner.invalid/", token="", transport=httpx.MockTransport(stand_in)
    )
    ti = TaskInstance(
        id=uuid.uuid4(),
        task_id=payload.task_id,
        dag_id=payload.dag_id,
        run_id=payload.run_id,
        try_number=payload.try_number,
        map_index=payload.map_index,
        dag_version_id=uuid.uuid4(),
    )
    started = time.monotonic()
    outcome = run_task_in_process(ti=ti, task=task, client=client)
    duration = time.monotonic() - started
    captured = stand_in.captured
    state = _STATE.get(str(getattr(outcome.state, "value", outcome.state)), "failed")
    error, error_type = None, None
    if state == "failed":
        error_type = type(outcome.error).__name__ if outcome.error is not None else None
        error = _error_text(payload, outcome, captured)
    elif captured.unsupported:
        # The task survived a refused route (e.g. it caught the error): say so rather than pass silently.
        state, error_type = "failed", ZeroCodeUnsupportedError.__name__
        error = f"{payload.describe()}: needs {'; '.join(captured.unsupported)}"
    return ZeroCodeResult(
        state=state,  # type: ignore[arg-type]
        xcoms=tuple(RelayedXCom(x.key, x.value) for x in captured.xcoms) if state == "success" else (),
        rendered_fields=_redacted(captured.rendered_fields, secrets),
        error=_redacted(error, secrets) if error else None,
        error_type=error_type,
        retryable=error_type not in _NO_RETRY,
        duration_seconds=round(duration, 4),
    )


def refusal_result(error: Exception, payload: ZeroCodePayload | None = None) -> ZeroCodeResult:
    """The result written when the task could not be run at all (never retried: the input is wrong)."""
    secrets = _secret_values(payload) if payload is not None else []
    return ZeroCodeResult(
        state="failed",
        error=_redacted(str(error), secrets),
        error_type=type(error).__name__,
        retryable=False,
    )


def load_task(payload: ZeroCodePayload) -> Any:
    """Parse the payload's DAG file with proxying off and return the original task object.

    Raises:
        ZeroCodeInputError: the file does not exist or fails to import, or has no such DAG or task.
        ZeroCodeRefusedError: the task is not eligible for zero-code.
    """
    bag = parse_dag_file(payload, airflow_major=3)
    return original_task(payload, bag, airflow_major=3, no_callbacks=[])


def check_dag_source(payload: ZeroCodePayload, rest: Any) -> None:
    """Refuse to run when the DAG file differs from the source Airflow parsed for this task instance.

    Reads the task instance's DAG version and that version's source over REST (two requests) and compares
    it with the file on disk, so a DAG file changed mid-run is an error instead of silently running new
    code. A task instance Airflow does not know (a launch from Dagster alone) is not checked.

    Raises:
        ZeroCodeInputError: the file on disk is not the source of the run's DAG version.
    """
    from airlift_components.airflow_api.errors import AirflowNotFoundError

    dag, run, task = (quote(v, safe="") for v in (payload.dag_id, payload.run_id, payload.task_id))
    try:
        ti = rest.request("GET", f"/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}")
    except AirflowNotFoundError:
        return
    version = (ti.get("dag_version") or {}).get("version_number")
    if version is None or not payload.dag_path.is_file():
        return
    try:
        body = rest.request("GET", f"/api/v2/dagSources/{dag}", params={"version_number": version})
    except AirflowNotFoundError:
        return
    source = body.get("content") if isinstance(body, dict) else None
    if source is not None and source != payload.dag_path.read_text():
        raise ZeroCodeInputError(
            f"{payload.describe()}: DAG file {payload.dag_path} is not the code Airflow parsed for this run "
            f"(DAG version {version}); deploy the same DAG files to the runner's dags_folder, or retry once "
            "Airflow has parsed the new file"
        )


def airflow_major_version() -> int:
    """The major version of the Airflow installed in this environment (2 or 3)."""
    from importlib.metadata import version

    return int(version("apache-airflow").split(".")[0])


def _require_env_vars(payload: ZeroCodePayload) -> None:
    missing = [name for name in payload.env_vars if name not in os.environ]
    if missing:
        raise ZeroCodeInputError(
            f"{payload.describe()}: environment variable(s) {missing} are listed in the runner's env_vars but "
            "not set in its environment"
        )


def _error_text(payload: ZeroCodePayload, outcome: Any, captured: Any) -> str:
    error = outcome.error
    text = f"{type(error).__name__}: {error}" if error is not None else f"task ended in state {outcome.state}"
    hints = []
    for conn_id in dict.fromkeys(captured.missing_connections):
        hints.append(missing_connection_hint(conn_id, "v2"))
    for key in dict.fromkeys(captured.missing_variables):
        hints.append(
            f"Airflow Variable {key!r} is not available to the zero-code runner: set AIRFLOW_VAR_{key.upper()} "
            "(and list it in the runner's env_vars) or configure a secrets backend it can read"
        )
    if captured.unsupported:
        hints.append(
            "the task needs what the zero-code runner does not support: " + "; ".join(captured.unsupported)
        )
    return f"{payload.describe()} failed: {text}" + "".join(f"\n{hint}" for hint in hints)


def _secret_values(payload: ZeroCodePayload) -> list[str]:
    """Values that must never appear in a result: listed env vars, connection passwords, REST credentials."""
    values: list[str] = []
    for name in (*payload.env_vars, ENV_AIRFLOW_PASSWORD, ENV_AIRFLOW_TOKEN):
        value = os.environ.get(name)
        if not value:
            continue
        values.append(value)
        if name.startswith("AIRFLOW_CONN_"):
            values.extend(connection_passwords(value))
    for name, value in os.environ.items():
        if name.startswith("AIRFLOW_CONN_"):
            values.extend(connection_passwords(value))
    # Longest first, so a password inside a URI is replaced with the whole URI when both occur.
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, secrets) for item in value]
    return value
