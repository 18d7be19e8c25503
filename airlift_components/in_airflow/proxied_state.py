"""Proxied state: which tasks (or whole DAGs) run in Dagster, read from ``proxied_state/<dag_id>.yaml``.

The file format lives in :mod:`airlift_components.formats.proxied_state` (the Dagster side reads the
same files); this module keeps the import path DAG files use::

    from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml
"""

from airlift_components.formats.proxied_state import (
    AirflowProxiedState,
    DagProxiedState,
    ProxiedStateError,
    TaskProxiedState,
    load_proxied_state_from_yaml,
    parse_dag_state,
)

__all__ = [
    "AirflowProxiedState",
    "DagProxiedState",
    "ProxiedStateError",
    "TaskProxiedState",
    "load_proxied_state_from_yaml",
    "parse_dag_state",
]
