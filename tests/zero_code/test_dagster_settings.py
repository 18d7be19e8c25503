"""Bad zero-code settings fail clearly, naming the field (Python API and YAML); no Airflow needed."""

from __future__ import annotations

import sys

import pytest

from airlift_components import AirflowInstanceComponent
from airlift_components.core import ZeroCode

AUTH = {"webserver_url": "http://localhost:8080", "username": "admin", "password_env": "AIRFLOW_PASSWORD"}


def test_zero_code_dags_must_be_a_list_of_globs() -> None:
    with pytest.raises(ValueError, match="`dags` must be a list of strings"):
        ZeroCode(dags="orders_*")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`dags` needs at least one DAG id glob"):
        ZeroCode(dags=[])


def test_yaml_zero_code_defaults_to_this_interpreter_and_airflows_fileloc() -> None:
    component = AirflowInstanceComponent.resolve_from_dict(
        {"name": "prod", "auth": AUTH, "zero_code": {"dags": ["orders_*"]}}
    )
    assert component.zero_code_settings() == ZeroCode(dags=("orders_*",), python=sys.executable)


def test_yaml_zero_code_without_dags_is_refused_naming_the_field() -> None:
    with pytest.raises(Exception, match="dags") as raised:
        AirflowInstanceComponent.resolve_from_dict({"name": "prod", "auth": AUTH, "zero_code": {"dags": []}})
    assert "zero_code" in str(raised.value)
