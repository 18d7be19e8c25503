"""The tutorial stages in their YAML (component) form: one defs folder per stage.

Each folder holds an ``airflow/defs.yaml`` (an ``AirflowInstanceComponent``), a ``dbt/defs.yaml``
(dagster-dbt's ``DbtProjectComponent``) where the stage has dbt assets, and Python files only for what
YAML cannot say (the shared task code as executable assets, asset checks). ``standalone`` has no YAML
form: it has no Airflow instance left to describe.

    AIRLIFT_STAGE=observe AIRLIFT_STAGE_FORM=yaml dagster dev -f example_project/dagster_defs/definitions.py
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from example_project.dagster_defs.stages import STAGES
from example_project.tutorial_env import (
    DEFAULT_AIRFLOW_URL,
    airflow_python,
    dbt_project_path,
    export_dbt_env,
    tutorial_example_dir,
)

EXAMPLE_PROJECT_DIR = Path(__file__).resolve().parent.parent  # holds dg.toml
# Every stage but standalone, which has no Airflow instance left to describe.
COMPONENT_STAGES = tuple(stage for stage in STAGES if stage != "standalone")


def export_component_env() -> None:
    """Give the variables the stages' ``defs.yaml`` files read their tutorial defaults (unset ones only)."""
    os.environ.setdefault("AIRLIFT_AIRFLOW_URL", DEFAULT_AIRFLOW_URL)
    os.environ.setdefault("TUTORIAL_DBT_PROJECT_DIR", str(dbt_project_path()))
    # The tutorial Airflow's local admin password (the seed's Python code has it inline).
    os.environ.setdefault("AIRLIFT_AIRFLOW_PASSWORD", "admin")
    # migrate_zero_code's runner settings; airflow_python() refuses a path that is no interpreter.
    os.environ["AIRLIFT_AIRFLOW_PYTHON"] = airflow_python()
    os.environ.setdefault("TUTORIAL_EXAMPLE_DIR", str(tutorial_example_dir()))
    export_dbt_env()
    # DbtProjectComponent runs `dbt` from PATH: use the one installed next to this Python.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def load_component_stage(stage: str):  # -> dagster.Definitions (dagster imported lazily)
    """The ``Definitions`` of ``components/<stage>/``; raises ``ValueError`` for a stage without YAML form.

    ``example_project/dg.toml`` makes this a dg project; component state (the Airflow snapshot) lives in
    ``components/.local_defs_state/`` and is fetched when ``dagster dev`` loads the stage.
    """
    if stage not in COMPONENT_STAGES:
        raise ValueError(f"Stage {stage!r} has no YAML form; choose one of: {', '.join(COMPONENT_STAGES)}")
    from dagster.components import load_defs

    export_component_env()
    module = importlib.import_module(f"example_project.components.{stage}")
    return load_defs(module, project_root=EXAMPLE_PROJECT_DIR)
