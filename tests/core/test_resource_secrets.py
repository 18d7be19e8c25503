"""The resource refuses plain-string secrets where the user writes them, never where Dagster re-creates it.

No Airflow is needed: the check happens when the resource is constructed, and the run below only asks the
resource (as Dagster injects it into an asset) for its values.
"""

from __future__ import annotations

import dagster as dg
import pytest

from airlift_components.airflow_api import BasicAuthBackend
from airlift_components.core import AirflowInstance
from airlift_components.core.resource import AirflowInstanceResource

SECRET = "hunter2-resource-secret"


@pytest.mark.parametrize("field", ["password", "token"])
def test_plain_string_secret_is_refused_naming_the_field_not_the_value(field: str) -> None:
    with pytest.raises(dg.DagsterInvalidDefinitionError) as raised:
        AirflowInstanceResource(name="prod", webserver_url="http://x", username="u", **{field: SECRET})
    message = str(raised.value)
    assert f"`{field}`" in message and "dg.EnvVar" in message and "'prod'" in message
    assert SECRET not in message


def test_allow_plain_secrets_accepts_a_literal_password() -> None:
    resource = AirflowInstanceResource(
        name="prod", webserver_url="http://x", username="u", password=SECRET, allow_plain_secrets=True
    )
    assert resource.password == SECRET


def test_env_var_password_reaches_an_asset_as_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # At run time Dagster re-creates the resource with the env var's value: that must not be refused.
    monkeypatch.setenv("AIRLIFT_TEST_RESOURCE_PW", SECRET)
    seen: list[str | None] = []

    @dg.asset
    def reads_password(airflow_prod: AirflowInstanceResource) -> None:
        seen.append(airflow_prod.password)

    resource = AirflowInstanceResource(
        name="prod", webserver_url="http://x", username="u", password=dg.EnvVar("AIRLIFT_TEST_RESOURCE_PW")
    )
    assert dg.materialize([reads_password], resources={"airflow_prod": resource}).success
    assert seen == [SECRET]
    assert resource.resolved().password == SECRET


def test_python_api_literal_password_never_reaches_resource_config() -> None:
    instance = AirflowInstance(auth_backend=BasicAuthBackend("http://x", "admin", SECRET), name="prod")
    from airlift_components.core.defs_builder import instance_resources

    (resource,) = instance_resources(instance).values()
    assert resource.auth_type == "python" and resource.password is None
    assert SECRET not in repr(resource._get_non_default_public_field_values())
