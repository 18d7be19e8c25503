"""Moved to :mod:`airlift_components.components.airflow_instance.scaffolder`; this import path keeps working."""

from airlift_components.components.airflow_instance.scaffolder import (
    AirflowInstanceScaffolder,
    AirflowInstanceScaffoldParams,
    render_defs_yaml,
)

__all__ = ["AirflowInstanceScaffoldParams", "AirflowInstanceScaffolder", "render_defs_yaml"]
