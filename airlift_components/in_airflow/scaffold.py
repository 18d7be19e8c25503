"""Write ``proxied_state/<dag_id>.yaml`` for every DAG of a DAGs folder, all tasks ``proxied: False``.

Runs in Airflow's environment (it parses the DAG files with Airflow's own ``DagBag``). Existing files
are kept unless ``overwrite`` is set, so re-running after adding DAGs only fills the gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from airlift_components.formats.proxied_state import render_state_file


@dataclass
class ScaffoldResult:
    """What :func:`scaffold_proxied_state` did, per DAG id."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)


def scaffold_proxied_state(
    dags_folder: str | Path, output_dir: str | Path | None = None, *, overwrite: bool = False
) -> ScaffoldResult:
    """Parse ``dags_folder`` and write one state file per DAG into ``output_dir``.

    ``output_dir`` defaults to ``<dags_folder>/proxied_state``. Task ids are listed in the DAG's
    topological order.
    """
    dags_folder = Path(dags_folder).resolve()
    target = Path(output_dir) if output_dir is not None else dags_folder / "proxied_state"
    target.mkdir(parents=True, exist_ok=True)
    result = ScaffoldResult()
    bag = _dag_bag(dags_folder)
    result.import_errors = {str(path): str(error) for path, error in bag.import_errors.items()}
    for dag_id in sorted(bag.dag_ids):
        dag = bag.dags[dag_id]
        path = target / f"{dag_id}.yaml"
        if path.exists() and not overwrite:
            result.skipped.append(path)
            continue
        path.write_text(render_state_file(dag_id, [task.task_id for task in dag.topological_sort()]))
        result.written.append(path)
    return result


def _dag_bag(dags_folder: Path):  # noqa: ANN202 - Airflow's DagBag moved between versions
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2
    import inspect

    kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
    return DagBag(dag_folder=str(dags_folder), **kwargs)
