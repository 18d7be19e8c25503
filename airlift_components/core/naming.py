"""Every Dagster name and Airflow UI link derived from an Airflow instance, in one place.

An instance named ``prod`` gets, for example:

- asset keys ``["prod", "dag", dag_id]`` (a DAG), ``["prod", "airflow_asset", <uri>]`` (an Airflow
  asset), ``["prod", "migration_progress"]`` (the migration overview);
- resource key ``airflow_prod``; groups ``prod__dags`` and ``prod__airflow_assets``; sensors
  ``prod__airflow_dag_status_sensor`` and ``prod__airflow_asset_event_sensor``;
- scaffolded env vars ``AIRFLOW_PROD_*``;
- zero-code task assets ``["prod", "task", dag_id, task_id]`` in group ``prod__zero_code``.

Asset keys keep the instance name and DAG id as they are (a key segment may hold any character).
Names Dagster restricts to ``[A-Za-z0-9_]`` (resource keys, groups, sensors) and env var names pass the
instance name through :func:`safe_identifier`, the one sanitiser.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, urlencode

from dagster import AssetKey

ASSET_KEY_SEGMENT = "airflow_asset"
_KEPT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def safe_identifier(text: str) -> str:
    """``text`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_`` (``prod-eu`` -> ``prod_eu``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


# ------------------------------------------------------------------ asset keys


def dag_asset_key(instance_name: str, dag_id: str) -> AssetKey:
    """``[instance_name, "dag", dag_id]``: unique across instances, no sanitizing."""
    return AssetKey([instance_name, "dag", dag_id])


def overview_asset_key(instance_name: str) -> AssetKey:
    """``[instance_name, "migration_progress"]``: cannot collide with DAG assets (``[name, "dag", id]``)."""
    return AssetKey([instance_name, "migration_progress"])


def airflow_asset_key(instance_name: str, uri: str) -> AssetKey:
    """``[instance_name, "airflow_asset", uri_key_part(uri)]``."""
    return AssetKey([instance_name, ASSET_KEY_SEGMENT, uri_key_part(uri)])


def uri_key_part(uri: str) -> str:
    """The asset-key component for an Airflow asset URI: injective, stable, only ``[A-Za-z0-9_]``.

    ASCII letters and digits are kept; ``/`` becomes ``__``; every other byte of the URI's UTF-8 form
    becomes ``_`` and two lowercase hex digits (so ``_`` itself is ``_5f``, ``.`` is ``_2e``). After a
    ``_`` comes either ``_`` or a hex digit, so the encoding can be decoded and two URIs never share a
    key.

    >>> uri_key_part("s3://warehouse/raw/customers.csv")
    's3_3a____warehouse__raw__customers_2ecsv'
    """
    parts: list[str] = []
    for char in uri:
        if char in _KEPT:
            parts.append(char)
        elif char == "/":
            parts.append("__")
        else:
            parts.extend(f"_{byte:02x}" for byte in char.encode("utf-8"))
    return "".join(parts)


def uri_from_key_part(part: str) -> str:
    """The inverse of :func:`uri_key_part`."""
    out = bytearray()
    i = 0
    while i < len(part):
        char = part[i]
        if char != "_":
            out += char.encode()
            i += 1
        elif part[i + 1] == "_":
            out += b"/"
            i += 2
        else:
            out.append(int(part[i + 1 : i + 3], 16))
            i += 3
    return out.decode("utf-8")


# ------------------------------------------------------------------ names of definitions


def resource_key(instance_name: str) -> str:
    """The resource key an instance's ``AirflowInstanceResource`` is bound under: ``airflow_<name>``."""
    return f"airflow_{safe_identifier(instance_name)}"


def dags_group_name(instance_name: str) -> str:
    """``<instance>__dags``: the group of the DAG assets and the migration overview."""
    return f"{safe_identifier(instance_name)}__dags"


def airflow_assets_group_name(instance_name: str) -> str:
    """``<instance>__airflow_assets``: the group of the Airflow asset (dataset) specs."""
    return f"{safe_identifier(instance_name)}__airflow_assets"


def sensor_name(instance_name: str) -> str:
    """``<instance>__airflow_dag_status_sensor``."""
    return f"{safe_identifier(instance_name)}__airflow_dag_status_sensor"


def asset_event_sensor_name(instance_name: str) -> str:
    """``<instance>__airflow_asset_event_sensor``."""
    return f"{safe_identifier(instance_name)}__airflow_asset_event_sensor"


def reconstruction_key(instance_name: str) -> str:
    """The key of the snapshot in the Definitions' reconstruction metadata (unique per instance)."""
    return f"airlift_components/snapshot/{instance_name}"


def env_var_prefix(instance_name: str) -> str:
    """The prefix of the env vars the scaffolder names: ``prod-eu`` -> ``AIRFLOW_PROD_EU``."""
    return "AIRFLOW_" + safe_identifier(instance_name).upper()


# ------------------------------------------------------------------ Airflow UI links


def dag_url(webserver_url: str, api_version: str, dag_id: str) -> str:
    """The DAG's page in the Airflow UI (Airflow 3: ``/dags/<id>``, Airflow 2: ``/dags/<id>/grid``)."""
    base = f"{webserver_url.rstrip('/')}/dags/{dag_id}"
    return base if api_version == "v2" else f"{base}/grid"


def run_url(webserver_url: str, api_version: str, dag_id: str, run_id: str) -> str:
    """A DAG run's page in the Airflow UI."""
    if api_version == "v2":
        return f"{webserver_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return f"{dag_url(webserver_url, 'v1', dag_id)}?{urlencode({'dag_run_id': run_id})}"


def task_instance_url(
    webserver_url: str, api_version: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> str:
    """A task instance's page in the Airflow UI (``map_index`` >= 0: one mapped instance, Airflow 3)."""
    if api_version == "v2":
        url = f"{run_url(webserver_url, 'v2', dag_id, run_id)}/tasks/{quote(task_id)}"
        return f"{url}/mapped/{map_index}" if map_index >= 0 else url
    query = {"dag_run_id": run_id, "task_id": task_id}
    return f"{dag_url(webserver_url, 'v1', dag_id)}?{urlencode(query)}"


# ------------------------------------------------------------------ zero-code migration


def zero_code_task_asset_key(instance_name: str, dag_id: str, task_id: str) -> AssetKey:
    """``[instance_name, "task", dag_id, task_id]``: a zero-code task's asset when it has no task mapping."""
    return AssetKey([instance_name, "task", dag_id, task_id])


def zero_code_group_name(instance_name: str) -> str:
    """``<instance>__zero_code``: the group of the generated zero-code task assets."""
    return f"{safe_identifier(instance_name)}__zero_code"


def zero_code_op_name(instance_name: str, dag_id: str, task_id: str) -> str:
    """The op name of a zero-code task's asset: ``<instance>__<dag_id>__<task_id>`` made safe, plus a short
    hash of the raw names so two tasks whose names sanitise alike still differ."""
    raw = f"{instance_name}\x00{dag_id}\x00{task_id}"
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    return safe_identifier(f"{instance_name}__{dag_id}__{task_id}") + f"__zc{digest}"
