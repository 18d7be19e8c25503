"""``airlift-components status``: migration progress read live from Airflow, next to the proxied-state files.

The counts are :mod:`airlift_components.core.progress`'s (the model the DAG assets' Markdown uses too).
What only the command does is here: fetch what Airflow has loaded now (:func:`collect_progress`), read
``proxied_state/*.yaml`` with the Airflow side's own reader, name where the two disagree, and print a table,
Markdown or JSON (:func:`render`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from airlift_components.cli.definitions import PeeredInstance
from airlift_components.core.progress import (
    COLUMNS,
    DagProgress,
    InstanceProgress,
    dag_progress,
    instance_markdown,
    rows,
)
from airlift_components.core.snapshot import fetch_snapshot
from airlift_components.formats.proxied_state import (
    DagProxiedState,
    ProxiedStateError,
    read_state_file,
    state_files,
)

# ------------------------------------------------------------------ proxied-state files


class ProxiedStateFileError(ValueError):
    """A proxied-state directory cannot be read; the message names the path."""


@dataclass(frozen=True)
class StateFile:
    """One ``proxied_state/<dag_id>.yaml`` as ``proxying_to_dagster`` reads it, or why it refuses it."""

    path: Path
    state: DagProxiedState | None = None
    error: str | None = None  # the reader's message when the file is invalid (Airflow refuses it too)


def read_state_files(directory: str | Path) -> dict[str, StateFile]:
    """Every ``<dag_id>.yaml`` in a proxied-state directory, by DAG id, read by the Airflow side's reader."""
    root = Path(directory)
    if not root.is_dir():
        raise ProxiedStateFileError(f"proxied state directory {root} does not exist")
    files: dict[str, StateFile] = {}
    for path in state_files(root):
        if path.stem in files:
            first = files[path.stem].path
            message = f"{path}: DAG {path.stem!r} already has a proxied state file ({first})"
            files[path.stem] = StateFile(path, error=message)
            continue
        try:
            files[path.stem] = StateFile(path, state=read_state_file(path))
        except ProxiedStateError as exc:
            files[path.stem] = StateFile(path, error=str(exc))
    return files


def disagreements(progress: DagProgress, state: StateFile | None) -> tuple[str, ...]:
    """Where a proxied-state file and what Airflow has loaded differ (e.g. Airflow did not reparse yet)."""
    if state is None:
        return ()
    name = state.path.name
    if state.state is None:
        return (f"{name}: proxying_to_dagster refuses this file: {state.error}",)
    if not progress.tasks_known:
        return ()
    if state.state.is_dag_level:
        if state.state.dag_proxied != progress.dag_proxied:
            said = "proxied" if state.state.dag_proxied else "not proxied"
            shown = "proxied" if progress.dag_proxied else "not proxied"
            return (f"{name} says the whole DAG is {said}; Airflow has it {shown}",)
        return ()
    if progress.dag_proxied:
        return (f"{name} lists tasks, but Airflow has the whole DAG proxied",)
    listed = set(state.state.tasks or {})
    file_proxied = set(state.state.proxied_task_ids)
    live = {task.task_id for task in progress.task_progress}
    live_proxied = {task.task_id for task in progress.task_progress if task.proxied}
    problems = [f"{name}: task {t!r} is not in the DAG Airflow has" for t in sorted(listed - live)]
    problems += [
        f"{name}: task {t!r} is proxied in the file, not in Airflow"
        for t in sorted((file_proxied & live) - live_proxied)
    ]
    problems += [
        f"{name}: task {t!r} is proxied in Airflow, not in the file"
        for t in sorted(live_proxied - file_proxied)
    ]
    return tuple(problems)


def with_disagreements(progress: Iterable[DagProgress], states: Mapping[str, StateFile]) -> list[DagProgress]:
    """Progress records with the disagreements against their state files filled in."""
    return [replace(p, disagreements=disagreements(p, states.get(p.dag_id))) for p in progress]


