"""The Airflow side never imports dagster: it must work in an Airflow environment without it.

And the formats both sides share (``airlift_components.formats``) import neither dagster nor airflow.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = Path(__file__).resolve().parent / "dags" / "standard_dags.py"

SCRIPT = f"""
import importlib.abc, importlib.util, sys

class BlockDagster(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "dagster" or name.startswith(("dagster.", "dagster_")):
            raise ImportError(f"dagster is blocked in this test: {{name}}")
        return None

sys.meta_path.insert(0, BlockDagster())
import airlift_components.in_airflow as in_airflow
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml
import airlift_components.cli

spec = importlib.util.spec_from_file_location("standard_dags", {str(DAG_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert type(module.proxy_middle.task_dict["transform"]).__name__ == "DefaultProxyTaskToDagsterOperator"
leaked = sorted(m for m in sys.modules if m == "dagster" or m.startswith(("dagster.", "dagster_")))
assert not leaked, leaked
print("OK", len(in_airflow.__all__))
"""


FORMATS_SCRIPT = """
import importlib.abc, sys, tempfile
from pathlib import Path

BLOCKED = ("dagster", "airflow")

class BlockFrameworks(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith(BLOCKED):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockFrameworks())
import airlift_components.formats
from airlift_components.formats.proxied_state import load_proxied_state_from_yaml, render_state_file
from airlift_components.formats.proxy_targets import ProxyTargets

folder = Path(tempfile.mkdtemp())
(folder / "shop.yaml").write_text(render_state_file("shop", ["load", "build"]))
assert load_proxied_state_from_yaml(folder).get("shop").tasks["build"].proxied is False
targets = ProxyTargets(dag=(("a",),), tasks={"build": (("b", "c"),)})
assert ProxyTargets.parse(targets.to_json(), dag_asset="x") == targets
leaked = sorted(m for m in sys.modules if m.split(".")[0].startswith(BLOCKED))
assert not leaked, leaked
print("OK")
"""


def _run(python: Path, script: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=180, cwd=REPO, env=_env()
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")} | {"PYTHONPATH": str(REPO)}


def test_in_airflow_imports_and_a_dag_file_parses_with_dagster_blocked():
    result = _run(REPO / ".venv" / "bin" / "python")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_in_airflow_imports_on_airflow2_with_dagster_blocked():
    # .venv-airflow2 (the [in-airflow] extra) has no dagster on a fresh install; block it anyway, for a
    # developer's older .venv-airflow2 that still holds one.
    result = _run(REPO / ".venv-airflow2" / "bin" / "python")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


def test_formats_import_neither_dagster_nor_airflow():
    # Both frameworks are installed in .venv: block them, then read and write both formats.
    result = _run(REPO / ".venv" / "bin" / "python", FORMATS_SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout
