"""Process checks shared by the zero-code tests that prove no runner or task process outlives its run."""

from __future__ import annotations

import os
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` is still running (a zombie has exited and does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def wait_for_pids(path: Path, timeout: float) -> list[int]:
    """The pids a test task wrote to ``path`` once it started in Dagster; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"the task never started in Dagster: no {path.name}"
        time.sleep(0.5)
    return [int(pid) for pid in path.read_text().split()]


def gone_within(pids: list[int], timeout: float) -> float:
    """Seconds until every pid has exited; fails naming the ones still alive after ``timeout``."""
    started = time.monotonic()
    while still := [pid for pid in pids if alive(pid)]:
        assert time.monotonic() - started < timeout, f"processes {still} still running after {timeout}s"
        time.sleep(0.5)
    return time.monotonic() - started
