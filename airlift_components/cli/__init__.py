"""The ``airlift-components`` command line.

Commands::

    airlift-components proxy scaffold --dags-folder DAGS [--output-dir DIR] [--overwrite]
    airlift-components status (-m MODULE | -f FILE) [--instance NAME] [--dags-folder DAGS |
        --proxied-state-dir DIR] [--format table|markdown|json]
    airlift-components import-history (-m MODULE | -f FILE) --start DATE --end DATE [--instance NAME]

``proxy scaffold`` writes ``proxied_state/<dag_id>.yaml`` for every DAG in the folder with all tasks
``proxied: False``. It must run where Airflow is installed (it parses the DAG files with Airflow).
``status`` prints migration progress per instance and DAG (live Airflow + definitions + state files).
``import-history`` stores the asset events of Airflow runs that finished in a date range in the Dagster
instance of ``DAGSTER_HOME``; rerunning it adds nothing.
This module imports only the standard library; each command imports what it needs when it runs:
:mod:`~airlift_components.cli.definitions` (load the user's definitions, find the peered instances),
:mod:`~airlift_components.cli.status` and :mod:`~airlift_components.cli.history`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airlift-components", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    proxy = commands.add_parser("proxy", help="proxied state of Airflow DAGs")
    proxy_commands = proxy.add_subparsers(dest="proxy_command", required=True)
    scaffold = proxy_commands.add_parser(
        "scaffold", help="write proxied_state/<dag_id>.yaml for every DAG, all tasks proxied: False"
    )
    scaffold.add_argument("--dags-folder", required=True, help="the Airflow DAGs folder to parse")
    scaffold.add_argument(
        "--output-dir", help="where to write the files (default: DAGS_FOLDER/proxied_state)"
    )
    scaffold.add_argument("--overwrite", action="store_true", help="replace existing state files")

    status = commands.add_parser("status", help="migration progress per Airflow instance and DAG")
    _add_defs_arguments(status)
    state = status.add_mutually_exclusive_group()
    state.add_argument("--dags-folder", help="compare with DAGS_FOLDER/proxied_state/*.yaml")
    state.add_argument("--proxied-state-dir", help="compare with the *.yaml files in this directory")
    status.add_argument("--format", choices=["table", "markdown", "json"], default="table")

    history = commands.add_parser(
        "import-history", help="import Airflow runs that finished in a date range as Dagster asset events"
    )
    _add_defs_arguments(history)
    history.add_argument("--start", required=True, help="ISO date or datetime (UTC unless it has an offset)")
    history.add_argument("--end", required=True, help="ISO date or datetime, after --start")
    return parser


def _add_defs_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-m", "--module-name", help="Python module with the Dagster Definitions")
    where.add_argument("-f", "--python-file", help="Python file with the Dagster Definitions")
    parser.add_argument("--instance", help="only this Airflow instance (its name in the definitions)")


def _proxy_scaffold(args: argparse.Namespace) -> int:
    try:
        from airlift_components.in_airflow.scaffold import scaffold_proxied_state
    except ImportError as exc:
        print(f"airlift-components proxy scaffold needs Airflow installed here: {exc}", file=sys.stderr)
        return 2
    result = scaffold_proxied_state(args.dags_folder, args.output_dir, overwrite=args.overwrite)
    for path in result.written:
        print(f"wrote {path}")
    for path in result.skipped:
        print(f"kept existing {path} (use --overwrite to replace)")
    for file, error in result.import_errors.items():
        print(
            f"could not import {file}: {error.strip().splitlines()[-1] if error.strip() else error}",
            file=sys.stderr,
        )
    return 1 if result.import_errors else 0


def _status(args: argparse.Namespace) -> int:
    from airlift_components.airflow_api import AirflowError
    from airlift_components.cli.definitions import DefinitionsLoadError, load_definitions, peered_instances
    from airlift_components.cli.status import ProxiedStateFileError, collect_progress, render

    state_dir = args.proxied_state_dir
    if args.dags_folder:
        if not os.path.isdir(args.dags_folder):
            print(f"DAGs folder {args.dags_folder} does not exist", file=sys.stderr)
            return 2
        state_dir = os.path.join(args.dags_folder, "proxied_state")
    try:
        defs = load_definitions(module=args.module_name, file=args.python_file)
        instances = peered_instances(defs, args.instance)
        progress = [collect_progress(instance, state_dir) for instance in instances.values()]
    except (DefinitionsLoadError, ProxiedStateFileError, AirflowError) as exc:
        print(f"airlift-components status: {exc}", file=sys.stderr)
        return 2
    print(render(progress, args.format))
    return 0


def _import_history(args: argparse.Namespace) -> int:
    from datetime import datetime

    from dagster import DagsterInstance

    from airlift_components.airflow_api import AirflowError
    from airlift_components.cli.definitions import DefinitionsLoadError, load_definitions
    from airlift_components.cli.history import HistoryImportError, import_airflow_history

    if not os.environ.get("DAGSTER_HOME"):
        print(
            "airlift-components import-history: set DAGSTER_HOME to the Dagster instance to import into",
            file=sys.stderr,
        )
        return 2
    try:
        start, end = (datetime.fromisoformat(value) for value in (args.start, args.end))
    except ValueError as exc:
        print(f"airlift-components import-history: --start/--end must be ISO dates: {exc}", file=sys.stderr)
        return 2
    try:
        defs = load_definitions(module=args.module_name, file=args.python_file)
        with DagsterInstance.get() as instance:
            results = import_airflow_history(
                defs, instance, start, end, instance_name=args.instance, log=print
            )
    except (DefinitionsLoadError, HistoryImportError, AirflowError) as exc:
        print(f"airlift-components import-history: {exc}", file=sys.stderr)
        return 2
    return 0 if results else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airlift-components`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "proxy" and args.proxy_command == "scaffold":
        return _proxy_scaffold(args)
    command = {"status": _status, "import-history": _import_history}[args.command]
    try:
        return command(args)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("dagster"):
            raise
        # The Airflow-side install ([in-airflow]) has no dagster; these commands run on the Dagster side.
        print(
            f"airlift-components {args.command} needs the Dagster side installed here "
            f"(module {exc.name!r} is missing): pip install 'airlift-components[core]'",
            file=sys.stderr,
        )
        return 2
