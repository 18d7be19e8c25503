"""Summarize the ``orders`` mart by status: the business logic of the ``summarize_orders`` DAG."""

from __future__ import annotations

from pathlib import Path

import duckdb


def summarize_orders(duckdb_path: Path, duckdb_database_name: str) -> int:
    """Replace ``<database>.main.order_summary`` (one row per order status) and return its row count."""
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute(
            f"""
            CREATE OR REPLACE TABLE "{duckdb_database_name}".main.order_summary AS
            SELECT status, count(*) AS number_of_orders, sum(amount) AS total_amount
            FROM "{duckdb_database_name}".main.orders
            GROUP BY status
            ORDER BY status
            """
        )
        row = con.execute(f'SELECT count(*) FROM "{duckdb_database_name}".main.order_summary').fetchone()
    return int(row[0]) if row else 0
