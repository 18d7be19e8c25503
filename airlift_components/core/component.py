"""Moved to :mod:`airlift_components.components.airflow_instance`; this import path keeps working."""

from airlift_components.components.airflow_instance.component import AirflowInstanceComponent
from airlift_components.components.airflow_instance.models import AuthModel

__all__ = ["AirflowInstanceComponent", "AuthModel"]
