"""Fixtures for the tutorial example: a fresh example directory per test and one Airflow 3 with its DAGs.

Paths follow ``example_project.tutorial_env``: ``TUTORIAL_EXAMPLE_DIR`` holds
``example_project/airflow_dags`` and the exported CSVs, ``AIRFLOW_HOME`` holds the DuckDB file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airlift_components.conventions import ENV_DAGSTER_URL, ENV_INSTANCE_NAME
from airlift_components.testing.local_airflow import LocalAirflow, free_port
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example_project"
DBT_PROJECT = EXAMPLE / "dbt"
VENV_BIN = REPO / ".venv" / "bin"


@dataclass(frozen=True)
class ExampleDirs:
    """One test's copy of the example's mutable files."""

    example_dir: Path  # TUTORIAL_EXAMPLE_DIR
    dags_dir: Path
    airflow_home: Path
    duckdb_path: Path

    @property
    def customers_csv(self) -> Path:
        """Where ``export_customers`` writes."""
        return self.example_dir / "customers.csv"

    def env(self) -> dict[str, str]:
        """The environment variables that point the example at these directories."""
        return {
            "TUTORIAL_EXAMPLE_DIR": str(self.example_dir),
            "TUTORIAL_DBT_PROJECT_DIR": str(DBT_PROJECT),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRLIFT_DUCKDB_PATH": str(self.duckdb_path),
        }


def make_example_dirs(base: Path) -> ExampleDirs:
    """Copy the DAGs folder under ``base`` the way the tutorial lays it out."""
    example_dir = base / "example"
    dags_dir = example_dir / "example_project" / "airflow_dags"
    shutil.copytree(EXAMPLE / "airflow_dags", dags_dir, ignore=shutil.ignore_patterns("__pycache__"))
    airflow_home = base / "airflow_home"
    airflow_home.mkdir(parents=True, exist_ok=True)
    return ExampleDirs(example_dir, dags_dir, airflow_home, airflow_home / "jaffle_shop.duckdb")


@pytest.fixture
def example_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExampleDirs:
    """A fresh example directory, with the env vars set for this test only."""
    dirs = make_example_dirs(tmp_path)
    for key, value in dirs.env().items():
        monkeypatch.setenv(key, value)
    return dirs


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """``dbt parse`` of the example project, offline; returns ``target/manifest.json``."""
    result = subprocess.run(
        [
            str(VENV_BIN / "dbt"),
            "parse",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
        ],
        cwd=DBT_PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    return DBT_PROJECT / "target" / "manifest.json"


@pytest.fixture(scope="module")
def example_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalAirflow, ExampleDirs]]:
    """A running Airflow 3 whose DAGs folder is a copy of ``example_project/airflow_dags``."""
    dirs = make_example_dirs(tmp_path_factory.mktemp("example_airflow"))
    airflow = LocalAirflow(
        VENV_BIN / "airflow",
        dirs.dags_dir,
        dirs.airflow_home,
        extra_env={
            **dirs.env(),
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "PATH": str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""),
            # Only triggered runs, no scheduled run on first parse.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            ENV_DAGSTER_URL: f"http://127.0.0.1:{free_port()}",  # nothing listens: proxying is not exercised here
            ENV_INSTANCE_NAME: AIRFLOW_INSTANCE_NAME,
        },
    )
    airflow.start()
    try:
        airflow.wait_for_dags(["rebuild_customers_list", "summarize_orders", "audit_csv_files"])
        yield airflow, dirs
    finally:
        airflow.stop()


def fresh_import(module: str):  # noqa: ANN201 - returns a module
    """Import ``module`` anew (stage modules read paths and Airflow at import time)."""
    import importlib

    for name in [name for name in sys.modules if name == module or name.startswith(module + ".")]:
        del sys.modules[name]
    return importlib.import_module(module)
