"""`dg scaffold defs airflow_instance <path>`: writes a commented `defs.yaml` and the env vars it needs."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

from dagster.components.component.component_scaffolder import Scaffolder
from dagster.components.scaffold.scaffold import ScaffoldRequest
from pydantic import BaseModel, Field

from airlift_components.core.naming import env_var_prefix

TEMPLATE = "templates/defs.yaml.tmpl"


class AirflowInstanceScaffoldParams(BaseModel):
    """Options of `dg scaffold defs airflow_instance`."""

    instance_name: str = Field(default="my_airflow", description="Instance name (asset key prefix).")
    url: str = Field(default="http://localhost:8080", description="Airflow webserver / API server URL.")
    auth_type: Literal["basic", "token", "mwaa"] = Field(default="basic", description="basic, token or mwaa.")


def _template_text() -> str:
    # The template ships inside this package (wheel and editable installs alike).
    return resources.files(__package__).joinpath(TEMPLATE).read_text()


def render_defs_yaml(params: AirflowInstanceScaffoldParams) -> tuple[str, list[str]]:
    """The `defs.yaml` text and the env vars it needs."""
    prefix = env_var_prefix(params.instance_name)
    if params.auth_type == "basic":
        env = [f"{prefix}_PASSWORD"]
        auth = (
            f"    type: basic\n    webserver_url: {params.url}\n    username: admin\n"
            f"    password_env: {env[0]}   # the variable's NAME"
        )
    elif params.auth_type == "token":
        env = [f"{prefix}_TOKEN"]
        auth = f"    type: token\n    webserver_url: {params.url}\n    token_env: {env[0]}   # the variable's NAME"
    else:
        env = ["AWS_REGION"]
        auth = "    type: mwaa\n    mwaa_environment_name: my-mwaa-environment\n    # aws_region: eu-west-1"
    mappings = (
        "    []\n"
        "    # - dag_id: rebuild_customers_list\n"
        "    #   task_mappings:\n"
        "    #     - task_id: load_raw_customers\n"
        "    #       assets:\n"
        "    #         - key: raw_data/raw_customers    # an inline asset spec\n"
        "    #     - task_id: build_dbt_models\n"
        "    #       assets:\n"
        "    #         - by_key: customers              # an asset defined elsewhere (e.g. dbt)\n"
        "    #   assets: []                             # DAG-level: materialized when the run succeeds"
    )
    text = Template(_template_text()).substitute(
        instance_name=params.instance_name, auth_block=auth, mappings_block=mappings
    )
    return text, env


class AirflowInstanceScaffolder(Scaffolder[AirflowInstanceScaffoldParams]):
    """Writes `defs.yaml` (from `templates/defs.yaml.tmpl` next to this module) and `requirements.env` listing the needed env vars."""

    @classmethod
    def get_scaffold_params(cls) -> type[AirflowInstanceScaffoldParams]:
        return AirflowInstanceScaffoldParams

    def scaffold(self, request: ScaffoldRequest[AirflowInstanceScaffoldParams]) -> None:
        params = request.params or AirflowInstanceScaffoldParams()
        text, env = render_defs_yaml(params)
        target = Path(request.target_path)
        target.mkdir(parents=True, exist_ok=True)
        (target / "defs.yaml").write_text(text)
        (target / "requirements.env").write_text(
            "# Environment variables this Airflow instance needs (values are secrets: set them, don't commit them)\n"
            + "".join(f"{name}=\n" for name in env)
        )
