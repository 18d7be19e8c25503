"""Proxied state: which tasks (or whole DAGs) run in Dagster, read from ``proxied_state/<dag_id>.yaml``.

Two file forms, one file per DAG, named after the DAG id::

    # proxied_state/rebuild_customers_list.yaml: task by task
    tasks:
      - id: load_raw_customers
        proxied: False
      - id: build_dbt_models
        proxied: True

    # proxied_state/other_dag.yaml: the whole DAG at once
    proxied: True

A DAG without a file is left untouched. Every error names the file and the entry at fault
(:class:`ProxiedStateError`). Whether a listed task id exists in the DAG is checked by
:func:`~airlift_components.in_airflow.proxying_to_dagster`, which knows the DAG.

The one writer is :func:`render_state_file` (``airlift-components proxy scaffold``); the one reader is
:func:`read_state_file` (``proxying_to_dagster`` through :func:`load_proxied_state_from_yaml`, and the
``status`` command).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TASK_FORM_KEYS = {"tasks"}
_DAG_FORM_KEYS = {"proxied"}
_TASK_ENTRY_KEYS = {"id", "proxied"}


class ProxiedStateError(ValueError):
    """A proxied state file (or the state built from it) is invalid; the message names file and entry."""


@dataclass(frozen=True)
class TaskProxiedState:
    """Whether one task runs in Dagster."""

    task_id: str
    proxied: bool


@dataclass(frozen=True)
class DagProxiedState:
    """The proxied state of one DAG: either per task (``tasks``) or for the whole DAG (``proxied``).

    Exactly one of the two is set. ``source`` is the file it came from, for error messages.
    """

    dag_id: str
    tasks: Mapping[str, TaskProxiedState] | None = None
    proxied: bool | None = None
    source: str | None = None

    @property
    def is_dag_level(self) -> bool:
        """True for the ``proxied: true|false`` form."""
        return self.proxied is not None

    @property
    def dag_proxied(self) -> bool:
        """True when the whole DAG is replaced by one proxy task."""
        return bool(self.proxied)

    @property
    def proxied_task_ids(self) -> list[str]:
        """Ids of the tasks proxied to Dagster, in file order."""
        return [task_id for task_id, entry in (self.tasks or {}).items() if entry.proxied]

    def where(self) -> str:
        """How error messages refer to this state: its file, or the DAG id when built in code."""
        return self.source or f"proxied state of DAG {self.dag_id!r}"


@dataclass(frozen=True)
class AirflowProxiedState:
    """The proxied state of every DAG that has a file; DAGs without one are not proxied at all."""

    dags: Mapping[str, DagProxiedState] = field(default_factory=dict)

    def get(self, dag_id: str) -> DagProxiedState | None:
        """The state of ``dag_id``, or None when it has no file."""
        return self.dags.get(dag_id)

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> AirflowProxiedState:
        """Build the state in code, with the same shape as the files: ``{dag_id: {"tasks": [...]}}``."""
        return cls({dag_id: parse_dag_state(dag_id, body, where=None) for dag_id, body in data.items()})


def load_proxied_state_from_yaml(proxied_yaml_path: str | Path) -> AirflowProxiedState:
    """Read every ``<dag_id>.yaml`` (or ``.yml``) in the folder ``proxied_yaml_path``.

    Example::

        proxying_to_dagster(
            global_vars=globals(),
            proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
        )

    Raises:
        ProxiedStateError: the folder is missing, a file is unreadable or not valid YAML, two files
            name the same DAG, or an entry is malformed (the message names the file and the entry).
    """
    folder = Path(proxied_yaml_path)
    if not folder.is_dir():
        raise ProxiedStateError(f"proxied state folder {folder} does not exist or is not a folder")
    dags: dict[str, DagProxiedState] = {}
    for path in state_files(folder):
        dag_id = path.stem
        if dag_id in dags:
            raise ProxiedStateError(
                f"{path}: DAG {dag_id!r} already has a proxied state file ({dags[dag_id].source})"
            )
        dags[dag_id] = read_state_file(path)
    return AirflowProxiedState(dags)


def state_files(folder: Path) -> list[Path]:
    """The ``*.yaml`` and ``*.yml`` files of a proxied-state folder, sorted."""
    return sorted(path for path in folder.iterdir() if path.suffix in (".yaml", ".yml") and path.is_file())


def read_state_file(path: Path) -> DagProxiedState:
    """Read and validate one ``<dag_id>.yaml`` (the DAG id is the file name without its suffix).

    Raises:
        ProxiedStateError: the file is unreadable, not valid YAML, or malformed (names file and entry).
    """
    return parse_dag_state(path.stem, _read_yaml(path), where=str(path))


HEADER = (
    "# Proxied state of DAG {dag_id!r}: set a task's `proxied` to True to run it in Dagster,\n"
    "# or replace the whole file with `proxied: True` to proxy the entire DAG.\n"
)


def render_state_file(dag_id: str, task_ids: Iterable[str]) -> str:
    """The YAML text of a task-form state file with every task ``proxied: False``."""
    body = {"tasks": [{"id": task_id, "proxied": False} for task_id in task_ids]}
    text = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
    return HEADER.format(dag_id=dag_id) + text.replace("proxied: false", "proxied: False")


class _NoDuplicateKeysLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a file saying ``proxied`` twice is contradictory."""


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in first_line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {first_line[key]}): contradictory entries",
                key_node.start_mark,
            )
        if isinstance(key, Hashable):
            first_line[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_NoDuplicateKeysLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,  # type: ignore[arg-type]
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProxiedStateError(f"{path}: cannot read proxied state file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ProxiedStateError(
            f"{path}: cannot read proxied state file: not UTF-8 text ({exc.reason})"
        ) from None
    try:
        return yaml.load(text, Loader=_NoDuplicateKeysLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ProxiedStateError(f"{path}: not valid YAML: {_one_line(exc)}") from None


def parse_dag_state(dag_id: str, body: Any, *, where: str | None) -> DagProxiedState:
    """Validate one file's content (already parsed) into a :class:`DagProxiedState`."""
    place = where or f"proxied state of DAG {dag_id!r}"
    if not isinstance(body, Mapping):
        raise ProxiedStateError(
            f"{place}: expected a mapping with 'tasks' (task by task) or 'proxied' (whole DAG), "
            f"got {_type_name(body)}"
        )
    keys = set(body)
    unknown = keys - _TASK_FORM_KEYS - _DAG_FORM_KEYS
    if unknown:
        raise ProxiedStateError(
            f"{place}: unknown key(s) {sorted(map(str, unknown))}; expected 'tasks' or 'proxied'"
        )
    if keys >= {"tasks", "proxied"}:
        raise ProxiedStateError(
            f"{place}: has both 'proxied' (whole DAG) and 'tasks' (task by task); keep only one form"
        )
    if "proxied" in body:
        return DagProxiedState(dag_id, proxied=_bool(body["proxied"], f"{place}: 'proxied'"), source=where)
    if "tasks" not in body:
        raise ProxiedStateError(f"{place}: expected 'tasks' (task by task) or 'proxied' (whole DAG)")
    entries = body["tasks"]
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ProxiedStateError(
            f"{place}: 'tasks' must be a list of {{id, proxied}}, got {_type_name(entries)}"
        )
    tasks: dict[str, TaskProxiedState] = {}
    for index, entry in enumerate(entries):
        entry_place = f"{place}: tasks[{index}]"
        if not isinstance(entry, Mapping):
            raise ProxiedStateError(
                f"{entry_place}: expected a mapping {{id, proxied}}, got {_type_name(entry)}"
            )
        missing = _TASK_ENTRY_KEYS - set(entry)
        if missing:
            raise ProxiedStateError(f"{entry_place}: missing key(s) {sorted(missing)}")
        extra = set(entry) - _TASK_ENTRY_KEYS
        if extra:
            raise ProxiedStateError(f"{entry_place}: unknown key(s) {sorted(map(str, extra))}")
        task_id = entry["id"]
        if not isinstance(task_id, str) or not task_id:
            raise ProxiedStateError(
                f"{entry_place}: 'id' must be a non-empty string, got {_type_name(task_id)}"
            )
        entry_place = f"{place}: tasks[{index}] (id {task_id!r})"
        if task_id in tasks:
            raise ProxiedStateError(f"{entry_place}: duplicate task id {task_id!r}")
        tasks[task_id] = TaskProxiedState(task_id, _bool(entry["proxied"], f"{entry_place}: 'proxied'"))
    return DagProxiedState(dag_id, tasks=tasks, source=where)


def _bool(value: Any, place: str) -> bool:
    # YAML's True/False/true/false parse to bool; strings such as "yes" or "True" in quotes do not.
    if not isinstance(value, bool):
        raise ProxiedStateError(f"{place} must be true or false, got {_type_name(value)} {value!r}")
    return value


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
