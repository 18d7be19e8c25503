"""Zero-code migration, run side: the body of a zero-code task asset.

One run of a zero-code asset (:func:`run_zero_code_task`):

1. reads the Airflow task instance from the proxy operator's run tags (``airlift/dag_id``,
   ``airlift/dag_run_id``, ``airlift/task_id``, ``airlift/try_number``, ``airlift/map_index``); a DAG
   proxy's run has no task id (the asset knows its task) and, for a DAG proxied as a whole, the XComs its
   upstream tasks pushed come from their result observations earlier in the same run (:func:`run_xcoms`);
2. reads the DAG run from Airflow (one REST request: conf, logical date, data interval, run type);
3. writes a :class:`~airlift_components.formats.zero_code.ZeroCodePayload` and starts the runner
   (``<python> -m airlift_components.in_airflow.zero_code payload.json result.json``) in its own process
   group, its output streamed line by line to the Dagster run's log with secret values masked; the
   group is killed when the step ends or the run is terminated (no orphan processes). With
   ``keep_warm_seconds`` > 0 (the default) the runner is forked by a warm server of that python
   (:func:`start_warm`; ``in_airflow/zero_code/warm.py``) that has imported Airflow already, else started cold;
4. emits an ``AssetObservation`` of the first target asset whose metadata
   ``conventions.ZERO_CODE_RESULT_METADATA_KEY`` is the result's JSON (the proxy relays it into Airflow),
   then: success -> a materialization per target asset; skipped -> none (the step succeeds);
   failed -> :class:`dagster.Failure` with the (masked) error and ``allow_retries=False`` (Airflow retries).

The runner's environment: this process's environment without the ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``
variables that ``env_vars`` does not name, a throwaway ``AIRFLOW_HOME`` (unless ``AIRFLOW_HOME`` is named),
and Airflow's REST credentials from the instance's resource as ``AIRLIFT_AIRFLOW_*``. Values never
enter the payload, tags, config or logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any, Protocol

import dagster as dg

from airlift_components.airflow_api import BasicAuthBackend, TokenAuthBackend
from airlift_components.conventions import (
    RUN_TAG_DAG_ID,
    RUN_TAG_DAG_RUN_ID,
    RUN_TAG_MAP_INDEX,
    RUN_TAG_TASK_ID,
    RUN_TAG_TRY_NUMBER,
    ZERO_CODE_RESULT_METADATA_KEY,
)
from airlift_components.core.resource import AirflowInstanceResource
from airlift_components.core.zero_code import ZeroCode
from airlift_components.core.zero_code_warm import WarmProcess, WarmRunner, start_warm
from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_TOKEN,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    ZeroCodeFormatError,
    ZeroCodePayload,
    ZeroCodeResult,
    connection_passwords,
)
from airlift_components.formats.zero_code_eligibility import KIND_EMPTY

RUNNER_MODULE = "airlift_components.in_airflow.zero_code"
# How long the runner's process group gets between SIGTERM and SIGKILL once the step ends.
KILL_GRACE_SECONDS = 5.0
_TAIL_LINES = 30


@dataclass(frozen=True)
class ZeroCodeTaskRun:
    """What a zero-code asset knows at definitions time about the task it runs."""

    instance_name: str
    dag_id: str
    task_id: str
    dag_fileloc: str | None
    keys: tuple[dg.AssetKey, ...]
    settings: ZeroCode
    # For a task of a DAG proxied as a whole: the DAG's other tasks -> their first asset key, whose
    # result observations in this run hold the XComs they pushed (empty for a task-level proxy).
    dag_tasks: Mapping[str, dg.AssetKey] = field(default_factory=dict)
    kind: str = ""  # the eligibility kind; "empty" (EmptyOperator) starts no runner

    @property
    def where(self) -> str:
        """``instance/dag_id.task_id``, for messages."""
        return f"{self.instance_name}/{self.dag_id}.{self.task_id}"


def run_zero_code_task(
    context: dg.AssetExecutionContext, task: ZeroCodeTaskRun, resource: AirflowInstanceResource
) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
    """Run the Airflow task of ``task`` for the Airflow task instance named by the run's tags.

    Cost: one REST request (the DAG run), plus the runner's own (upstream XCom reads, the DAG-source check).

    Raises:
        dagster.Failure: no Airflow run tags, bad settings, the runner wrote no result, or the task failed
            (``allow_retries=False``: Airflow owns retries).
    """
    # Checked first: a wrong path would otherwise surface as Popen's FileNotFoundError after a REST request.
    if task.kind != KIND_EMPTY and shutil.which(task.settings.python) is None:
        raise _failure(
            f"{task.where}: the zero-code runner python {task.settings.python!r} (zero_code runner.python in "
            "YAML, ZeroCode(python=...) in Python) is not an executable file on this machine; point it at "
            "the Python of the environment that has the DAGs' dependencies"
        )
    tags = context.run.tags
    # An empty task reads no XCom: no event-log query for it.
    wants_xcoms = bool(task.dag_tasks) and task.kind != KIND_EMPTY
    upstream = run_xcoms(context.instance, context.run_id, task) if wants_xcoms else {}
    pushed = sorted(task_id for task_id, xcoms in upstream.items() if xcoms)
    if pushed:
        context.log.info(f"{task.where}: XComs of {pushed} from this run's earlier steps")
    payload = build_payload(task, tags, resource, upstream_xcoms=upstream)
    if task.kind == KIND_EMPTY:
        # An EmptyOperator runs no code in Airflow either: nothing to start, the asset materializes.
        context.log.info(f"{payload.describe()}: an empty task (EmptyOperator); no runner is started")
        yield from _report(context, task, payload, ZeroCodeResult(state="success"))
        return
    env, secrets = runner_environment(task, resource)
    with tempfile.TemporaryDirectory(prefix="airlift-zero-code-") as work:
        payload_file, result_file = Path(work) / "payload.json", Path(work) / "result.json"
        payload.write(payload_file)
        if "AIRFLOW_HOME" not in task.settings.env_vars:
            env["AIRFLOW_HOME"] = str(Path(work) / "airflow_home")
        command = [task.settings.python, "-m", RUNNER_MODULE, str(payload_file), str(result_file)]
        context.log.info(f"{payload.describe()}: starting the zero-code runner ({task.settings.python})")
        # Named env vars (secrets) reach the task only through its request; Airflow's config stays the server's.
        per_run = {name for name in task.settings.env_vars if not name.startswith("AIRFLOW_")}
        if "AIRFLOW_HOME" not in task.settings.env_vars:
            per_run.add("AIRFLOW_HOME")  # the throwaway home of this run
        warm = WarmRunner(
            keep_warm_seconds=task.settings.keep_warm_seconds, per_run_env=tuple(sorted(per_run))
        )
        code, tail = run_process(command, env=env, cwd=work, log=context.log, secrets=secrets, warm=warm)
        result = _read_result(task, result_file, code, tail)
    yield from _report(context, task, payload, result)


def _report(
    context: dg.AssetExecutionContext, task: ZeroCodeTaskRun, payload: ZeroCodePayload, result: ZeroCodeResult
) -> Iterator[dg.AssetObservation | dg.MaterializeResult]:
    """The result observation (every outcome), then the materializations (success) or the failure."""
    partition = context.partition_key if context.has_partition_key else None
    # Yielded, not context.log_event: logged events are flushed with the next yield, and a failure has none.
    yield dg.AssetObservation(
        asset_key=task.keys[0],
        metadata={ZERO_CODE_RESULT_METADATA_KEY: json.dumps(result.to_json(), default=str)},
        partition=partition,
    )
    if result.state == "success":
        xcom_keys = sorted({xcom.key for xcom in result.xcoms})
        for key in task.keys:
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "Airflow run": payload.run_id,
                    "Airflow try": payload.try_number,
                    "duration_seconds": result.duration_seconds,
                    "XCom keys": ", ".join(xcom_keys) or "none",
                },
            )
    elif result.state == "skipped":
        context.log.info(f"{payload.describe()}: skipped; nothing is materialized")
    else:
        raise dg.Failure(
            description=result.error or f"{payload.describe()} failed ({result.error_type})",
            metadata={"error_type": result.error_type or "unknown", "retryable in Airflow": result.retryable},
            allow_retries=False,
        )


def run_xcoms(instance: dg.DagsterInstance, run_id: str, task: ZeroCodeTaskRun) -> dict[str, dict[str, Any]]:
    """``task_id -> key -> value`` of the XComs that the DAG's other tasks pushed earlier in this Dagster
    run (a DAG proxied as a whole), from their result observations in the run's event log.

    Every task of the DAG is answered from this run, an empty mapping for one that has not run, was skipped
    or pushed nothing (Airflow never runs these tasks, so asking its REST API could only give None, and
    fails where the runner has no REST credentials).

    Cost: one event-log query for the run's observations.
    """
    task_of = {key: task_id for task_id, key in task.dag_tasks.items()}
    found: dict[str, dict[str, Any]] = {task_id: {} for task_id in task.dag_tasks}
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION).records
    for record in records:
        event = record.event_log_entry.dagster_event
        observation = event.asset_observation_data.asset_observation if event is not None else None
        if observation is None or observation.asset_key not in task_of:
            continue
        raw = observation.metadata.get(ZERO_CODE_RESULT_METADATA_KEY)
        if raw is None:
            continue
        where = f"{task.where}: the result of {task_of[observation.asset_key]} in this run"
        try:
            result = ZeroCodeResult.from_json(json.loads(str(getattr(raw, "value", raw))), where=where)
        except ValueError as exc:  # invalid JSON or a ZeroCodeFormatError
            raise _failure(f"{where} cannot be read: {exc}") from None
        # In push order, so the last push of a key wins, as in Airflow.
        found[task_of[observation.asset_key]] = {xcom.key: xcom.value for xcom in result.xcoms}
    return found


def build_payload(
    task: ZeroCodeTaskRun,
    tags: Mapping[str, str],
    resource: AirflowInstanceResource,
    *,
    upstream_xcoms: Mapping[str, Mapping[str, Any]] | None = None,
) -> ZeroCodePayload:
    """The payload for the Airflow task instance the run's tags name (one REST request for its DAG run).

    A DAG-level run has no task id tag: the task is this asset's. ``upstream_xcoms``: see
    :func:`run_xcoms`.

    Raises:
        dagster.Failure: the tags are missing or name another DAG or task; the DAG file cannot be found.
    """
    run_id = tags.get(RUN_TAG_DAG_RUN_ID)
    if not run_id:
        raise _failure(
            f"{task.where}: this run has no Airflow run tags ({RUN_TAG_DAG_ID}, {RUN_TAG_DAG_RUN_ID}); a "
            "zero-code asset runs for a proxied Airflow task, whose proxy operator launches it with those "
            "tags. Launching it from Dagster alone is not supported yet."
        )
    for tag, expected in ((RUN_TAG_DAG_ID, task.dag_id), (RUN_TAG_TASK_ID, task.task_id)):
        given = tags.get(tag)
        if given is not None and given != expected:
            raise _failure(f"{task.where}: run tag {tag}={given!r} names another task than this asset's")
    try_number = _int_tag(task, tags, RUN_TAG_TRY_NUMBER, 1)
    map_index = _int_tag(task, tags, RUN_TAG_MAP_INDEX, -1)
    dag_run = resource.get_client().get_dag_run(task.dag_id, run_id)
    dags_folder, dag_file = dag_location(task)

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return ZeroCodePayload(
        instance_name=task.instance_name,
        dag_id=task.dag_id,
        task_id=task.task_id,
        run_id=run_id,
        logical_date=iso(dag_run.logical_date),
        data_interval_start=iso(dag_run.data_interval_start),
        data_interval_end=iso(dag_run.data_interval_end),
        run_after=iso(dag_run.run_after),
        run_type=dag_run.run_type or "manual",
        try_number=try_number,
        map_index=map_index,
        conf=dag_run.conf or {},
        dags_folder=dags_folder,
        dag_file=dag_file,
        env_vars=task.settings.env_vars,
        upstream_xcoms=dict(upstream_xcoms or {}),
    )


def dag_location(task: ZeroCodeTaskRun) -> tuple[str, str]:
    """``(dags_folder, dag_file)`` for the runner.

    Without ``dags_folder`` the DAG file is Airflow's ``fileloc`` and its folder is the DAGs folder. With
    it, the DAG file is the longest trailing part of ``fileloc`` that exists under ``dags_folder`` (so
    ``/opt/airflow/dags/sales/orders.py`` is found as ``sales/orders.py`` in a folder mounted elsewhere).
    """
    fileloc = task.dag_fileloc
    if not fileloc:
        raise _failure(
            f"{task.where}: Airflow reported no file for DAG {task.dag_id!r}; set zero_code runner dags_folder"
        )
    if task.settings.dags_folder is None:
        return str(PurePath(fileloc).parent), fileloc
    folder = Path(task.settings.dags_folder)
    parts = PurePath(fileloc).parts
    for start in range(1, len(parts)):
        candidate = PurePath(*parts[start:])
        if (folder / candidate).is_file():
            return str(folder), str(candidate)
    raise _failure(
        f"{task.where}: DAG file {fileloc} (as Airflow reports it) is not under the runner's dags_folder "
        f"{folder}; deploy the DAG files there or fix dags_folder"
    )


def runner_environment(
    task: ZeroCodeTaskRun, resource: AirflowInstanceResource
) -> tuple[dict[str, str], list[str]]:
    """The runner's environment and the secret values to mask in its output.

    Raises:
        dagster.Failure: a variable named in ``env_vars`` is not set in this process.
    """
    named = set(task.settings.env_vars)
    missing = sorted(name for name in named if name not in os.environ)
    if missing:
        raise _failure(
            f"{task.where}: environment variable(s) {missing} are named in zero_code env_vars but not set in "
            "the Dagster process that runs this asset"
        )
    env = {
        name: value
        for name, value in os.environ.items()
        if name in named or not name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRLIFT_AIRFLOW_"))
    }
    secrets = [os.environ[name] for name in named if name != "AIRFLOW_HOME"]
    for name in named:
        if name.startswith("AIRFLOW_CONN_"):
            secrets.extend(connection_passwords(os.environ[name]))
    credentials = rest_credentials(resource)
    env.update(credentials)
    secrets.extend(
        credentials[name] for name in (ENV_AIRFLOW_PASSWORD, ENV_AIRFLOW_TOKEN) if name in credentials
    )
    return env, sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)


def rest_credentials(resource: AirflowInstanceResource) -> dict[str, str]:
    """``AIRLIFT_AIRFLOW_*`` for the runner from the instance's auth (basic or token); empty for other auth
    types (the runner then cannot read upstream XComs, and a task that does fails naming the variables)."""
    backend = resource.get_client().auth_backend
    url = backend.get_webserver_url().rstrip("/")
    # The backends keep their secret in a private attribute so it is not shown by accident.
    if isinstance(backend, BasicAuthBackend):
        return {
            ENV_AIRFLOW_URL: url,
            ENV_AIRFLOW_USERNAME: backend.username,
            ENV_AIRFLOW_PASSWORD: str(getattr(backend, "_password", "")),
        }
    if isinstance(backend, TokenAuthBackend):
        return {ENV_AIRFLOW_URL: url, ENV_AIRFLOW_TOKEN: str(getattr(backend, "_token", ""))}
    return {}


# --- The warm runner: a per-machine fork server that has imported Airflow (in_airflow/zero_code/warm.py) ---


class RunnerProcess(Protocol):
    """What :func:`run_process` needs of the runner: a cold ``Popen`` or a :class:`WarmProcess`."""

    pid: int
    returncode: int | None
    stdout: IO[str] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def run_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    log: Any,
    secrets: Sequence[str],
    warm: WarmRunner | None = None,
) -> tuple[int, list[str]]:
    """Run ``command`` in a new process group, logging each output line (secrets masked) as it comes.

    With ``warm`` (and ``command`` the runner's), the process is forked by a warm server of the command's
    python (:func:`start_warm`) when one can be reached or started, else started cold.
    The group is sent SIGTERM, then SIGKILL after :data:`KILL_GRACE_SECONDS`, whenever this returns or
    raises (a terminated Dagster run raises here), so neither the runner nor a process its task started
    outlives the step. Returns the exit code and the last output lines.
    """
    proc: RunnerProcess | None = None
    if warm is not None and warm.keep_warm_seconds > 0 and list(command[1:3]) == ["-m", RUNNER_MODULE]:
        proc = start_warm(command[0], command[3:], env=env, cwd=cwd, warm=warm, log=log)
    if proc is None:
        proc = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    try:
        return _follow(proc, log=log, secrets=secrets)
    finally:
        if isinstance(proc, WarmProcess):
            proc.close()


def _follow(proc: RunnerProcess, *, log: Any, secrets: Sequence[str]) -> tuple[int, list[str]]:
    lines: queue.Queue[str | None] = queue.Queue()
    tail: deque[str] = deque(maxlen=_TAIL_LINES)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, name=f"zero-code-output-{proc.pid}", daemon=True)
    reader.start()

    def drain(wait: float) -> bool:
        """Log what has arrived (waiting up to ``wait`` for a line); False once the output has ended."""
        try:
            line = lines.get(timeout=wait)
        except queue.Empty:
            return True
        while line is not None:
            masked = mask(line, secrets)
            tail.append(masked)
            log.info(masked)
            try:
                line = lines.get_nowait()
            except queue.Empty:
                return True
        return False

    try:
        open_output = True
        while proc.poll() is None:
            open_output = drain(0.2) if open_output else (time.sleep(0.2) or False)
        # The output may outlive the runner when its task left a child holding the pipe.
        deadline = time.monotonic() + 1.0
        while open_output and time.monotonic() < deadline:
            open_output = drain(0.1)
    finally:
        kill_process_group(proc)
        reader.join(timeout=KILL_GRACE_SECONDS)
        with contextlib.suppress(queue.Empty):
            while (line := lines.get_nowait()) is not None:
                tail.append(mask(line, secrets))
                log.info(tail[-1])
    return int(proc.returncode if proc.returncode is not None else -1), list(tail)


def kill_process_group(proc: RunnerProcess) -> None:
    """SIGTERM the process group of ``proc`` (its leader started it), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(proc):
            time.sleep(0.1)
        if not _group_alive(proc):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_SECONDS)


def _group_alive(proc: RunnerProcess) -> bool:
    proc.poll()  # reap the leader, so only live members keep the group
    try:
        os.killpg(proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first)."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _read_result(task: ZeroCodeTaskRun, result_file: Path, code: int, tail: list[str]) -> ZeroCodeResult:
    try:
        return ZeroCodeResult.read(result_file)
    except ZeroCodeFormatError as error:
        output = "\n".join(tail[-10:])
        raise _failure(
            f"{task.where}: the zero-code runner exited with code {code} and left no usable result ({error}). "
            f"Is airlift-components[in-airflow] installed for {task.settings.python}? Last output:\n{output}"
        ) from None


def _int_tag(task: ZeroCodeTaskRun, tags: Mapping[str, str], name: str, default: int) -> int:
    raw = tags.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _failure(f"{task.where}: run tag {name}={raw!r} is not an integer") from None


def _failure(message: str) -> dg.Failure:
    return dg.Failure(description=message, allow_retries=False)
