"""The package layout: the definitions builder (``airlift_components.core``) does not depend on the command
line's modules (``airlift_components.cli``, which load definitions and talk to Airflow live), and the
command line package runs as ``python -m airlift_components.cli`` as well as the console script."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import airlift_components.core
import airlift_components.core.defs_builder
import airlift_components.core.progress
print(sorted(m for m in sys.modules if m.startswith("airlift_components.cli")))
"""


def test_definitions_builder_imports_no_command_line_module() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


def test_python_dash_m_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airlift_components.cli", "status", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: airlift-components status")
    assert "--proxied-state-dir" in result.stdout
