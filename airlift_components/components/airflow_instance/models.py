"""The YAML schema of ``AirflowInstanceComponent``: what each block of ``defs.yaml`` accepts.

``auth:`` is a union of one model per auth ``type`` (``basic`` when the key is absent), so the JSON
schema that ``dg`` and editors show states which fields each type needs. In that schema ``type`` picks
the model (:func:`discriminated_auth_schema`), so ``dg check defs`` reports a missing, misspelt or
unknown key (or an unknown type) by name with the file and line; at load, pydantic does the same.
Secrets are names of env vars, never values.
"""

from __future__ import annotations

import fnmatch
import functools
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster.components import ResolutionContext
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter

from airlift_components.airflow_api import DagRecord
from airlift_components.core.sensor import SensorSettings
from airlift_components.core.snapshot import AirflowFilter
from airlift_components.core.zero_code import ZeroCode

_URL_EXAMPLES = ["http://localhost:8080", "{{ env.AIRFLOW_URL }}"]


class BasicAuthModel(dg.Model):
    """Username and password (a JWT from `/auth/token` on Airflow 3, HTTP basic auth on Airflow 2)."""

    type: Literal["basic"] = Field(default="basic", description="Username/password auth (the default).")
    webserver_url: str = Field(description="Airflow webserver / API server URL.", examples=_URL_EXAMPLES)
    username: str = Field(description="The Airflow user.", examples=["admin"])
    password_env: str = Field(
        description="Name of the env var holding the password. The UI shows the name only.",
        examples=["AIRFLOW_PASSWORD"],
    )

    def resource_fields(self) -> dict[str, Any]:
        """This block as :class:`AirflowInstanceResource` fields (secrets as ``dg.EnvVar``)."""
        return {
            "webserver_url": self.webserver_url,
            "auth_type": "basic",
            "username": self.username,
            "password": dg.EnvVar(self.password_env),
        }

    def env_vars(self) -> list[str]:
        """The env vars that must be set for this block to authenticate."""
        return [self.password_env]


class _EnvTokenAuthModel(dg.Model):
    """The fields of the auth types that read a token from an env var: the URL and the env var's name."""

    webserver_url: str = Field(description="Airflow webserver / API server URL.", examples=_URL_EXAMPLES)
    token_env: str = Field(
        description="Name of the env var holding the token (the UI shows the name only).",
        examples=["AIRFLOW_API_TOKEN"],
    )

    def env_vars(self) -> list[str]:
        """The env vars that must be set for this block to authenticate."""
        return [self.token_env]


class TokenAuthModel(_EnvTokenAuthModel):
    """A static bearer token read from an env var."""

    type: Literal["token"] = Field(description="Static bearer token.")

    def resource_fields(self) -> dict[str, Any]:
        """This block as :class:`AirflowInstanceResource` fields (secrets as ``dg.EnvVar``)."""
        return {"webserver_url": self.webserver_url, "auth_type": "token", "token": dg.EnvVar(self.token_env)}


class MwaaAuthModel(dg.Model):
    """Amazon MWAA on Airflow 2: a web login token from boto3 turned into a session cookie."""

    type: Literal["mwaa"] = Field(description="Amazon MWAA, Airflow 2.")
    mwaa_environment_name: str = Field(description="The MWAA environment.", examples=["prod-env"])
    aws_region: str | None = Field(
        default=None, description="AWS region (boto3's default when unset).", examples=["eu-west-1"]
    )
    webserver_url: str | None = Field(
        default=None, description="Not needed: MWAA reports the web server host.", examples=_URL_EXAMPLES
    )

    def resource_fields(self) -> dict[str, Any]:
        """This block as :class:`AirflowInstanceResource` fields; the URL is shown as ``mwaa://<env>``."""
        return {
            # The client asks AWS for the real host; the config shows where it comes from.
            "webserver_url": self.webserver_url or f"mwaa://{self.mwaa_environment_name}",
            "auth_type": self.type,
            "mwaa_environment_name": self.mwaa_environment_name,
            "aws_region": self.aws_region,
        }

    def env_vars(self) -> list[str]:
        """The env vars that must be set (none: boto3 finds the AWS credentials)."""
        return []


class MwaaAirflow3AuthModel(MwaaAuthModel):
    """Amazon MWAA on Airflow 3: a web login token from boto3 turned into a JWT."""

    type: Literal["mwaa_airflow3"] = Field(description="Amazon MWAA, Airflow 3.")  # type: ignore[assignment]


