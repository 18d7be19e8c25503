"""Paths and URLs of the tutorial example, with defaults so nothing must be exported by hand.

The seed tutorial reads ``TUTORIAL_EXAMPLE_DIR``, ``TUTORIAL_DBT_PROJECT_DIR`` and ``AIRFLOW_HOME``;
each is still honoured, and falls back to this repository's layout:

| variable | default |
| --- | --- |
| ``TUTORIAL_EXAMPLE_DIR`` | the repository root (it holds ``example_project/airflow_dags``) |
| ``TUTORIAL_DBT_PROJECT_DIR`` | ``example_project/dbt`` |
| ``AIRFLOW_HOME`` | ``$TUTORIAL_EXAMPLE_DIR/.airflow_home`` |
| ``AIRLIFT_DUCKDB_PATH`` | ``$AIRFLOW_HOME/jaffle_shop.duckdb`` |
| ``AIRLIFT_AIRFLOW_URL`` | ``http://localhost:8080`` |
| ``AIRLIFT_AIRFLOW_PYTHON`` | the running Python (Airflow and Dagster share this repository's ``.venv``) |

Imported by the Airflow DAG files too, so it imports neither dagster nor airflow.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
AIRFLOW_INSTANCE_NAME = "airflow_instance_one"
DEFAULT_AIRFLOW_URL = "http://localhost:8080"
DUCKDB_DATABASE_NAME = "jaffle_shop"  # DuckDB names the database after the file jaffle_shop.duckdb


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def tutorial_example_dir() -> Path:
    """``TUTORIAL_EXAMPLE_DIR``: the directory that holds ``example_project/airflow_dags`` and ``customers.csv``."""
    return _env_path("TUTORIAL_EXAMPLE_DIR", REPO_DIR)


def airflow_dags_path() -> Path:
    """The Airflow DAGs folder (``$TUTORIAL_EXAMPLE_DIR/example_project/airflow_dags``)."""
    return tutorial_example_dir() / "example_project" / "airflow_dags"


def dbt_project_path() -> Path:
    """``TUTORIAL_DBT_PROJECT_DIR``: the dbt project (``example_project/dbt`` in this repository)."""
    return _env_path("TUTORIAL_DBT_PROJECT_DIR", REPO_DIR / "example_project" / "dbt")


def airflow_home() -> Path:
    """``AIRFLOW_HOME``: where Airflow keeps its state and where the DuckDB file lives."""
    return _env_path("AIRFLOW_HOME", tutorial_example_dir() / ".airflow_home")


def duckdb_path() -> Path:
    """The DuckDB file shared by the Airflow tasks, dbt and the Dagster assets."""
    return _env_path("AIRLIFT_DUCKDB_PATH", airflow_home() / f"{DUCKDB_DATABASE_NAME}.duckdb")


def customers_csv_path() -> Path:
    """The CSV the ``export_customers`` task writes (``$TUTORIAL_EXAMPLE_DIR/customers.csv``)."""
    return tutorial_example_dir() / "customers.csv"


def order_summary_csv_path() -> Path:
    """The CSV the ``summarize_orders`` DAG writes."""
    return tutorial_example_dir() / "order_summary.csv"


def airflow_webserver_url() -> str:
    """``AIRLIFT_AIRFLOW_URL``: the Airflow webserver / API server the Dagster side peers to."""
    return os.environ.get("AIRLIFT_AIRFLOW_URL") or DEFAULT_AIRFLOW_URL


def export_dbt_env() -> None:
    """Make dbt, run as a subprocess by Dagster or Airflow, use the same DuckDB file as the Python tasks.

    Only sets ``AIRLIFT_DUCKDB_PATH`` when it is not set already.
    """
    os.environ.setdefault("AIRLIFT_DUCKDB_PATH", str(duckdb_path()))


def dbt_executable() -> str:
    """The ``dbt`` next to the running Python (the project's virtualenv), else ``dbt`` from ``PATH``."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else (shutil.which("dbt") or "dbt")


def airflow_python() -> str:
    """``AIRLIFT_AIRFLOW_PYTHON``: the interpreter of Airflow's environment, where zero-code tasks run.

    Raises ``ValueError`` naming the variable when it points at no executable file.
    """
    python = os.environ.get("AIRLIFT_AIRFLOW_PYTHON") or sys.executable
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ValueError(
            f"AIRLIFT_AIRFLOW_PYTHON={python!r} (the zero_code runner python) is not an executable file; "
            "point it at the python of Airflow's environment, e.g. /opt/airflow-venv/bin/python"
        )
    return python
