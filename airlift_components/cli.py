"""The ``airlift-components`` command line.

Commands::

    airlift-components proxy scaffold --dags-folder DAGS [--output-dir DIR] [--overwrite]

``proxy scaffold`` writes ``proxied_state/<dag_id>.yaml`` for every DAG in the folder with all tasks
``proxied: False``. It must run where Airflow is installed (it parses the DAG files with Airflow).
This module imports only the standard library; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``airlift-components`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "proxy" and args.proxy_command == "scaffold":
        return _proxy_scaffold(args)
    raise AssertionError(f"unhandled command {args}")  # argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