class ComposerAuthModel(dg.Model):
    """Google Cloud Composer: OAuth tokens from google-auth."""

    type: Literal["composer"] = Field(description="Google Cloud Composer.")
    webserver_url: str = Field(description="The Composer Airflow web server URL.", examples=_URL_EXAMPLES)
    google_credentials_file: str | None = Field(
        default=None,
        description="Service account key file (default: Application Default Credentials).",
    )

    def resource_fields(self) -> dict[str, Any]:
        """This block as :class:`AirflowInstanceResource` fields."""
        return {
            "webserver_url": self.webserver_url,
            "auth_type": "composer",
            "google_credentials_file": self.google_credentials_file,
        }

    def env_vars(self) -> list[str]:
        """The env vars that must be set (none: google-auth finds the credentials)."""
        return []


class AstronomerAuthModel(_EnvTokenAuthModel):
    """Astronomer: an Astro API token (in ``token_env``), read from its env var at each renewal; the
    URL is the Astro deployment's."""

    type: Literal["astronomer"] = Field(description="Astronomer (Astro API token).")

    def resource_fields(self) -> dict[str, Any]:
        """This block as :class:`AirflowInstanceResource` fields (the env var's name only: read at use)."""
        return {"webserver_url": self.webserver_url, "auth_type": "astronomer", "token_env": self.token_env}


# `type:` -> its model; the pydantic union and the JSON schema's branches are both built from this table.
AUTH_MODELS: dict[str, type[dg.Model]] = {
    "basic": BasicAuthModel,
    "token": TokenAuthModel,
    "mwaa": MwaaAuthModel,
    "mwaa_airflow3": MwaaAirflow3AuthModel,
    "composer": ComposerAuthModel,
    "astronomer": AstronomerAuthModel,
}


def _auth_type(value: Any) -> str:
    # `type` may be left out for basic auth (as before the union).
    found = value.get("type", "basic") if isinstance(value, dict) else getattr(value, "type", "basic")
    return found if isinstance(found, str) else repr(found)


AuthModel = Annotated[
    Union[tuple(Annotated[model, Tag(auth_type)] for auth_type, model in AUTH_MODELS.items())],  # type: ignore[valid-type]
    Discriminator(_auth_type),
]
_AUTH = TypeAdapter(AuthModel)


def discriminated_auth_schema(generated: dict[str, Any]) -> dict[str, Any]:
    """The ``auth`` field's JSON schema with ``type`` choosing the model (``if``/``then``), from pydantic's.

    Pydantic writes ``anyOf: [oneOf: [<one $ref per type>], string]``; a JSON schema validator (``dg check
    defs`` runs one before any model) can then only say that the block "is not valid under any of the given
    schemas". Here ``type`` is an enum (an unknown type is named with the known ones) and selects one model,
    whose own errors are reported: the missing or unexpected key, at the block's line. A string (a template
    rendered at load) is still accepted. The per-type models stay in ``$defs``, referenced by each branch.
    """
    refs = _refs(generated)
    if len(refs) != len(AUTH_MODELS):
        raise ValueError(
            f"expected one $ref per auth type {list(AUTH_MODELS)} in the auth schema, got {refs}"
        )
    branches = []
    for auth_type, ref in zip(AUTH_MODELS, refs, strict=True):
        condition: dict[str, Any] = {"type": "object", "properties": {"type": {"const": auth_type}}}
        if auth_type != "basic":  # a block without `type` is basic
            condition["required"] = ["type"]
        branches.append({"if": condition, "then": {"$ref": ref}})
    kept = {key: generated[key] for key in ("title", "description") if key in generated}
    return {
        **kept,
        # A string is a template rendered at load (Dagster accepts one for every field).
        "anyOf": [{"type": "object"}, {"type": "string"}],
        "properties": {
            "type": {
                "enum": list(AUTH_MODELS),
                "default": "basic",
                "description": "Which auth; it decides the other fields (see each type's model).",
            }
        },
        "allOf": branches,
    }


def _refs(schema: Any) -> list[str]:
    # Every "$ref" in pydantic's union schema, in the union's order.
    if isinstance(schema, dict):
        own = [schema["$ref"]] if isinstance(schema.get("$ref"), str) else []
        return own + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for item in schema for ref in _refs(item)]
    return []


