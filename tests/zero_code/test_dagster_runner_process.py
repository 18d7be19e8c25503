"""The zero-code asset's process handling with real processes: output reaches the run log with secrets masked,
and an interrupted step (a terminated Dagster run raises in it) leaves no process of the runner's group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from airlift_components.core.zero_code import ZeroCode
from airlift_components.core.zero_code_run import ZeroCodeTaskRun, run_process, run_zero_code_task
from tests.zero_code.processes import alive

SECRET = "s3cr3t-value-42"


class RecordingLog:
    """Collects log lines; raises KeyboardInterrupt at the line ``interrupt_on`` (as a terminated run does)."""

    def __init__(self, interrupt_on: str | None = None) -> None:
        self.lines: list[str] = []
        self.interrupt_on = interrupt_on

    def info(self, line: str) -> None:
        self.lines.append(line)
        if self.interrupt_on is not None and self.interrupt_on in line:
            raise KeyboardInterrupt


def test_output_is_logged_line_by_line_with_secrets_masked(tmp_path: Path) -> None:
    log = RecordingLog()
    script = f"import sys; print('one'); print('pw={SECRET}'); print('err', file=sys.stderr); sys.exit(3)"
    code, tail = run_process(
        [sys.executable, "-c", script], env=dict(os.environ), cwd=str(tmp_path), log=log, secrets=[SECRET]
    )
    assert code == 3
    assert log.lines == ["one", "pw=***", "err"] == tail


def test_interrupted_step_kills_the_whole_process_group(tmp_path: Path) -> None:
    """The runner's task started a background child; interrupting the step kills both."""
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; echo started; wait"
    log = RecordingLog(interrupt_on="started")
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_process(["bash", "-c", script], env=dict(os.environ), cwd=str(tmp_path), log=log, secrets=[])
    child = int(pid_file.read_text())
    assert not alive(child)
    assert time.monotonic() - started < 30


def test_background_child_left_after_the_runner_exits_is_killed(tmp_path: Path) -> None:
    """A task that leaves a process behind (holding the output pipe) does not keep the step alive or orphan it."""
    pid_file = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; echo done"
    log = RecordingLog()
    started = time.monotonic()
    code, _ = run_process(
        ["bash", "-c", script], env=dict(os.environ), cwd=str(tmp_path), log=log, secrets=[]
    )
    assert code == 0 and log.lines == ["done"]
    assert not alive(int(pid_file.read_text()))
    assert time.monotonic() - started < 30


def test_a_runner_python_that_is_not_executable_fails_naming_the_setting_before_any_request() -> None:
    task = ZeroCodeTaskRun(
        instance_name="inst",
        dag_id="orders",
        task_id="load",
        dag_fileloc=None,
        keys=(dg.AssetKey("load"),),
        settings=ZeroCode(dags=["orders"], python="/nonexistent/bin/python"),
    )
    # No Airflow and no run tags: the check comes before the run's tags and the REST request are read.
    with pytest.raises(dg.Failure) as raised:
        next(iter(run_zero_code_task(dg.build_asset_context(), task, None)))
    message = str(raised.value)
    assert "inst/orders.load" in message
    assert "'/nonexistent/bin/python'" in message
    assert "runner.python" in message
