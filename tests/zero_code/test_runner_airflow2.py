"""On Airflow 2.11 (its own venv, so the runner really runs in another environment) the zero-code runner
is not available yet: it refuses clearly, naming the Airflow version, and still writes a result file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from airlift_components.formats.zero_code import ZeroCodePayload, ZeroCodeResult

REPO = Path(__file__).resolve().parents[2]
DAGS = Path(__file__).resolve().parent / "dags"


@pytest.mark.airflow2
def test_runner_on_airflow2_refuses_naming_the_version(tmp_path: Path) -> None:
    payload = ZeroCodePayload(
        dag_id="zc_outcomes",
        task_id="skipper",
        run_id="manual__x",
        dags_folder=str(DAGS),
        dag_file="zero_code_dags.py",
    )
    payload.write(tmp_path / "payload.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)})
    proc = subprocess.run(
        [
            str(REPO / ".venv-airflow2" / "bin" / "python"),
            "-m",
            "airlift_components.in_airflow.zero_code",
            str(tmp_path / "payload.json"),
            str(tmp_path / "result.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    result = ZeroCodeResult.read(tmp_path / "result.json")
    assert (result.state, result.error_type, result.retryable) == (
        "failed",
        "ZeroCodeUnsupportedError",
        False,
    )
    assert "needs Airflow 3's Task SDK; this environment has Airflow 2." in (result.error or "")
