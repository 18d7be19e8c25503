"""The Airflow side installs without dagster: ``pip install 'airlift-components[in-airflow]'`` into a fresh
environment next to Airflow brings no dagster, and the proxying code works there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "tests" / "in_airflow" / "dags" / "standard_dags.py"
UV = Path(sys.executable).parent / "uv"

pytestmark = pytest.mark.timeout(900)

SCRIPT = f"""
import importlib.util, sys
import airlift_components
import airlift_components.in_airflow as in_airflow

print("package at", airlift_components.__file__)
spec = importlib.util.spec_from_file_location("standard_dags", {str(DAG_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert type(module.proxy_middle.task_dict["transform"]).__name__ == "DefaultProxyTaskToDagsterOperator"
print("dagster modules:", sorted(m for m in sys.modules if m.split(".")[0].startswith("dagster")))
# The component's defs.yaml template ships inside the package (read without importing the component).
from importlib.resources import files
template = files("airlift_components").joinpath("components/airflow_instance/templates/defs.yaml.tmpl")
print("template shipped:", template.is_file())
"""


def _airflow2_version() -> str:
    """The Airflow version `make install-airflow2` installed: the fresh environment gets the same one."""
    python = REPO / ".venv-airflow2" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make install-airflow2` first")
    listed = subprocess.run(
        [str(UV), "pip", "list", "--python", str(python), "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = [line for line in listed.splitlines() if line.startswith("apache-airflow==")]
    return line.split("==")[1]


def test_in_airflow_extra_installs_no_dagster_and_proxies_a_dag(tmp_path: Path) -> None:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: run `make install` (uv is a dev dependency)")
    venv = tmp_path / "airflow-env"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH", "VIRTUAL_ENV"))}
    subprocess.run([str(UV), "venv", "--quiet", "--python", "3.11", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    # A wheel of this repository with the Airflow-side extra, as a user installs it into Airflow's environment.
    install = [str(UV), "pip", "install", "--quiet", "--python", str(python)]
    install += [f"apache-airflow=={_airflow2_version()}", f"airlift-components[in-airflow] @ {REPO.as_uri()}"]
    subprocess.run(install, check=True, env=env, timeout=600)

    listed = subprocess.run(
        [str(UV), "pip", "list", "--python", str(python), "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.splitlines()
    names = {line.split("==")[0].lower() for line in listed}
    assert "airlift-components" in names and "apache-airflow" in names
    assert not [name for name in names if name.startswith("dagster")], listed

    run_env = env | {"AIRFLOW_HOME": str(tmp_path / "airflow-home")}
    result = subprocess.run(
        [str(python), "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path, env=run_env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"package at {venv}" in result.stdout  # the installed wheel, not the repository checkout
    assert "dagster modules: []" in result.stdout
    assert "template shipped: True" in result.stdout

    # The Dagster-side commands say what to install instead of a traceback.
    status = subprocess.run(
        [str(venv / "bin" / "airlift-components"), "status", "-f", str(DAG_FILE)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=run_env,
        timeout=300,
    )
    assert status.returncode == 2
    assert "needs the Dagster side installed here" in status.stderr
    assert "pip install 'airlift-components[core]'" in status.stderr
    assert "Traceback" not in status.stderr
