"""Export a DuckDB table to a CSV file: the business logic of the ``export_customers`` task.

Called from the Airflow task and from the Dagster asset that replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class ExportDuckDbToCsvArgs:
    """Which table (``<database>.main.<table>`` unless ``duckdb_schema`` says otherwise) goes to which CSV."""

    table_name: str
    csv_path: Path
    duckdb_path: Path
    duckdb_database_name: str
    duckdb_schema: str = "main"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def export_duckdb_to_csv(args: ExportDuckDbToCsvArgs) -> int:
    """Write the table to ``csv_path`` with a header row and return the number of data rows.

    Example::

        export_duckdb_to_csv(ExportDuckDbToCsvArgs("customers", Path("customers.csv"),
                                                   Path("jaffle_shop.duckdb"), "jaffle_shop"))
    """
    duckdb_path = Path(args.duckdb_path)
    if not duckdb_path.exists():
        raise FileNotFoundError(f"DuckDB database not found at {duckdb_path}")
    csv_path = Path(args.csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    table = ".".join(
        _quote(part) for part in (args.duckdb_database_name, args.duckdb_schema, args.table_name)
    )
    # Write next to the target and rename, so readers never see a half-written file.
    partial = csv_path.with_name(csv_path.name + ".partial")
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(f"COPY (SELECT * FROM {table}) TO '{partial.as_posix()}' (HEADER, DELIMITER ',')")
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    partial.replace(csv_path)
    return int(row[0]) if row else 0
