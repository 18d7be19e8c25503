"""``airlift-components proxy scaffold`` writes a state file per DAG with every task ``proxied: False``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from airlift_components.in_airflow import load_proxied_state_from_yaml

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / ".venv" / "bin" / "airlift-components"

DAG_FILE = """
from datetime import datetime
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

for dag_id in ("orders", "customers"):
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="load") >> EmptyOperator(task_id="build") >> EmptyOperator(task_id="export")
    globals()[dag_id] = dag
"""


def _scaffold(dags: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env["AIRFLOW_HOME"] = str(dags.parent / "airflow_home")
    return subprocess.run(
        [str(CLI), "proxy", "scaffold", "--dags-folder", str(dags), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_scaffold_writes_one_file_per_dag_with_all_tasks_not_proxied(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "shop.py").write_text(DAG_FILE)
    result = _scaffold(dags)
    assert result.returncode == 0, result.stderr[-2000:]
    files = sorted(p.name for p in (dags / "proxied_state").iterdir())
    assert files == ["customers.yaml", "orders.yaml"]
    body = yaml.safe_load((dags / "proxied_state" / "orders.yaml").read_text())
    assert body == {"tasks": [{"id": t, "proxied": False} for t in ("load", "build", "export")]}
    state = load_proxied_state_from_yaml(dags / "proxied_state")
    assert state.get("orders").proxied_task_ids == []
    assert "wrote" in result.stdout


def test_scaffold_keeps_existing_files_unless_told_to_overwrite(tmp_path):
    dags = tmp_path / "dags"
    (dags / "proxied_state").mkdir(parents=True)
    (dags / "shop.py").write_text(DAG_FILE)
    mine = "tasks:\n  - id: build\n    proxied: True\n"
    (dags / "proxied_state" / "orders.yaml").write_text(mine)
    result = _scaffold(dags)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (dags / "proxied_state" / "orders.yaml").read_text() == mine
    assert "kept existing" in result.stdout
    assert _scaffold(dags, "--overwrite").returncode == 0
    assert "proxied: False" in (dags / "proxied_state" / "orders.yaml").read_text()


def test_scaffold_to_another_output_dir_and_reports_broken_dag_files(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "shop.py").write_text(DAG_FILE)
    (dags / "broken.py").write_text("from airflow.sdk import DAG\nraise RuntimeError('broken dag file')\n")
    result = _scaffold(dags, "--output-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert "broken.py" in result.stderr and "broken dag file" in result.stderr
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["customers.yaml", "orders.yaml"]


def test_cli_module_imports_only_the_standard_library():
    code = "import sys, airlift_components.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'dagster', 'requests', 'yaml')))"
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
