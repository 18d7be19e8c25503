"""The example's data, shared functions and dbt project, on real DuckDB and dbt (no Airflow, no Dagster)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from example_project.scripts.generate_data import generate
from example_project.shared.export_duckdb_to_csv import ExportDuckDbToCsvArgs, export_duckdb_to_csv
from example_project.shared.load_csv_to_duckdb import LoadCsvToDuckDbArgs, load_csv_to_duckdb
from tests.example_project.conftest import DBT_PROJECT, EXAMPLE, VENV_BIN, ExampleDirs

CUSTOMER_COLUMNS = ["id", "first_name", "last_name"]


def _load_customers(dirs: ExampleDirs) -> int:
    return load_csv_to_duckdb(
        LoadCsvToDuckDbArgs(
            table_name="raw_customers",
            csv_path=dirs.dags_dir / "raw_customers.csv",
            duckdb_path=dirs.duckdb_path,
            names=CUSTOMER_COLUMNS,
            duckdb_schema="raw_data",
            duckdb_database_name="jaffle_shop",
        )
    )


def test_shipped_csvs_are_what_the_generator_writes(tmp_path: Path) -> None:
    generate(tmp_path)
    for relative in (
        "airflow_dags/raw_customers.csv",
        "dbt/seeds/raw_orders.csv",
        "dbt/seeds/raw_payments.csv",
    ):
        assert (tmp_path / relative).read_bytes() == (EXAMPLE / relative).read_bytes(), relative
    with (EXAMPLE / "airflow_dags" / "raw_customers.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 100


def test_load_then_export_round_trips_the_customers_csv(example_dirs: ExampleDirs) -> None:
    assert _load_customers(example_dirs) == 100
    assert _load_customers(example_dirs) == 100  # a rerun replaces, never appends
    out = example_dirs.example_dir / "roundtrip.csv"
    rows = export_duckdb_to_csv(
        ExportDuckDbToCsvArgs(
            table_name="raw_customers",
            csv_path=out,
            duckdb_path=example_dirs.duckdb_path,
            duckdb_database_name="jaffle_shop",
            duckdb_schema="raw_data",
        )
    )
    assert rows == 100
    assert out.read_text() == (example_dirs.dags_dir / "raw_customers.csv").read_text()


def test_load_fails_naming_the_missing_csv(example_dirs: ExampleDirs) -> None:
    missing = example_dirs.example_dir / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_csv_to_duckdb(
            LoadCsvToDuckDbArgs(
                "raw_customers",
                missing,
                example_dirs.duckdb_path,
                CUSTOMER_COLUMNS,
                "raw_data",
                "jaffle_shop",
            )
        )


def test_export_fails_naming_the_missing_database(example_dirs: ExampleDirs) -> None:
    with pytest.raises(FileNotFoundError, match="jaffle_shop.duckdb"):
        export_duckdb_to_csv(
            ExportDuckDbToCsvArgs(
                "customers", example_dirs.customers_csv, example_dirs.duckdb_path, "jaffle_shop"
            )
        )


def test_dbt_parse_builds_the_manifest_offline(dbt_manifest: Path) -> None:
    assert not (DBT_PROJECT / "packages.yml").exists() and not (DBT_PROJECT / "dependencies.yml").exists()
    manifest = json.loads(dbt_manifest.read_text())
    models = {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert {"stg_customers", "stg_orders", "stg_payments", "customers", "orders"} <= models
    sources = {(s["source_name"], s["name"]) for s in manifest["sources"].values()}
    assert sources == {("raw_data", "raw_customers")}
    tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    assert len(tests) >= 10


def test_dbt_build_makes_one_customer_row_per_raw_customer(
    example_dirs: ExampleDirs, dbt_manifest: Path
) -> None:
    _load_customers(example_dirs)
    work = example_dirs.airflow_home / "dbt"
    result = subprocess.run(
        [
            str(VENV_BIN / "dbt"),
            "build",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=DBT_PROJECT,
        env={**os.environ, **example_dirs.env()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout and "PASS=" in result.stdout
    with duckdb.connect(str(example_dirs.duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from jaffle_shop.main.customers").fetchone() == (100,)
        assert con.execute("select count(*) from jaffle_shop.main.orders").fetchone() == (300,)
        # Cross-check with the seed CSV: customers that appear in no order have zero orders.
        with (DBT_PROJECT / "seeds" / "raw_orders.csv").open() as handle:
            ordering = {int(row["user_id"]) for row in csv.DictReader(handle)}
        without_orders = con.execute(
            "select count(*) from jaffle_shop.main.customers where number_of_orders = 0"
        )
        assert without_orders.fetchone() == (100 - len(ordering),)
        assert con.execute("select sum(number_of_orders) from jaffle_shop.main.customers").fetchone() == (
            300,
        )
