"""AirflowInstanceComponent, its scaffolder and the resource, against the real test Airflow 3 and real `dg`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster.components.core.component_tree import ComponentTree

from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import REPO

DG = REPO / ".venv" / "bin" / "dg"
SECRET = "Sup3r-Secret-Airflow-Pw"  # not the real password: only shows up if something leaks config values


def make_dg_project(root: Path) -> Path:
    """A minimal dg project (src layout, package `airlift_test_project`) with an empty defs folder."""
    package = root / "src" / "airlift_test_project"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "airlift-test-project"
            version = "0.1.0"
            requires-python = ">=3.10"

            [tool.dg]
            directory_type = "project"

            [tool.dg.project]
            root_module = "airlift_test_project"
            """
        )
    )
    (package / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        textwrap.dedent(
            """\
            from pathlib import Path

            from dagster import definitions, load_from_defs_folder


            @definitions
            def defs():
                return load_from_defs_folder(path_within_project=Path(__file__).parent)
            """
        )
    )
    return root


def run_dg(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `dg` CLI in ``project``."""
    full_env = {
        **os.environ,
        "PATH": f"{DG.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # The project first, then the caller's path (a worktree's code rather than the installed copy).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")])),
        "DAGSTER_HOME": str(project / ".dagster_home"),
        **(env or {}),
    }
    (project / ".dagster_home").mkdir(exist_ok=True)
    return subprocess.run(
        [str(DG), *args], cwd=project, env=full_env, capture_output=True, text=True, timeout=600
    )


def defs_yaml(project: Path, folder: str) -> Path:
    return project / "src" / "airlift_test_project" / "defs" / folder / "defs.yaml"


@pytest.fixture
def dg_project(tmp_path: Path) -> Path:
    return make_dg_project(tmp_path / "project")


# Optional fields the scaffolded defs.yaml documents as commented examples.
DOCUMENTED_OPTIONS = [
    "api_version: auto",
    "verify_ssl: true",
    "filter:",
    "dag_id_patterns:",
    "tags:",
    "tags_match: any",
    "include_paused: true",
    "sensor:",
    "minimum_interval_seconds: 30",
    "default_status: running",
    "lookback_seconds: 86400",
    "partitions:",
    "defs_state:",
    "refresh_if_dev: true",
]


def uncomment_options(text: str) -> str:
    """The scaffolded YAML with its commented examples switched on (the empty `mappings: []` dropped)."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = line[: len(line) - len(stripped)]
        if stripped == "[]":
            continue
        if indent and stripped.startswith("# "):
            line = indent + stripped[2:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_scaffold_by_short_name_writes_commented_yaml_and_env_list(
    dg_project: Path, airflow3: LocalAirflow
) -> None:
    result = run_dg(
        dg_project,
        "scaffold",
        "defs",
        "airflow_instance",
        "prod_airflow",
        "--instance-name",
        "prod",
        "--url",
        airflow3.url,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = defs_yaml(dg_project, "prod_airflow").read_text()
    assert "type: airlift_components.AirflowInstanceComponent" in text
    assert f"webserver_url: {airflow3.url}" in text
    assert "password_env: AIRFLOW_PROD_PASSWORD" in text
    # The comments that matter: the secret is a variable's NAME, the env vars are listed next to the file,
    # and every optional section is documented by a commented example that is itself valid config.
    assert "password_env: AIRFLOW_PROD_PASSWORD   # the variable's NAME" in text
    assert "see requirements.env next to this file" in text
    for documented in DOCUMENTED_OPTIONS:
        assert re.search(rf"^ +# +{re.escape(documented)}", text, re.M), (
            f"{documented!r} not documented:\n{text}"
        )
    uncommented = AirflowInstanceComponent.resolve_from_dict(
        yaml.safe_load(uncomment_options(text))["attributes"]
    )
    assert uncommented.filter is not None and uncommented.filter.tags_match == "any"
    assert uncommented.sensor is not None and uncommented.sensor.default_status == "running"
    assert uncommented.partitions is not None and uncommented.partitions.type == "daily"
    assert uncommented.mappings[0].task_mappings[1].assets[0].by_key == "customers"
    assert uncommented.defs_state.refresh_if_dev is True  # type: ignore[union-attr]
    env_file = defs_yaml(dg_project, "prod_airflow").parent / "requirements.env"
    env_lines = env_file.read_text().splitlines()
    assert env_lines[0].startswith("# ") and env_lines[1:] == ["AIRFLOW_PROD_PASSWORD="]

    # Loads as written once the env var is set; the cached snapshot holds the test Airflow's DAGs.
    check = run_dg(dg_project, "check", "defs", env={"AIRFLOW_PROD_PASSWORD": "admin"})
    assert check.returncode == 0, check.stdout + check.stderr
    listed = run_dg(dg_project, "list", "defs", "--json", env={"AIRFLOW_PROD_PASSWORD": "admin"})
    assert listed.returncode == 0, listed.stderr
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert "prod/dag/simple_chain" in keys and "prod/dag/generated_000" in keys


def test_scaffold_by_full_name_with_token_auth(dg_project: Path) -> None:
    result = run_dg(
        dg_project,
        "scaffold",
        "defs",
        "airlift_components.AirflowInstanceComponent",
        "astro",
        "--instance-name",
        "astro-eu",
        "--url",
        "https://example.invalid",
        "--auth-type",
        "token",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(defs_yaml(dg_project, "astro").read_text())
    assert parsed["attributes"]["name"] == "astro-eu"
    assert parsed["attributes"]["auth"] == {
        "type": "token",
        "webserver_url": "https://example.invalid",
        "token_env": "AIRFLOW_ASTRO_EU_TOKEN",
    }


BAD_YAML_CASES = {
    # case: (attributes, words that must appear in the error)
    "missing_name": ({"auth": {"type": "basic"}}, ["name"]),
    "unknown_auth_type": (
        {"name": "x", "auth": {"type": "kerberos", "webserver_url": "http://x"}},
        # Also the known types, at the line of `type:`.
        [
            "auth",
            "type",
            "kerberos",
            "attributes.auth.type 'kerberos' is not one of ['basic', 'token', 'mwaa'",
        ],
    ),
    "typo_in_field": ({"name": "x", "auth": {"type": "token", "token_env": "T"}, "mapings": []}, ["mapings"]),
    "sensor_interval_not_a_number": (
        {
            "name": "x",
            # A complete auth block, so the sensor's field is the only error.
            "auth": {"type": "token", "webserver_url": "http://x", "token_env": "T"},
            "sensor": {"minimum_interval_seconds": "often"},
        },
        ["minimum_interval_seconds"],
    ),
    "sensor_interval_zero": (
        {
            "name": "x",
            "auth": {"type": "token", "webserver_url": "http://x", "token_env": "T"},
            "defs_state": {"management_type": "LOCAL_FILESYSTEM", "refresh_if_dev": False},
            "sensor": {"minimum_interval_seconds": 0},
        },
        ["sensor.minimum_interval_seconds must be >= 1, got 0"],
    ),
    "asset_with_key_and_by_key": (
        {
            "name": "x",
            "auth": {"type": "token", "webserver_url": "http://x", "token_env": "T"},
            "defs_state": {"management_type": "LOCAL_FILESYSTEM", "refresh_if_dev": False},
            "mappings": [
                {"dag_id": "d", "task_mappings": [{"task_id": "t", "assets": [{"key": "a", "by_key": "b"}]}]}
            ],
        },
        ["mappings[dag_id=d].task_mappings[task_id=t]", "exactly one of `key`"],
    ),
}


# `auth:` blocks missing a key of their type: `dg check defs` (its JSON schema check, before any model runs)
# names the key at the block's line, not only "not valid under any of the given schemas". More shapes (an
# unexpected key, no `type`, MWAA) are checked against the same schema in test_one_connection_object.py.
BAD_AUTH_CASES = {
    # case: (auth block, the line reported, location and message)
    "token_without_webserver_url": (
        {"type": "token", "token_env": "T"},
        2,
        "attributes.auth 'webserver_url' is a required property",
    ),
    "basic_without_password_env": (
        {"type": "basic", "webserver_url": "http://x", "username": "u"},
        2,
        "attributes.auth 'password_env' is a required property",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_AUTH_CASES))
def test_dg_check_defs_names_the_missing_auth_key(dg_project: Path, case: str) -> None:
    # One project per case: `dg check defs` schema-checks only one defs.yaml per component type.
    auth, line, message = BAD_AUTH_CASES[case]
    path = defs_yaml(dg_project, "bad")
    path.parent.mkdir(parents=True)
    attributes = {"name": "x", "auth": auth}
    path.write_text(
        yaml.safe_dump({"type": "airlift_components.AirflowInstanceComponent", "attributes": attributes})
    )
    result = run_dg(dg_project, "check", "defs")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    expected = f"defs/bad/defs.yaml:{line} - airlift_components.AirflowInstanceComponent {message}"
    assert expected in output, f"{expected!r} missing from:\n{output[-3000:]}"
    assert f"type: {auth['type']}" in output  # the snippet under the message shows the block
    assert "not valid under any of the given schemas" not in output, output[-3000:]


@pytest.mark.parametrize("case", sorted(BAD_YAML_CASES))
def test_dg_check_defs_names_file_and_field_of_bad_yaml(dg_project: Path, case: str) -> None:
    attributes, words = BAD_YAML_CASES[case]
    path = defs_yaml(dg_project, "bad")
    path.parent.mkdir(parents=True)
    path.write_text(
        yaml.safe_dump({"type": "airlift_components.AirflowInstanceComponent", "attributes": attributes})
    )
    result = run_dg(dg_project, "check", "defs", env={"T": "token-value"})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "defs/bad/defs.yaml" in output, f"the file is not named in:\n{output[-3000:]}"
    for word in words:
        assert word in output, f"{word!r} missing from:\n{output[-3000:]}"


def test_mapping_to_missing_task_fails_naming_it(dg_project: Path, airflow3: LocalAirflow) -> None:
    path = defs_yaml(dg_project, "prod")
    path.parent.mkdir(parents=True)
    path.write_text(
        yaml.safe_dump(
            {
                "type": "airlift_components.AirflowInstanceComponent",
                "attributes": {
                    "name": "prod",
                    "auth": {
                        "type": "basic",
                        "webserver_url": airflow3.url,
                        "username": "admin",
                        "password_env": "PW",
                    },
                    "mappings": [
                        {
                            "dag_id": "simple_chain",
                            "task_mappings": [{"task_id": "no_such_task", "assets": [{"key": "a"}]}],
                        }
                    ],
                },
            }
        )
    )
    result = run_dg(dg_project, "check", "defs", env={"PW": "admin"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no_such_task" in output and "simple_chain" in output
    assert "defs/prod/defs.yaml" in output, f"the file is not named in:\n{output[-3000:]}"


def _component(airflow: LocalAirflow, name: str = "prod", **extra: object) -> AirflowInstanceComponent:
    attributes = {
        "name": name,
        "auth": {
            "type": "basic",
            "webserver_url": airflow.url,
            "username": "admin",
            "password_env": "AIRLIFT_TEST_PW",
        },
        "mappings": [
            {
                "dag_id": "simple_chain",
                "task_mappings": [
                    {"task_id": "first", "assets": [{"key": "raw/orders"}]},
                    {"task_id": "third", "assets": [{"key": "marts/orders", "deps": ["raw/orders"]}]},
                ],
            }
        ],
        **extra,
    }
    return AirflowInstanceComponent.resolve_from_dict(attributes)


def _component_defs(component: AirflowInstanceComponent, tmp_path: Path) -> dg.Definitions:
    state = tmp_path / f"state_{component.name}"
    component.write_state_to_path(state)
    return component.build_defs_from_state(ComponentTree.for_test().load_context, state)


def test_component_builds_the_same_defs_as_the_python_api(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_PW", "admin")
    from_yaml = _component_defs(_component(airflow3), tmp_path)
    from_python = build_defs_from_airflow_instance(
        airflow_instance=AirflowInstance(
            auth_backend=BasicAuthBackend(airflow3.url, "admin", "admin"), name="prod"
        ),
        defs=dg.Definitions(
            assets=assets_with_task_mappings(
                dag_id="simple_chain",
                task_mappings={
                    "first": [dg.AssetSpec(["raw", "orders"])],
                    "third": [dg.AssetSpec(["marts", "orders"], deps=[["raw", "orders"]])],
                },
            )
        ),
    )
    yaml_graph = from_yaml.resolve_asset_graph()
    python_graph = from_python.resolve_asset_graph()
    assert set(yaml_graph.get_all_asset_keys()) == set(python_graph.get_all_asset_keys())
    dag_key = dg.AssetKey(["prod", "dag", "simple_chain"])
    assert dict(yaml_graph.get(dag_key).metadata) == dict(python_graph.get(dag_key).metadata)
    assert (
        yaml_graph.get(dag_key).parent_keys
        == python_graph.get(dag_key).parent_keys
        == {dg.AssetKey(["marts", "orders"])}
    )
    assert [s.name for s in from_yaml.sensors or []] == [s.name for s in from_python.sensors or []]
    assert "airflow_prod" in (from_yaml.resources or {})


def test_resource_shows_env_var_names_never_the_secret(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.test_utils import instance_for_test
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    monkeypatch.setenv("AIRLIFT_TEST_PW", SECRET)
    component = _component(airflow3)
    resource = component.build_resource()
    # What the UI reads: the resource's configured values through GraphQL.
    module = tmp_path / "ui_defs.py"
    module.write_text(
        textwrap.dedent(
            """\
            import dagster as dg
            from airlift_components.core.resource import AirflowInstanceResource

            defs = dg.Definitions(
                resources={
                    "airflow_prod": AirflowInstanceResource(
                        name="prod",
                        webserver_url="http://airflow.example",
                        username="admin",
                        password=dg.EnvVar("AIRLIFT_TEST_PW"),
                    )
                }
            )
            """
        )
    )
    query = """
    query ($selector: ResourceSelector!) {
      topLevelResourceDetailsOrError(resourceSelector: $selector) {
        __typename
        ... on ResourceDetails { name configuredValues { key value type } }
      }
    }
    """
    with instance_for_test() as instance:
        with define_out_of_process_context(str(module), "defs", instance) as context:
            result = execute_dagster_graphql(
                context,
                query,
                variables={
                    "selector": {
                        "repositoryLocationName": "test_location",
                        "repositoryName": "__repository__",
                        "resourceName": "airflow_prod",
                    }
                },
            )
    details = result.data["topLevelResourceDetailsOrError"]
    assert details["__typename"] == "ResourceDetails", details
    values = {item["key"]: item for item in details["configuredValues"]}
    assert values["password"]["type"] == "ENV_VAR" and values["password"]["value"] == "AIRLIFT_TEST_PW"
    assert SECRET not in json.dumps(details)
    # The component's resource is built the same way: env var, not value.
    assert isinstance(resource._get_non_default_public_field_values()["password"], dg.EnvVar)


def test_plain_string_password_is_refused_by_the_resource() -> None:
    from airlift_components.core.resource import AirflowInstanceResource

    with pytest.raises(dg.DagsterInvalidDefinitionError) as info:
        AirflowInstanceResource(name="p", webserver_url="http://x", username="u", password=SECRET)
    assert "EnvVar" in str(info.value) and SECRET not in str(info.value)


def test_two_instances_in_one_project_do_not_collide(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_PW", "admin")
    one = _component_defs(_component(airflow3, name="one", mappings=[]), tmp_path)
    two = _component_defs(_component(airflow3, name="two", mappings=[]), tmp_path)
    merged = dg.Definitions.merge(one, two)
    keys = set(merged.resolve_asset_graph().get_all_asset_keys())
    assert (
        dg.AssetKey(["one", "dag", "simple_chain"]) in keys
        and dg.AssetKey(["two", "dag", "simple_chain"]) in keys
    )
    assert {s.name for s in merged.sensors or []} == {
        "one__airflow_dag_status_sensor",
        "two__airflow_dag_status_sensor",
    }
    assert {"airflow_one", "airflow_two"} <= set(merged.resources or {})


def test_defs_from_cached_state_make_no_http_request(
    airflow3: LocalAirflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_PW", "admin")
    component = _component(airflow3)
    state = tmp_path / "state"
    component.write_state_to_path(state)
    # Point the component at a closed port: building from the cached state must not notice.
    offline = _component(airflow3)
    offline.auth.webserver_url = "http://127.0.0.1:9"  # type: ignore[misc]
    defs = offline.build_defs_from_state(ComponentTree.for_test().load_context, state)
    assert dg.AssetKey(["prod", "dag", "simple_chain"]) in set(
        defs.resolve_asset_graph().get_all_asset_keys()
    )


def test_by_key_maps_a_task_onto_dbt_assets_of_a_dbt_project_component(
    dg_project: Path, airflow3: LocalAirflow
) -> None:
    import shutil

    dbt_dir = dg_project / "dbt_project"
    shutil.copytree(
        REPO / "example_project" / "dbt", dbt_dir, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb")
    )
    dbt_defs = defs_yaml(dg_project, "jaffle_dbt")
    dbt_defs.parent.mkdir(parents=True)
    dbt_defs.write_text(
        yaml.safe_dump({"type": "dagster_dbt.DbtProjectComponent", "attributes": {"project": str(dbt_dir)}})
    )
    airflow_defs = defs_yaml(dg_project, "prod_airflow")
    airflow_defs.parent.mkdir(parents=True)
    airflow_defs.write_text(
        yaml.safe_dump(
            {
                "type": "airlift_components.AirflowInstanceComponent",
                "attributes": {
                    "name": "prod",
                    "auth": {
                        "type": "basic",
                        "webserver_url": airflow3.url,
                        "username": "admin",
                        "password_env": "PW",
                    },
                    "mappings": [
                        {
                            "dag_id": "simple_chain",
                            "task_mappings": [
                                {
                                    "task_id": "second",
                                    "assets": [{"by_key": "customers"}, {"by_key": "orders"}],
                                }
                            ],
                        }
                    ],
                },
            }
        )
    )
    env = {"PW": "admin", "AIRLIFT_DUCKDB_PATH": str(dg_project / "jaffle.duckdb")}
    result = run_dg(dg_project, "list", "defs", "--json", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assets = {asset["asset_key"]: asset for asset in json.loads(result.stdout)["assets"]}
    assert "customers" in assets and "orders" in assets  # defined once, by the dbt component
    dag_asset = assets["prod/dag/simple_chain"]
    assert {"customers", "orders"} <= set(dag_asset["dependency_keys"])


def test_env_templates_resolve_inside_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_URL", "http://airflow.internal:8080")
    monkeypatch.setenv("AIRLIFT_TEST_DAG", "rebuild_customers_list")
    component = AirflowInstanceComponent.resolve_from_yaml(
        textwrap.dedent(
            """\
            name: prod
            auth: {type: basic, webserver_url: "{{ env.AIRLIFT_TEST_URL }}", username: admin, password_env: PW}
            filter: {dag_id_patterns: ["{{ env.AIRLIFT_TEST_DAG }}"]}
            mappings:
              - dag_id: "{{ env.AIRLIFT_TEST_DAG }}"
                task_mappings: [{task_id: load, assets: [{key: "raw/{{ env.AIRLIFT_TEST_DAG }}"}]}]
            """
        )
    )
    assert component.auth.webserver_url == "http://airflow.internal:8080"
    assert component.filter is not None and component.filter.dag_id_patterns == ["rebuild_customers_list"]
    assert component.mappings[0].dag_id == "rebuild_customers_list"
    assert component.mappings[0].task_mappings[0].assets[0].key == "raw/rebuild_customers_list"
