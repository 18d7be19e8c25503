"""``AirflowInstanceComponent``: one ``defs.yaml`` per Airflow instance.

Layout (as dagster-dbt's ``components/dbt_project/``): this module holds the fields, the defs-state
contract and ``build_defs``; ``models.py`` the YAML blocks (``auth:`` resolves through
:func:`~airlift_components.components.airflow_instance.models.resolve_auth` into a per-type model, which
becomes the one :class:`~airlift_components.core.AirflowInstanceResource`); ``scaffolder.py`` and
``templates/defs.yaml.tmpl`` what ``dg scaffold defs airflow_instance`` writes.

It builds the same definitions as the Python API (it calls :func:`build_defs_from_snapshot`) and caches
the Airflow snapshot through Dagster's defs-state mechanism: ``dg utils refresh-defs-state`` fetches it,
``dagster dev`` / ``dg`` commands refresh it on load unless ``defs_state.refresh_if_dev: false``.

Example ``defs.yaml``::

    type: airlift_components.AirflowInstanceComponent
    attributes:
      name: prod
      auth:
        type: basic
        webserver_url: http://localhost:8080
        username: admin
        password_env: AIRFLOW_PASSWORD
      mappings:
        - dag_id: rebuild_customers_list
          task_mappings:
            - task_id: load_raw_customers
              assets:
                - key: raw_data/raw_customers
            - task_id: build_dbt_models
              assets:
                - by_key: customers
"""

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import dagster as dg
from dagster.components import (
    ComponentLoadContext,
    DefsStateConfig,
    DefsStateConfigArgs,
    ResolvedDefsStateConfig,
    Resolver,
    StateBackedComponent,
)
from dagster.components.scaffold.scaffold import scaffold_with
from pydantic import BaseModel

from airlift_components.airflow_api import DagRecord
from airlift_components.components.airflow_instance.models import (
    AssetRefModel,
    AuthModel,
    DagMappingModel,
    FilterModel,
    PartitionsModel,
    SensorModel,
    ZeroCodeModel,
    resolve_auth,
    with_discriminated_auth,
)
from airlift_components.components.airflow_instance.scaffolder import AirflowInstanceScaffolder
from airlift_components.core.airflow_assets import AirflowAssetsModel, AirflowAssetsSettings
from airlift_components.core.defs_builder import build_defs_from_snapshot
from airlift_components.core.instance import AirflowInstance
from airlift_components.core.mappings import MappedAsset, mapping_metadata
from airlift_components.core.naming import resource_key
from airlift_components.core.resource import AirflowInstanceResource
from airlift_components.core.snapshot import AirflowFilter, AirflowSnapshot, fetch_snapshot
from airlift_components.core.zero_code import ZeroCode


@dataclass
class _Produced:
    """The producers of one mapped asset in `mappings:`; ``spec`` is set for an inline (`key`) asset."""

    spec: dg.AssetSpec | None = None
    task_handles: list[tuple[str, str]] = field(default_factory=list)
    dag_ids: list[str] = field(default_factory=list)

    def add_task(self, dag_id: str, task_id: str) -> None:
        """Record a producing task (once)."""
        if (dag_id, task_id) not in self.task_handles:
            self.task_handles.append((dag_id, task_id))

    def add_dag(self, dag_id: str) -> None:
        """Record a producing DAG (once)."""
        if dag_id not in self.dag_ids:
            self.dag_ids.append(dag_id)

    def mapped_asset(self, key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None) -> MappedAsset:
        """The builder's view; an inline asset's deps and partitions are its spec's."""
        if self.spec is not None:
            deps = frozenset(dep.asset_key for dep in self.spec.deps)
            partitions_def = self.spec.partitions_def
        else:
            deps = frozenset()
        return MappedAsset(
            key=key,
            deps=deps,
            partitions_def=partitions_def,
            task_handles=tuple(self.task_handles),
            dag_ids=tuple(self.dag_ids),
        )

    def annotated_spec(self) -> dg.AssetSpec:
        """The inline spec with its producers as mapping metadata (what the UI shows)."""
        assert self.spec is not None
        metadata = mapping_metadata(tuple(self.task_handles), tuple(self.dag_ids))
        return self.spec.replace_attributes(metadata={**self.spec.metadata, **metadata})


