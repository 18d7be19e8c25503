"""Fixtures of the core tests: a parsed dbt project for the seed's observe stages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DBT_PROJECT = Path(__file__).resolve().parent / "dbt_project"


@pytest.fixture(scope="session")
def tutorial_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``TUTORIAL_DBT_PROJECT_DIR`` (a copy of tests/core/dbt_project with a parsed manifest) and
    ``TUTORIAL_EXAMPLE_DIR``, as the seed stages expect them."""
    base = tmp_path_factory.mktemp("tutorial")
    project = base / "dbt"
    shutil.copytree(DBT_PROJECT, project)
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "DBT_DUCKDB_PATH": str(base / "core_test.duckdb")}
    completed = subprocess.run(
        [str(dbt), "parse", "--project-dir", str(project), "--profiles-dir", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert (project / "target" / "manifest.json").exists()
    saved = {
        name: os.environ.get(name) for name in ("TUTORIAL_DBT_PROJECT_DIR", "TUTORIAL_EXAMPLE_DIR", "PATH")
    }
    os.environ["TUTORIAL_DBT_PROJECT_DIR"] = str(project)
    os.environ["TUTORIAL_EXAMPLE_DIR"] = str(base)
    # DbtCliResource looks for `dbt` on PATH; the tests may run without the venv activated.
    os.environ["PATH"] = os.pathsep.join([str(dbt.parent), os.environ.get("PATH", "")])
    try:
        yield base
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
