"""One connection object: the YAML `auth:` block, `AirflowInstance` and the sensor all reach Airflow through one
`AirflowInstanceResource` and its one client. No Airflow is needed: building clients makes no request."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import dagster as dg
import pytest
from jsonschema import Draft202012Validator

from airlift_components.airflow_api import BasicAuthBackend
from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.components.airflow_instance.models import AUTH_MODELS, BasicAuthModel, TokenAuthModel
from airlift_components.core import AirflowInstance, AirflowInstanceResource, build_defs_from_snapshot
from airlift_components.core.snapshot import AirflowSnapshot

PASSWORD = "literal-python-api-password"


def _component(auth: dict[str, Any], **attributes: Any) -> AirflowInstanceComponent:
    return AirflowInstanceComponent.resolve_from_dict({"name": "prod", "auth": auth, **attributes})


def _auth_schema() -> dict[str, Any]:
    return AirflowInstanceComponent.get_model_cls().model_json_schema()["$defs"]


@pytest.mark.parametrize(
    ("model", "required"),
    [
        ("BasicAuthModel", {"webserver_url", "username", "password_env"}),
        ("TokenAuthModel", {"type", "webserver_url", "token_env"}),
        ("MwaaAuthModel", {"type", "mwaa_environment_name"}),
        ("MwaaAirflow3AuthModel", {"type", "mwaa_environment_name"}),
        ("ComposerAuthModel", {"type", "webserver_url"}),
        ("AstronomerAuthModel", {"type", "webserver_url", "token_env"}),
    ],
)
def test_json_schema_states_the_fields_each_auth_type_needs(model: str, required: set[str]) -> None:
    assert set(_auth_schema()[model]["required"]) == required


def test_json_schema_lets_auth_type_choose_the_model_of_that_type() -> None:
    schema = AirflowInstanceComponent.get_model_cls().model_json_schema()
    auth = schema["properties"]["auth"]
    assert auth["properties"]["type"]["enum"] == list(AUTH_MODELS)
    chosen = {branch["if"]["properties"]["type"]["const"]: branch["then"]["$ref"] for branch in auth["allOf"]}
    assert set(chosen) == set(AUTH_MODELS)
    for auth_type, ref in chosen.items():
        model = schema["$defs"][ref.removeprefix("#/$defs/")]
        assert auth_type in (
            model["properties"]["type"].get("const"),
            model["properties"]["type"].get("default"),
        )
    validator = Draft202012Validator(schema)
    ok = {"type": "token", "webserver_url": "http://x", "token_env": "T"}
    for auth_block in (ok, {"webserver_url": "http://x", "username": "u", "password_env": "P"}, "{{ auth }}"):
        assert list(validator.iter_errors({"name": "x", "auth": auth_block})) == []
    reported = {
        "token": ["'webserver_url' is a required property", "'token_env' is a required property"],
        "mwaa": ["'mwaa_environment_name' is a required property"],
        "no type (basic)": ["'password_env' is a required property"],
        "unexpected key": ["Additional properties are not allowed ('password_env' was unexpected)"],
        "unknown type": [
            "'kerberos' is not one of ['basic', 'token', 'mwaa', 'mwaa_airflow3', 'composer', 'astronomer']"
        ],
    }
    blocks = {
        "token": {"type": "token"},
        "mwaa": {"type": "mwaa"},
        "no type (basic)": {"webserver_url": "http://x", "username": "u"},
        "unexpected key": {**ok, "password_env": "P"},
        "unknown type": {"type": "kerberos", "webserver_url": "http://x"},
    }
    for case, auth_block in blocks.items():
        errors = [error.message for error in validator.iter_errors({"name": "x", "auth": auth_block})]
        assert errors == reported[case], case


def test_auth_without_type_is_basic_as_before() -> None:
    component = _component({"webserver_url": "http://x", "username": "u", "password_env": "PW"})
    assert isinstance(component.auth, BasicAuthModel)
    assert component.resource.auth_type == "basic"


def test_auth_block_becomes_the_resource_with_env_var_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_URL", "http://from-env:8080")
    component = _component(
        {"type": "token", "webserver_url": "{{ env.AIRLIFT_TEST_URL }}", "token_env": "AIRLIFT_TEST_TOKEN"},
        timeout_seconds=7.0,
        verify_ssl=False,
    )
    assert isinstance(component.auth, TokenAuthModel)
    resource = component.resource
    assert isinstance(resource, AirflowInstanceResource) and resource is component.build_resource()
    assert resource.webserver_url == "http://from-env:8080" and resource.timeout_seconds == 7.0
    assert resource.verify_ssl is False
    assert isinstance(resource._get_non_default_public_field_values()["token"], dg.EnvVar)


def test_missing_auth_field_is_a_schema_error_naming_the_type_and_field() -> None:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - dagster wraps pydantic's ValidationError
        _component({"type": "token", "webserver_url": "http://x"})
    message = str(raised.value)
    assert "auth" in message and "token.token_env" in message and "Field required" in message


def test_component_clients_are_all_made_by_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLIFT_TEST_TOKEN", "t")
    component = _component({"type": "token", "webserver_url": "http://x", "token_env": "AIRLIFT_TEST_TOKEN"})
    resource = component.resource
    sensor_client = resource.get_client()
    assert resource.get_client() is sensor_client  # reused across sensor ticks
    # The snapshot fetch gets a client of its own (secrets read at fetch time), made the same way.
    fetch_client = component.build_instance().client
    assert fetch_client is not sensor_client
    for client in (sensor_client, fetch_client):
        assert (client.max_retries, client.page_size, client.timeout) == (
            resource.max_retries,
            resource.page_size,
            resource.timeout_seconds,
        )


def test_python_instance_produces_the_resource_and_its_client_options_reach_the_sensor_client() -> None:
    instance = AirflowInstance(
        auth_backend=BasicAuthBackend("http://x", "admin", PASSWORD),
        name="prod",
        max_retries=7,
        page_size=13,
        timeout=4.0,
        backoff_seconds=0.1,
    )
    resource = instance.resource
    assert (resource.auth_type, resource.max_retries, resource.page_size) == ("python", 7, 13)
    assert PASSWORD not in repr(resource._get_non_default_public_field_values())
    # The instance's client (snapshot fetch, sensor) and the resource's (assets, CLI) are made the same way.
    for client in (instance.client, resource.get_client()):
        assert (client.max_retries, client.page_size, client.timeout, client.backoff_seconds) == (
            7,
            13,
            4.0,
            0.1,
        )
        assert client.auth_backend is instance.auth_backend
    snapshot = AirflowSnapshot(
        instance_name="prod",
        webserver_url="http://x",
        airflow_version="3.3.0",
        api_version="v2",
        fetched_at=datetime.now(timezone.utc),
        dags=(),
    )
    defs = build_defs_from_snapshot(snapshot, airflow_instance=instance)
    assert defs.resources is not None and defs.resources["airflow_prod"] is resource


def test_python_backend_survives_dagster_recreating_the_resource_for_an_asset() -> None:
    instance = AirflowInstance(auth_backend=BasicAuthBackend("http://x", "admin", PASSWORD), name="prod")
    seen: list[object] = []

    @dg.asset
    def uses_airflow(airflow_prod: AirflowInstanceResource) -> None:
        seen.append(airflow_prod.build_auth_backend())

    assert dg.materialize([uses_airflow], resources={"airflow_prod": instance.resource}).success
    assert seen == [instance.auth_backend]
