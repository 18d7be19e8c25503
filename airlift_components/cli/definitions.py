"""The Airflow instances a Dagster code location peers to, read back from its ``Definitions``.

The command-line tools (``status``, ``import-history``) load the user's definitions the way Dagster
does (``-m module`` or ``-f file``, :func:`load_definitions`) and find, per instance (:func:`peered_instances`), the DAG assets (their ``airlift/*``
metadata says which tasks map to which assets), the resource that connects to Airflow, and the
partitions of the mapped assets. Works the same for the Python API and the component.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, Definitions, PartitionsDefinition

from airlift_components.airflow_api import AirflowClient
from airlift_components.conventions import (
    DAG_ID_METADATA_KEY,
    INSTANCE_NAME_METADATA_KEY,
    PROXY_TARGETS_METADATA_KEY,
)
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.mappings import DagMappings
from airlift_components.core.naming import resource_key
from airlift_components.core.resource import AirflowInstanceResource
from airlift_components.formats.proxy_targets import ProxyTargets


class DefinitionsLoadError(ValueError):
    """The definitions could not be loaded or peer to no (such) Airflow instance; names what is at fault."""


def load_definitions(*, module: str | None = None, file: str | Path | None = None) -> Definitions:
    """The ``Definitions`` object of a module (``-m``) or a Python file (``-f``), like ``dagster dev``.

    Example::

        defs = load_definitions(module="example_project.dagster_defs.definitions")
    """
    if (module is None) == (file is None):
        raise DefinitionsLoadError("give exactly one of a definitions module (-m) or file (-f)")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise DefinitionsLoadError(f"definitions file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"_airlift_defs_{path.stem}", path)
        assert spec and spec.loader
        loaded = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(loaded)
        finally:
            sys.path.remove(str(path.resolve().parent))
        where = str(path)
    else:
        assert module is not None
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            raise DefinitionsLoadError(f"definitions module {module!r} not found: {exc}") from exc
        where = f"module {module}"
    found = [value for value in vars(loaded).values() if isinstance(value, Definitions)]
    if len(found) != 1:
        raise DefinitionsLoadError(f"{where} must define exactly one dagster.Definitions, found {len(found)}")
    return found[0]


@dataclass
class PeeredInstance:
    """One Airflow instance as the definitions see it."""

    name: str
    resource: AirflowInstanceResource
    mappings: dict[str, DagMappings] = field(default_factory=dict)  # dag_id -> mappings
    partitions_defs: dict[AssetKey, PartitionsDefinition] = field(default_factory=dict)

    @property
    def dag_ids(self) -> list[str]:
        """The DAGs that have an asset in the definitions, sorted."""
        return sorted(self.mappings)

    @property
    def client(self) -> AirflowClient:
        """The resource's REST client (reused within this process; creating it makes no request)."""
        return self.resource.get_client()

    @property
    def webserver_url(self) -> str:
        """Airflow's base URL as the client reaches it (for MWAA the real URL, not ``mwaa://<env>``)."""
        return self.client.webserver_url

    def plan(self, client: AirflowClient) -> AirflowSensorPlan:
        """The same plan the instance's sensor uses (what maps to what), with links to ``client``'s Airflow
        (its real URL: for MWAA the configuration holds only ``mwaa://<env>``)."""
        return AirflowSensorPlan(
            instance_name=self.name,
            webserver_url=client.webserver_url,
            api_version=client.api_version,
            dag_ids=frozenset(self.mappings),
            task_keys={dag_id: dict(m.task_keys) for dag_id, m in self.mappings.items()},
            dag_keys={dag_id: list(m.dag_keys) for dag_id, m in self.mappings.items() if m.dag_keys},
            partitions_defs=dict(self.partitions_defs),
        )


def peered_instances(defs: Definitions, only: str | None = None) -> dict[str, PeeredInstance]:
    """Every Airflow instance peered in ``defs`` (or just ``only``), with its DAGs' mappings."""
    specs = defs.resolve_all_asset_specs()
    partitions = {spec.key: spec.partitions_def for spec in specs if spec.partitions_def is not None}
    resources = defs.resources or {}
    found: dict[str, PeeredInstance] = {}
    for spec in specs:
        name = spec.metadata.get(INSTANCE_NAME_METADATA_KEY)
        dag_id = spec.metadata.get(DAG_ID_METADATA_KEY)
        if name is None or dag_id is None:
            continue
        name, dag_id = str(getattr(name, "value", name)), str(getattr(dag_id, "value", dag_id))
        if name not in found:
            resource = resources.get(resource_key(name))
            if not isinstance(resource, AirflowInstanceResource):
                raise DefinitionsLoadError(
                    f"instance {name!r}: the definitions bind no AirflowInstanceResource "
                    f"under {resource_key(name)!r}"
                )
            found[name] = PeeredInstance(name, resource)
        raw = spec.metadata.get(PROXY_TARGETS_METADATA_KEY)
        raw = getattr(raw, "value", raw)  # JsonMetadataValue or raw
        targets = (
            ProxyTargets() if raw is None else ProxyTargets.parse(raw, dag_asset=spec.key.to_user_string())
        )
        mapping = DagMappings(
            dag_id,
            task_keys={t: [AssetKey(k) for k in keys] for t, keys in targets.tasks.items()},
            dag_keys=[AssetKey(k) for k in targets.dag],
        )
        found[name].mappings[dag_id] = mapping
        found[name].partitions_defs.update(
            {key: partitions[key] for key in mapping.all_keys() if key in partitions}
        )
    if not found:
        raise DefinitionsLoadError("the definitions peer to no Airflow instance (no DAG assets found)")
    if only is not None:
        if only not in found:
            raise DefinitionsLoadError(
                f"no Airflow instance named {only!r} in the definitions (they have: {', '.join(sorted(found))})"
            )
        return {only: found[only]}
    return found
