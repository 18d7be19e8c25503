"""The Airflow side: proxied state, ``proxying_to_dagster`` and the proxy operators.

Runs inside Airflow's scheduler, DAG processor and workers (Airflow 3 or 2) and never imports dagster;
it needs only ``requests`` and ``pyyaml`` (``pip install 'airlift-components[in-airflow]'``).

Example, at the end of a DAG file::

    from pathlib import Path

    from airlift_components.in_airflow import load_proxied_state_from_yaml, proxying_to_dagster

    proxying_to_dagster(
        global_vars=globals(),
        proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    )
"""

from airlift_components.formats.proxy_targets import ProxyTargets, ProxyTargetsError
from airlift_components.in_airflow.base_operators import (
    BaseProxyDAGToDagsterOperator,
    BaseProxyTaskToDagsterOperator,
    BaseProxyToDagsterOperator,
    DagsterRunFailedError,
)
from airlift_components.in_airflow.dagster_graphql import (
    DagsterAssetNotFoundError,
    DagsterAuthenticationError,
    DagsterGraphQLClient,
    DagsterGraphQLError,
    DagsterQueryError,
    DagsterUnavailableError,
)
from airlift_components.in_airflow.default_operators import (
    DefaultProxyDAGToDagsterOperator,
    DefaultProxyTaskToDagsterOperator,
    DefaultProxyToDagsterOperator,
)
from airlift_components.in_airflow.proxied_state import (
    AirflowProxiedState,
    DagProxiedState,
    ProxiedStateError,
    TaskProxiedState,
    load_proxied_state_from_yaml,
)
from airlift_components.in_airflow.proxying import proxying_to_dagster

__all__ = [
    "AirflowProxiedState",
    "BaseProxyDAGToDagsterOperator",
    "BaseProxyTaskToDagsterOperator",
    "BaseProxyToDagsterOperator",
    "DagProxiedState",
    "DagsterAssetNotFoundError",
    "DagsterAuthenticationError",
    "DagsterGraphQLClient",
    "DagsterGraphQLError",
    "DagsterQueryError",
    "DagsterRunFailedError",
    "DagsterUnavailableError",
    "DefaultProxyDAGToDagsterOperator",
    "DefaultProxyTaskToDagsterOperator",
    "DefaultProxyToDagsterOperator",
    "ProxiedStateError",
    "ProxyTargets",
    "ProxyTargetsError",
    "TaskProxiedState",
    "load_proxied_state_from_yaml",
    "proxying_to_dagster",
]