# ------------------------------------------------------------------ live collection


def collect_progress(instance: PeeredInstance, state_dir: str | Path | None = None) -> InstanceProgress:
    """Read the live Airflow of one peered instance and compare it with the definitions and state files.

    Cost: the login (which also tells the API dialect), the paged DAG listing and one ``/tasks`` request per DAG in the definitions
    (concurrent). Raises :class:`~airlift_components.airflow_api.AirflowError` when Airflow cannot be read.
    """
    states = read_state_files(state_dir) if state_dir is not None else {}
    snapshot = fetch_snapshot(
        instance, instance.dag_ids, dag_selector_fn=lambda dag: dag.dag_id in instance.mappings
    )
    present = [dag_id for dag_id in instance.dag_ids if snapshot.dag(dag_id) is not None]
    progress = [dag_progress(snapshot, dag_id, instance.mappings[dag_id]) for dag_id in present]
    dags = with_disagreements(progress, states)
    for dag_id in instance.dag_ids:
        if snapshot.dag(dag_id) is None:
            note = f"Airflow ({snapshot.webserver_url}) has no active DAG {dag_id!r}"
            dags.append(DagProgress(instance.name, dag_id, False, disagreements=(note,)))
    return InstanceProgress(instance.name, snapshot.webserver_url, dags)


# ------------------------------------------------------------------ output


def zero_code_lines(instances: Sequence[InstanceProgress]) -> list[str]:
    """Per DAG whose tasks are known: how many tasks can run zero-code, and why each other one cannot."""
    lines = []
    for instance in instances:
        for dag in instance.dags:
            if not dag.tasks_known:
                continue
            tasks = dag.zero_code_tasks
            # A whole-DAG proxy's own task is not what runs zero-code: its recorded tasks are.
            whose = " (proxied as a whole: the tasks its proxy records)" if dag.original_tasks else ""
            lines.append(
                f"- {instance.instance_name}/{dag.dag_id}: {dag.zero_code_eligible}/{len(tasks)} tasks "
                f"zero-code eligible{whose}"
            )
            lines += [
                f"    - {task.task_id} ({task.operator or 'unknown operator'}): {task.zero_code}"
                for task in tasks
                if not task.zero_code_eligible
            ]
    return lines


def render(instances: Sequence[InstanceProgress], output_format: str) -> str:
    """The ``status`` output: ``"table"`` (rich), ``"markdown"`` or ``"json"``."""
    if output_format == "json":
        return json.dumps({"instances": [instance.to_json() for instance in instances]}, indent=2)
    zero_code = zero_code_lines(instances)
    notes = [
        f"- {instance.instance_name}/{dag.dag_id}: {problem}"
        for instance in instances
        for dag in instance.dags
        for problem in dag.disagreements
    ]
    if output_format == "markdown":
        parts = [f"### {i.instance_name} ({i.webserver_url})\n\n{instance_markdown(i)}" for i in instances]
        if notes:
            parts.append("**Proxied state files disagree with Airflow:**\n\n" + "\n".join(notes))
        if zero_code:
            parts.append(
                "**Zero-code migration (tasks that can run their own Airflow code in Dagster):**\n\n"
                + "\n".join(zero_code)
            )
        return "\n\n".join(parts)
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140, record=True, file=io.StringIO())
    for instance in instances:
        table = Table(title=f"{instance.instance_name} ({instance.webserver_url})")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "dag_id" else "right")
        for row in rows(instance.dags):
            table.add_row(*row)
        totals = instance.totals()
        table.add_row(f"total ({totals['dags']} DAGs)", *(str(totals[c]) for c in COLUMNS[1:]), style="bold")
        console.print(table)
    if notes:
        console.print("Proxied state files disagree with Airflow:\n" + "\n".join(notes), markup=False)
    if zero_code:
        console.print("Zero-code eligible tasks:\n" + "\n".join(zero_code), markup=False)
    return console.export_text().rstrip()
