"""``AirflowInstanceComponent``: one ``defs.yaml`` per Airflow instance.

| module | holds |
| --- | --- |
| ``component.py`` | the component's fields, its defs-state contract and ``build_defs`` |
| ``models.py`` | the YAML blocks (``auth:`` per type, ``filter:``, ``mappings:``, ``sensor:``, ``partitions:``) |
| ``scaffolder.py`` + ``templates/`` | what ``dg scaffold defs airflow_instance <path>`` writes |
"""

from airlift_components.components.airflow_instance.component import AirflowInstanceComponent
from airlift_components.components.airflow_instance.scaffolder import (
    AirflowInstanceScaffolder,
    AirflowInstanceScaffoldParams,
)

__all__ = ["AirflowInstanceComponent", "AirflowInstanceScaffoldParams", "AirflowInstanceScaffolder"]
