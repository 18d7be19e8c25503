"""Load a CSV file into a DuckDB table: the business logic of the ``load_raw_customers`` task.

Called from the Airflow operator (``airflow_dags``) and from the Dagster asset that replaces it
(``dagster_defs.stages.migrate``), so both sides produce the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class LoadCsvToDuckDbArgs:
    """Where the CSV is and which table it becomes (``<database>.<schema>.<table>``).

    ``names`` are the column names, in file order; the CSV's own header row is skipped.
    """

    table_name: str
    csv_path: Path
    duckdb_path: Path
    names: list[str]
    duckdb_schema: str
    duckdb_database_name: str


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def load_csv_to_duckdb(args: LoadCsvToDuckDbArgs) -> int:
    """Replace the table with the CSV's rows and return how many rows were loaded.

    Example::

        load_csv_to_duckdb(LoadCsvToDuckDbArgs("raw_customers", Path("raw_customers.csv"),
                                               Path("jaffle_shop.duckdb"), ["id", "first_name", "last_name"],
                                               "raw_data", "jaffle_shop"))
    """
    csv_path = Path(args.csv_path)
    if not csv_path.exists():
        raise FileNotFoundError(f"CSV file not found at {csv_path}")
    duckdb_path = Path(args.duckdb_path)
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    table = ".".join(
        _quote(part) for part in (args.duckdb_database_name, args.duckdb_schema, args.table_name)
    )
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(
            f"CREATE SCHEMA IF NOT EXISTS {_quote(args.duckdb_database_name)}.{_quote(args.duckdb_schema)}"
        )
        # CREATE OR REPLACE keeps daily reruns idempotent.
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header = true, names = ?, all_varchar = false)",
            [str(csv_path), list(args.names)],
        )
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
