"""airlift-components: peer, observe and migrate Apache Airflow DAGs to Dagster, task by task.

The Dagster-side API lives in :mod:`airlift_components.core`, the Airflow-side API in
:mod:`airlift_components.in_airflow`, the REST client in :mod:`airlift_components.airflow_api`, the
``airlift-components`` command line in :mod:`airlift_components.cli`.
This top-level module stays cheap to import (``dg`` imports it for every command): heavy names are
loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "AirflowInstanceComponent": (
        "airlift_components.components.airflow_instance",
        "AirflowInstanceComponent",
    ),
    "AirflowInstanceResource": ("airlift_components.core.resource", "AirflowInstanceResource"),
    # The short scaffold target: `dg scaffold defs airflow_instance <path>`.
    "airflow_instance": ("airlift_components.components.airflow_instance", "AirflowInstanceComponent"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'airlift_components' has no attribute {name!r}")
    module, attribute = target
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    # dg discovers components by listing this module: the lazy names must be listed too.
    return sorted([*globals(), *_LAZY])


__all__ = ["__version__", *_LAZY]
