"""``audit_csv_files``: a DAG with a dynamic (mapped) task, peered and observed as one DAG asset.

``count_rows`` is expanded over the CSV files found at run time, which is why this DAG maps to
Dagster as a whole rather than task by task.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

DAGS_DIR = Path(__file__).resolve().parent

with DAG(
    dag_id="audit_csv_files",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["tutorial"],
) as dag:

    @task
    def list_csv_files() -> list[str]:
        """The CSV files next to this DAG (one mapped task instance each)."""
        return sorted(str(path) for path in DAGS_DIR.glob("*.csv"))

    @task
    def count_rows(path: str) -> int:
        """Data rows of one CSV file (header excluded)."""
        with open(path) as handle:
            return max(sum(1 for _ in handle) - 1, 0)

    @task
    def report(counts: list[int]) -> int:
        """Total data rows over all files."""
        total = sum(counts)
        print(f"{len(counts)} CSV files, {total} rows")
        return total

    report(count_rows.expand(path=list_csv_files()))
