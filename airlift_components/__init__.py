"""airlift-components: peer, observe and migrate Apache Airflow DAGs to Dagster, task by task.

The Dagster-side API lives in :mod:`airlift_components.core`, the Airflow-side API in
:mod:`airlift_components.in_airflow`, the REST client in :mod:`airlift_components.airflow_api`.
This top-level module stays cheap to import (``dg`` imports it for every command): heavy names are
loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "AirflowInstanceComponent": "airlift_components.core.component",
    "AirflowInstanceResource": "airlift_components.core.resource",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'airlift_components' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["__version__", *_LAZY]