@scaffold_with(AirflowInstanceScaffolder)
@dataclass
class AirflowInstanceComponent(StateBackedComponent, dg.Resolvable):
    """Peer Dagster to one Airflow instance: an asset per DAG, task/DAG mappings, a materialization sensor,
    and the instance as a resource (`airflow_<name>`).

    Scaffold with `dg scaffold defs airflow_instance <path> --instance-name prod --url http://...`.
    """

    name: Annotated[
        str,
        Resolver.default(
            description="Instance name: the first part of every DAG asset key and of the resource key.",
            examples=["prod"],
        ),
    ]
    auth: Annotated[
        AuthModel,
        Resolver(
            resolve_auth,
            model_field_type=AuthModel,
            description="Connection and credentials; `type` (default basic) says which fields are needed.",
        ),
    ]
    api_version: Annotated[
        Literal["auto", "v1", "v2"],
        Resolver.default(description="v2 = Airflow 3, v1 = Airflow 2, auto = detect once."),
    ] = "auto"
    verify_ssl: Annotated[bool, Resolver.default(description="Verify TLS certificates.")] = True
    ca_bundle_path: Annotated[
        str | None, Resolver.default(description="CA bundle file for a private certificate authority.")
    ] = None
    timeout_seconds: Annotated[float, Resolver.default(description="Timeout of each HTTP request.")] = 30.0
    filter: Annotated[FilterModel | None, Resolver.default(description="Which DAGs to peer.")] = None
    mappings: Annotated[
        list[DagMappingModel], Resolver.default(description="Task- and DAG-level asset mappings.")
    ] = field(default_factory=list)
    sensor: Annotated[SensorModel | None, Resolver.default(description="Sensor settings.")] = None
    partitions: Annotated[
        PartitionsModel | None,
        Resolver.default(description="Time-window partitions for inline mapped assets."),
    ] = None
    on_missing_mapping: Annotated[
        Literal["error", "warn"],
        Resolver.default(description="What a mapping to a DAG/task Airflow does not have does."),
    ] = "error"
    airflow_assets: Annotated[
        AirflowAssetsModel | None,
        Resolver.default(description="Airflow assets / datasets as Dagster assets (off by default)."),
    ] = None
    zero_code: Annotated[
        ZeroCodeModel | None,
        Resolver.default(
            description="Zero-code migration: the tasks of these DAGs run their own Airflow code in Dagster "
            "(executable assets built from the tasks; proxied tasks launch them)."
        ),
    ] = None
    defs_state: ResolvedDefsStateConfig = field(default_factory=DefsStateConfigArgs.local_filesystem)

    @classmethod
    def model(cls) -> type[BaseModel]:
        """Dagster's model of `attributes:`, its `auth` JSON schema chosen by `type`, so `dg check defs` names
        the missing or unknown key (see :func:`~.models.discriminated_auth_schema`)."""
        return with_discriminated_auth(super().model())

    # ------------------------------------------------------------------ pieces

    @property
    def defs_state_config(self) -> DefsStateConfig:
        return DefsStateConfig.from_args(
            self.defs_state, default_key=f"AirflowInstanceComponent[{self.name}]"
        )

    @cached_property
    def resource(self) -> AirflowInstanceResource:
        """The instance's one connection object, built once from `auth:` and the connection settings.

        Secrets are `EnvVar`s, so the UI shows their names only. The sensor, the snapshot fetch and the
        Definitions all use this object (and its client).
        """
        return AirflowInstanceResource(
            name=self.name,
            api_version=self.api_version,
            timeout_seconds=self.timeout_seconds,
            verify_ssl=self.verify_ssl,
            ca_bundle_path=self.ca_bundle_path,
            **self.auth.resource_fields(),
        )

    def build_resource(self) -> AirflowInstanceResource:
        """The instance's resource (:attr:`resource`; kept for callers of earlier versions)."""
        return self.resource

    def build_instance(self) -> AirflowInstance:
        """An `AirflowInstance` over :attr:`resource` with a client of its own, its secrets read from their
        env vars now (they must be set). The sensor keeps using the resource's own client."""
        for var in self.auth.env_vars():
            if var not in os.environ:
                raise ValueError(f"airflow instance {self.name!r}: env var {var} is not set")
        return AirflowInstance.from_resource(self.resource, client=self.resource.create_client())

    def retrieval_filter(self) -> AirflowFilter:
        """What the snapshot fetch filters on (see :meth:`FilterModel.retrieval_filter`)."""
        return (self.filter or FilterModel()).retrieval_filter()

    def keeps_dag(self, dag: DagRecord) -> bool:
        """Whether the `filter:` block keeps ``dag`` (see :meth:`FilterModel.keeps_dag`)."""
        return (self.filter or FilterModel()).keeps_dag(dag)

    def airflow_assets_settings(self) -> AirflowAssetsSettings:
        """The `airflow_assets:` block as builder settings (off when absent)."""
        block = self.airflow_assets or AirflowAssetsModel()
        return block.settings(f"airflow instance {self.name!r}")

    def zero_code_settings(self) -> ZeroCode | None:
        """The `zero_code:` block as builder settings (None when absent)."""
        if self.zero_code is None:
            return None
        return self.zero_code.settings(f"airflow instance {self.name!r}")

    def mapped_dag_ids(self) -> set[str]:
        """DAGs with at least one mapping (their task structure is fetched)."""
        return {mapping.dag_id for mapping in self.mappings}

    def _partitions_def(self) -> dg.TimeWindowPartitionsDefinition | None:
        if self.partitions is None:
            return None
        return self.partitions.partitions_def(f"airflow instance {self.name!r}")

    def _inline_spec(self, ref: AssetRefModel, where: str) -> dg.AssetSpec:
        if ref.key is None:
            raise ValueError(f"{where}: an asset needs `key` (inline spec) or `by_key` (reference)")
        return dg.AssetSpec(
            key=dg.AssetKey.from_user_string(ref.key),
            deps=[dg.AssetKey.from_user_string(dep) for dep in ref.deps],
            description=ref.description,
            kinds=set(ref.kinds) or None,
            partitions_def=self._partitions_def(),
        )

    def _mapped_by_key(self) -> tuple[dict[dg.AssetKey, _Produced], dict[dg.AssetKey, _Produced]]:
        """The `mappings:` block per asset key: inline (`key`) and external (`by_key`), first-seen order."""
        inline: dict[dg.AssetKey, _Produced] = {}
        external: dict[dg.AssetKey, _Produced] = {}

        def produced(ref: AssetRefModel, where: str) -> _Produced:
            self._check_ref(ref, where)
            if ref.by_key:
                return external.setdefault(dg.AssetKey.from_user_string(ref.by_key), _Produced())
            key = dg.AssetKey.from_user_string(ref.key or "")
            if key not in inline:  # the first `key` entry defines the spec; later ones add producers
                inline[key] = _Produced(spec=self._inline_spec(ref, where))
            return inline[key]

        for mapping in self.mappings:
            for task in mapping.task_mappings:
                where = f"mappings[dag_id={mapping.dag_id}].task_mappings[task_id={task.task_id}]"
                for ref in task.assets:
                    produced(ref, where).add_task(mapping.dag_id, task.task_id)
            for ref in mapping.assets:
                produced(ref, f"mappings[dag_id={mapping.dag_id}].assets").add_dag(mapping.dag_id)
        clash = set(inline) & set(external)
        if clash:
            names = ", ".join(sorted(key.to_user_string() for key in clash))
            raise ValueError(
                f"airflow instance {self.name!r}: {names} is both an inline `key` and a `by_key`"
            )
        return inline, external

    def mapped_definitions(self) -> tuple[list[dg.AssetSpec], list[MappedAsset]]:
        """Inline specs (their tasks/DAGs shown as mapping metadata), and mappings onto assets defined
        elsewhere (`by_key`)."""
        inline, external = self._mapped_by_key()
        partitions_def = self._partitions_def()
        return (
            [entry.annotated_spec() for entry in inline.values()],
            [entry.mapped_asset(key, partitions_def) for key, entry in external.items()],
        )

    def mapped_assets(self) -> list[MappedAsset]:
        """Every mapping of the `mappings:` block, inline and `by_key`, as the definitions builder takes
        it: built from the YAML models, not read back from the specs' metadata."""
        return self._specs_and_mapped_assets()[1]

    def _specs_and_mapped_assets(self) -> tuple[list[dg.AssetSpec], list[MappedAsset]]:
        inline, external = self._mapped_by_key()
        partitions_def = self._partitions_def()
        mapped = [
            entry.mapped_asset(key, partitions_def) for key, entry in [*inline.items(), *external.items()]
        ]
        return [entry.annotated_spec() for entry in inline.values()], mapped

    @staticmethod
    def _check_ref(ref: AssetRefModel, where: str) -> None:
        if bool(ref.key) == bool(ref.by_key):
            raise ValueError(f"{where}: give exactly one of `key` (inline spec) or `by_key` (reference)")

    def sensor_kwargs(self) -> dict[str, object]:
        """Sensor interval, default status and look-back for the builder."""
        return (self.sensor or SensorModel()).builder_kwargs(f"airflow instance {self.name!r}")

    # ------------------------------------------------------------------ StateBackedComponent

    def write_state_to_path(self, state_path: Path) -> None:
        """Fetch the Airflow snapshot (DAGs, and tasks of mapped, proxied or zero-code DAGs) and cache it."""
        zero_code = self.zero_code_settings()
        snapshot = fetch_snapshot(
            self.build_instance(),
            self.mapped_dag_ids(),
            dag_selector_fn=self.keeps_dag,
            retrieval_filter=self.retrieval_filter(),
            include_airflow_assets=self.airflow_assets_settings().enabled,
            fetch_tasks_matching=zero_code.matches if zero_code is not None else None,
        )
        state_path.write_text(snapshot.model_dump_json())

    def build_defs_from_state(self, context: ComponentLoadContext, state_path: Path | None) -> dg.Definitions:
        """Definitions from the cached snapshot; no HTTP request. Config errors name the `defs.yaml`."""
        try:
            return self._build_defs_from_state(context, state_path)
        except ValueError as exc:
            # dagster names the file only for schema errors; ours (mappings, sensor, ...) name it here.
            raise type(exc)(f"{_defs_file(context)}: {exc}") from None

    def _build_defs_from_state(
        self, context: ComponentLoadContext, state_path: Path | None
    ) -> dg.Definitions:
        resource = self.resource
        inline, mapped = self._specs_and_mapped_assets()
        # Checked before the snapshot is looked at, so a bad value fails the first load too.
        sensor_kwargs = self.sensor_kwargs()
        airflow_assets = self.airflow_assets_settings()
        zero_code = self.zero_code_settings()
        if state_path is None or not state_path.exists():
            context.log.warning(
                f"Airflow instance {self.name!r}: no cached snapshot yet; run `dg utils refresh-defs-state` "
                "(or `dg dev`) to fetch the DAGs from Airflow. Only the resource is defined until then."
            )
            return dg.Definitions(resources={resource_key(self.name): resource})
        snapshot = AirflowSnapshot.model_validate_json(state_path.read_text())
        # The builder takes the mappings as MappedAsset objects; the inline specs' mapping metadata is
        # for the UI only, so the specs are merged in here rather than passed as `defs` to be read back.
        built = build_defs_from_snapshot(
            snapshot,
            None,
            airflow_instance=AirflowInstance.from_resource(resource),
            on_missing_mapping=self.on_missing_mapping,
            extra_mapped_assets=mapped,
            resources={resource_key(self.name): resource},
            airflow_assets=airflow_assets,
            zero_code=zero_code,
            inline_specs=inline,
            **sensor_kwargs,  # type: ignore[arg-type]
        )
        return built


def _defs_file(context: ComponentLoadContext) -> str:
    """The component's `defs.yaml`, relative to the project root when it is inside it."""
    path = context.path / "defs.yaml" if context.path.is_dir() else context.path
    try:
        return str(path.relative_to(context.project_root))
    except ValueError:
        return str(path)
