"""The Dagster code location of the tutorial: the stage named by ``AIRLIFT_STAGE`` (default ``migrate``).

    AIRLIFT_STAGE=observe dagster dev -f example_project/dagster_defs/definitions.py

Stages, in tutorial order: peer, peer_with_check, observe, observe_with_partitions, observe_dag_level,
migrate, migrate_dag_level, migrate_with_check, migrate_zero_code, standalone (see ``stages/``). With
``AIRLIFT_STAGE_FORM=yaml`` the stage is loaded from its component form in ``example_project/components/``
(every stage but standalone).
"""

from __future__ import annotations

import importlib
import os

from dagster import Definitions

from example_project.dagster_defs.stages import DEFAULT_STAGE, STAGE_FORMS, STAGES


def load_stage_defs(stage: str, form: str = "python") -> Definitions:
    """The ``defs`` of ``stages/<stage>.py`` (or of ``components/<stage>/`` for ``form="yaml"``).

    Raises ``ValueError`` for an unknown stage or form.
    """
    if form not in STAGE_FORMS:
        raise ValueError(f"Unknown stage form {form!r}; choose one of: {', '.join(STAGE_FORMS)}")
    if form == "yaml":
        from example_project.components import load_component_stage

        return load_component_stage(stage)
    if stage not in STAGES:
        raise ValueError(f"Unknown stage {stage!r}; choose one of: {', '.join(STAGES)}")
    return importlib.import_module(f"example_project.dagster_defs.stages.{stage}").defs


defs = load_stage_defs(
    os.environ.get("AIRLIFT_STAGE") or DEFAULT_STAGE, os.environ.get("AIRLIFT_STAGE_FORM") or "python"
)
