"""What the Dagster side hands the zero-code runner, and what the runner hands back.

The runner (``python -m airlift_components.in_airflow.zero_code <payload.json> <result.json>``) runs one
Airflow task's original operator inside Airflow's environment. Two JSON files cross the boundary:

- :class:`ZeroCodePayload`: which task of which DAG run to execute, and the DAG run's facts (logical
  date, data interval, ``conf``). Written by the Dagster side (:meth:`ZeroCodePayload.write`), read by the
  runner (:meth:`ZeroCodePayload.read`).
- :class:`ZeroCodeResult`: the task's outcome, the XComs it pushed, its rendered template fields and an
  error text with secrets removed. Written by the runner (:meth:`ZeroCodeResult.write`), read by the
  Dagster side (:meth:`ZeroCodeResult.read`).

Example payload::

    {"format": 1, "instance_name": "my_airflow", "dag_id": "orders", "task_id": "load",
     "run_id": "scheduled__2024-03-05T00:00:00+00:00", "logical_date": "2024-03-05T00:00:00+00:00",
     "data_interval_start": "2024-03-05T00:00:00+00:00", "data_interval_end": "2024-03-06T00:00:00+00:00",
     "run_after": "2024-03-06T00:00:00+00:00", "run_type": "scheduled", "try_number": 1, "map_index": -1,
     "conf": {}, "dags_folder": "/opt/airflow/dags", "dag_file": "orders.py",
     "env_vars": ["AIRFLOW_CONN_WAREHOUSE"]}

Secrets never travel in these files: the payload names environment variables (their values reach the
runner's environment only), and Airflow's REST API credentials come from the ``ENV_AIRFLOW_*``
variables below. This module imports neither dagster nor airflow, so both sides use it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

FORMAT_VERSION = 1

# Environment variables the runner reads to reach Airflow's REST API (upstream XCom reads, facts
# about connections); their values are never written to the payload, the result or a log line.
ENV_AIRFLOW_URL = "AIRLIFT_AIRFLOW_URL"
ENV_AIRFLOW_USERNAME = "AIRLIFT_AIRFLOW_USERNAME"
ENV_AIRFLOW_PASSWORD = "AIRLIFT_AIRFLOW_PASSWORD"
ENV_AIRFLOW_TOKEN = "AIRLIFT_AIRFLOW_TOKEN"  # a bearer token instead of username/password

TaskOutcome = Literal["success", "skipped", "failed"]
TASK_OUTCOMES: tuple[str, ...] = ("success", "skipped", "failed")


class ZeroCodeFormatError(ValueError):
    """A payload or result file is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class ZeroCodePayload:
    """One task instance for the runner to execute, with the facts of its DAG run.

    Attributes:
        instance_name: the Dagster-side name of the Airflow instance (for messages).
        dag_id / task_id / run_id: the Airflow task instance to execute.
        logical_date: ISO timestamp, or None for an Airflow 3 run triggered without one.
        data_interval_start / data_interval_end: ISO timestamps, or None (then ``logical_date`` is used
            for both, as Airflow does for a run with no interval).
        run_after: ISO timestamp the run was due (defaults to ``data_interval_end`` / ``logical_date``).
        run_type: ``scheduled``, ``manual``, ``backfill`` or ``asset_triggered``.
        try_number: the Airflow try this execution stands for (1 for the first).
        map_index: -1 for an unmapped task (mapped tasks are refused).
        conf: the DAG run's ``conf`` (overrides ``params`` in templates, as in Airflow).
        dags_folder: the folder the DAG files live in (put on ``sys.path``, like Airflow does).
        dag_file: the DAG file, absolute or relative to ``dags_folder``.
        env_vars: names of environment variables the task needs (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``,
            ...); the runner fails fast, naming them, when one is missing.
        upstream_xcoms: ``task_id -> key -> value`` pushed by tasks of the same DAG run that ran earlier in
            the same Dagster run (a DAG proxied as a whole); the runner answers ``xcom_pull`` for these
            task ids from here, not from Airflow (where they were never pushed). Empty for a task proxy.
    """

    dag_id: str
    task_id: str
    run_id: str
    dags_folder: str
    dag_file: str
    instance_name: str = ""
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    run_after: str | None = None
    run_type: str = "manual"
    try_number: int = 1
    map_index: int = -1
    conf: Mapping[str, Any] = field(default_factory=dict)
    env_vars: tuple[str, ...] = ()
    upstream_xcoms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def dag_path(self) -> Path:
        """The DAG file as an absolute path."""
        path = Path(self.dag_file)
        return path if path.is_absolute() else Path(self.dags_folder) / path

    def describe(self) -> str:
        """``instance/dag_id.task_id run run_id try n``, for messages."""
        where = f"{self.instance_name}/" if self.instance_name else ""
        return f"{where}{self.dag_id}.{self.task_id} (run {self.run_id!r}, try {self.try_number})"

    def to_json(self) -> dict[str, Any]:
        """The JSON body of a payload file."""
        return {
            "format": FORMAT_VERSION,
            "instance_name": self.instance_name,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "logical_date": self.logical_date,
            "data_interval_start": self.data_interval_start,
            "data_interval_end": self.data_interval_end,
            "run_after": self.run_after,
            "run_type": self.run_type,
            "try_number": self.try_number,
            "map_index": self.map_index,
            "conf": dict(self.conf),
            "dags_folder": self.dags_folder,
            "dag_file": self.dag_file,
            "env_vars": list(self.env_vars),
            "upstream_xcoms": {task_id: dict(xcoms) for task_id, xcoms in self.upstream_xcoms.items()},
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the payload file (the one writer: the Dagster side)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def from_json(cls, body: Any, *, where: str = "payload") -> ZeroCodePayload:
        """Parse a decoded payload; errors name ``where`` and the field."""
        fields = _Fields(body, where, "payload")
        fields.check_format()
        payload = cls(
            instance_name=fields.string("instance_name", default=""),
            dag_id=fields.string("dag_id"),
            task_id=fields.string("task_id"),
            run_id=fields.string("run_id"),
            logical_date=fields.timestamp("logical_date"),
            data_interval_start=fields.timestamp("data_interval_start"),
            data_interval_end=fields.timestamp("data_interval_end"),
            run_after=fields.timestamp("run_after"),
            run_type=fields.string("run_type", default="manual"),
            try_number=fields.integer("try_number", default=1, minimum=1),
            map_index=fields.integer("map_index", default=-1, minimum=-1),
            conf=fields.mapping("conf"),
            dags_folder=fields.string("dags_folder"),
            dag_file=fields.string("dag_file"),
            env_vars=fields.names("env_vars"),
            upstream_xcoms=_upstream_xcoms(fields.mapping("upstream_xcoms"), where),
        )
        if (payload.data_interval_start is None) != (payload.data_interval_end is None):
            raise ZeroCodeFormatError(
                f"{where}: data_interval_start and data_interval_end must be given together or not at all"
            )
        return payload

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ZeroCodePayload:
        """Read a payload file (the one reader: the runner)."""
        return cls.from_json(_load(path, "payload"), where=f"payload file {os.fspath(path)}")


def _upstream_xcoms(value: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    for task_id, xcoms in value.items():
        if not isinstance(xcoms, dict):
            raise ZeroCodeFormatError(
                f"{where}: upstream_xcoms.{task_id} must be an object of XCom key -> value"
            )
    return value


@dataclass(frozen=True)
class RelayedXCom:
    """One XCom the task pushed: its key and its value as Airflow's XCom serialisation stores it (JSON)."""

    key: str
    value: Any


@dataclass(frozen=True)
class ZeroCodeResult:
    """What the runner reports back for one task execution.

    Attributes:
        state: ``success``, ``skipped`` (``AirflowSkipException``, a ``skip_on_exit_code``) or ``failed``.
        xcoms: every XCom the task pushed, in push order (``return_value``, ``multiple_outputs`` keys,
            explicit ``xcom_push`` calls), for the proxy to push in Airflow.
        rendered_fields: the task's template fields after rendering, as the task runner reports them to
            Airflow (the same shape as a task instance's ``rendered_fields`` in the REST API).
        error: why the task failed or was refused, with secret values replaced by ``***``; None on success.
        error_type: the exception's class name (``AirflowFailException`` means: do not retry).
        retryable: for a failed task, whether Airflow may retry it: False after ``AirflowFailException``,
            for a refused task and for bad input (True on success and skip, where it does not apply).
        duration_seconds: wall time of the task run inside the runner.
    """

    state: TaskOutcome
    xcoms: tuple[RelayedXCom, ...] = ()
    rendered_fields: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    retryable: bool = True
    duration_seconds: float = 0.0

    def xcom(self, key: str) -> Any:
        """The last value pushed under ``key``; raises :class:`KeyError` naming the keys pushed."""
        for xcom in reversed(self.xcoms):
            if xcom.key == key:
                return xcom.value
        raise KeyError(f"no XCom {key!r} in the result (pushed: {[x.key for x in self.xcoms]})")

    def to_json(self) -> dict[str, Any]:
        """The JSON body of a result file."""
        return {
            "format": FORMAT_VERSION,
            "state": self.state,
            "xcoms": [{"key": xcom.key, "value": xcom.value} for xcom in self.xcoms],
            "rendered_fields": dict(self.rendered_fields),
            "error": self.error,
            "error_type": self.error_type,
            "retryable": self.retryable,
            "duration_seconds": self.duration_seconds,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the result file (the one writer: the runner). Values that are not JSON become strings."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2, default=str))

    @classmethod
    def from_json(cls, body: Any, *, where: str = "result") -> ZeroCodeResult:
        """Parse a decoded result; errors name ``where`` and the field."""
        fields = _Fields(body, where, "result")
        fields.check_format()
        state = fields.string("state")
        if state not in TASK_OUTCOMES:
            raise ZeroCodeFormatError(f"{where}: state must be one of {list(TASK_OUTCOMES)}, got {state!r}")
        raw_xcoms = body.get("xcoms", [])
        if not isinstance(raw_xcoms, list) or not all(
            isinstance(x, dict) and isinstance(x.get("key"), str) and "value" in x for x in raw_xcoms
        ):
            raise ZeroCodeFormatError(
                f"{where}: xcoms must be a list of {{'key': str, 'value': ...}} objects"
            )
        retryable = body.get("retryable", True)
        if not isinstance(retryable, bool):
            raise ZeroCodeFormatError(f"{where}: retryable must be true or false, got {retryable!r}")
        duration = body.get("duration_seconds", 0.0)
        if not isinstance(duration, (int, float)) or isinstance(duration, bool):
            raise ZeroCodeFormatError(f"{where}: duration_seconds must be a number, got {duration!r}")
        return cls(
            state=state,  # type: ignore[arg-type]
            xcoms=tuple(RelayedXCom(key=x["key"], value=x["value"]) for x in raw_xcoms),
            rendered_fields=fields.mapping("rendered_fields"),
            error=fields.optional_string("error"),
            error_type=fields.optional_string("error_type"),
            retryable=retryable,
            duration_seconds=float(duration),
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ZeroCodeResult:
        """Read a result file (the one reader: the Dagster side)."""
        return cls.from_json(_load(path, "result"), where=f"result file {os.fspath(path)}")


def _load(path: str | os.PathLike[str], what: str) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ZeroCodeFormatError(
            f"cannot read the zero-code {what} file {os.fspath(path)}: {error}"
        ) from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise ZeroCodeFormatError(f"{what} file {os.fspath(path)} is not valid JSON: {error}") from None


class _Fields:
    """Typed access to one decoded JSON object; every error names the file and the field."""

    def __init__(self, body: Any, where: str, what: str) -> None:
        if not isinstance(body, dict):
            raise ZeroCodeFormatError(
                f"{where}: a zero-code {what} must be a JSON object, got {type(body).__name__}"
            )
        self.body = body
        self.where = where

    def _fail(self, name: str, expected: str) -> ZeroCodeFormatError:
        return ZeroCodeFormatError(f"{self.where}: {name} must be {expected}, got {self.body.get(name)!r}")

    def check_format(self) -> None:
        version = self.body.get("format", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ZeroCodeFormatError(
                f"{self.where}: format {version!r} is not supported (this runner reads format {FORMAT_VERSION}); "
                "install the same airlift-components version on both sides"
            )

    def string(self, name: str, *, default: str | None = None) -> str:
        value = self.body.get(name, default)
        if not isinstance(value, str) or (default is None and not value):
            raise self._fail(name, "a non-empty string")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is not None and not isinstance(value, str):
            raise self._fail(name, "a string or null")
        return value

    def timestamp(self, name: str) -> str | None:
        value = self.optional_string(name)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self._fail(name, "an ISO 8601 timestamp or null") from None
        if parsed.tzinfo is None:
            raise self._fail(name, "a timestamp with a time zone (e.g. ...+00:00)")
        return parsed.isoformat()

    def integer(self, name: str, *, default: int, minimum: int) -> int:
        value = self.body.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._fail(name, f"an integer >= {minimum}")
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self.body.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(name, "a JSON object")
        return value

    def names(self, name: str) -> tuple[str, ...]:
        value = self.body.get(name, [])
        if (
            not isinstance(value, Sequence)
            or isinstance(value, str)
            or not all(isinstance(v, str) and v for v in value)
        ):
            raise self._fail(name, "a list of environment variable names")
        return tuple(value)


def connection_passwords(value: str) -> list[str]:
    """The password(s) inside an ``AIRFLOW_CONN_*`` value (URI or JSON form), so both sides can mask them.

    A URI's password is returned as written and percent-decoded; a value that parses as neither gives ``[]``.
    """
    found: list[str] = []
    with contextlib.suppress(ValueError):
        if value.lstrip().startswith("{"):
            body = json.loads(value)
            if isinstance(body, dict) and isinstance(body.get("password"), str):
                found.append(body["password"])
        else:
            password = urlsplit(value).password
            if password:
                found.extend([password, unquote(password)])
    return found