@functools.cache
def with_discriminated_auth(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` (Dagster's model of the component's attributes) with ``auth`` in its JSON schema replaced by
    :func:`discriminated_auth_schema`; validation is unchanged. One subclass per model, same name."""
    dagster_extra = dict(model.model_config.get("json_schema_extra") or {})  # type: ignore[arg-type]

    def json_schema_extra(schema: dict[str, Any]) -> None:
        schema.update(dagster_extra)
        properties = schema.get("properties", {})
        if "auth" in properties:
            properties["auth"] = discriminated_auth_schema(properties["auth"])

    namespace = {
        "__module__": model.__module__,
        "model_config": ConfigDict(json_schema_extra=json_schema_extra),
    }
    return type(model.__name__, (model,), namespace)


def resolve_auth(context: ResolutionContext, model: Any) -> Any:
    """The ``auth:`` block, its ``{{ env.X }}`` templates rendered, as its per-type model."""
    raw = model.model_dump(exclude_unset=True) if hasattr(model, "model_dump") else model
    return _AUTH.validate_python(context.resolve_value(raw))


class FilterModel(dg.Resolvable, dg.Model):
    """Which DAGs to peer. Patterns are globs on DAG ids; tags are matched with `tags_match`."""

    dag_id_patterns: list[str] = Field(
        default_factory=list,
        description="Keep DAGs whose id matches any of these globs (empty = all).",
        examples=[["finance_*", "rebuild_customers_list"]],
    )
    tags: list[str] = Field(
        default_factory=list, description="Keep DAGs carrying these tags.", examples=[["team:data"]]
    )
    tags_match: Literal["any", "all"] = Field(
        default="any", description="any = at least one of `tags` (OR); all = every tag (AND)."
    )
    include_paused: bool = Field(default=True, description="Also peer paused DAGs.")

    def retrieval_filter(self) -> AirflowFilter:
        """Tags (any) and paused-ness, applied by the snapshot fetch; see :meth:`keeps_dag` for the rest."""
        tags = tuple(self.tags) if self.tags and self.tags_match == "any" else None
        return AirflowFilter(airflow_tags=tags, include_paused=self.include_paused)

    def keeps_dag(self, dag: DagRecord) -> bool:
        """DAG id globs (OR) and, with ``tags_match: all``, every tag (AND)."""
        if self.dag_id_patterns and not any(
            fnmatch.fnmatchcase(dag.dag_id, pattern) for pattern in self.dag_id_patterns
        ):
            return False
        return not (self.tags and self.tags_match == "all" and not set(self.tags) <= set(dag.tags))


class AssetRefModel(dg.Resolvable, dg.Model):
    """An asset produced by a task or DAG: an inline spec (`key`) or a reference (`by_key`) to an
    asset defined elsewhere in the project (e.g. dbt models of a DbtProjectComponent)."""

    key: str | None = Field(
        default=None, description="Inline asset key, `/`-separated.", examples=["raw_data/raw_customers"]
    )
    by_key: str | None = Field(
        default=None, description="Key of an asset defined elsewhere, `/`-separated.", examples=["customers"]
    )
    deps: list[str] = Field(default_factory=list, description="Upstream asset keys (inline specs only).")
    description: str | None = Field(default=None, description="Inline specs only.")
    kinds: list[str] = Field(default_factory=list, description="Inline specs only.", examples=[["duckdb"]])


class TaskMappingModel(dg.Resolvable, dg.Model):
    """The assets one Airflow task produces."""

    task_id: str = Field(description="The Airflow task id.", examples=["load_raw_customers"])
    assets: list[AssetRefModel] = Field(description="Assets the task produces.")


class DagMappingModel(dg.Resolvable, dg.Model):
    """Mappings for one DAG: per task, and/or for the whole DAG."""

    dag_id: str = Field(description="The Airflow DAG id.", examples=["rebuild_customers_list"])
    task_mappings: list[TaskMappingModel] = Field(default_factory=list, description="Per-task assets.")
    assets: list[AssetRefModel] = Field(
        default_factory=list, description="Assets materialized when a run of the whole DAG succeeds."
    )


class SensorModel(dg.Resolvable, dg.Model):
    """The sensor that turns Airflow runs into materializations."""

    minimum_interval_seconds: int = Field(default=30, description="Polling interval in seconds (>= 1).")
    default_status: Literal["running", "stopped"] = Field(default="running", description="Initial status.")
    lookback_seconds: int = Field(
        default=86400, description="History the first tick looks back over, in seconds (default 1 day)."
    )

    def builder_kwargs(self, where: str) -> dict[str, Any]:
        """Interval, default status and look-back as :func:`build_defs_from_snapshot` arguments."""
        # Ranges are checked here, not with `Field(ge=...)`: Dagster's YAML model also accepts a template
        # string in each field and would apply the constraint to it (a TypeError naming no file or line).
        if self.minimum_interval_seconds < 1:
            raise ValueError(
                f"{where}: sensor.minimum_interval_seconds must be >= 1, got {self.minimum_interval_seconds}"
            )
        if self.lookback_seconds < 0:
            raise ValueError(f"{where}: sensor.lookback_seconds must be >= 0")
        return {
            "sensor_minimum_interval_seconds": self.minimum_interval_seconds,
            "default_sensor_status": dg.DefaultSensorStatus.RUNNING
            if self.default_status == "running"
            else dg.DefaultSensorStatus.STOPPED,
            "sensor_settings": SensorSettings(lookback=timedelta(seconds=self.lookback_seconds)),
        }


class PartitionsModel(dg.Resolvable, dg.Model):
    """A time-window partitioning applied to the inline mapped assets; the partition of an event comes
    from the Airflow run's logical date."""

    type: Literal["hourly", "daily", "weekly", "monthly"] = Field(description="Partition grain.")
    start_date: str = Field(description="First partition, ISO date.", examples=["2024-01-01"])
    timezone: str = Field(default="UTC", description="Partition timezone.")
    end_offset: int = Field(
        default=0,
        description="Extra partitions past the last complete one (1 = today's daily partition exists).",
        examples=[1],
    )

    def partitions_def(self, where: str) -> dg.TimeWindowPartitionsDefinition:
        """The partitions definition; ``where`` names the component in errors."""
        cls = {
            "hourly": dg.HourlyPartitionsDefinition,
            "daily": dg.DailyPartitionsDefinition,
            "weekly": dg.WeeklyPartitionsDefinition,
            "monthly": dg.MonthlyPartitionsDefinition,
        }[self.type]
        try:
            start = datetime.fromisoformat(self.start_date)
        except ValueError:
            raise ValueError(
                f"{where}: partitions.start_date {self.start_date!r} is not an ISO date such as 2024-01-01"
            ) from None
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{where}: partitions.timezone {self.timezone!r} is not a known IANA time zone such as UTC "
                "or Europe/Paris"
            ) from None
        return cls(start_date=start, timezone=self.timezone, end_offset=self.end_offset)


class ZeroCodeRunnerModel(dg.Resolvable, dg.Model):
    """How the zero-code runner starts: the environment that has the DAGs' dependencies."""

    python: str | None = Field(
        default=None,
        description="The interpreter of Airflow's environment (with airlift-components[in-airflow] installed); "
        "default: the interpreter of the Dagster code location.",
        examples=["/opt/airflow-venv/bin/python"],
    )
    dags_folder: str | None = Field(
        default=None,
        description="Where the DAG files live for the runner; default: the folder of the DAG file as Airflow "
        "reports it (fileloc).",
        examples=["/opt/airflow/dags"],
    )
    env_vars: list[str] = Field(
        default_factory=list,
        description="Names of env vars handed to the task (connections, variables); values are read from the "
        "Dagster process's environment and never shown.",
        examples=[["AIRFLOW_CONN_WAREHOUSE"]],
    )
    keep_warm_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long an idle warm runner (one per machine and runner environment, Airflow already "
        "imported) stays before it exits; 0: every task starts a fresh runner process (cold).",
        examples=[600, 0],
    )


class ZeroCodeModel(dg.Resolvable, dg.Model):
    """Zero-code migration: every task of these DAGs gets an executable asset that runs the Airflow task's
    own code (its task-mapped assets, or `<name>/task/<dag_id>/<task_id>`)."""

    dags: list[str] = Field(
        description="DAG id globs whose tasks get zero-code assets.", examples=[["orders_*"]], min_length=1
    )
    runner: Annotated[
        ZeroCodeRunnerModel | None,
        dg.Resolver.default(
            description="How the runner starts: python (Airflow's environment), dags_folder, env_vars, "
            "keep_warm_seconds."
        ),
    ] = None

    def settings(self, where: str) -> ZeroCode:
        """This block as :class:`~airlift_components.core.zero_code.ZeroCode` (errors name ``where``)."""
        runner = self.runner or ZeroCodeRunnerModel()
        try:
            return ZeroCode(
                dags=tuple(self.dags),
                python=runner.python or sys.executable,
                dags_folder=runner.dags_folder,
                env_vars=tuple(runner.env_vars),
                keep_warm_seconds=runner.keep_warm_seconds,
            )
        except ValueError as exc:
            raise ValueError(f"{where}: zero_code: {exc}") from None
