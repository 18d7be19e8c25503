"""Every name and Airflow UI link derived from an instance comes from ``core/naming.py`` (pure functions)."""

from __future__ import annotations

import re

from dagster import AssetKey

from airlift_components.core.airflow_assets import AssetEventPlan
from airlift_components.core.events import AirflowSensorPlan
from airlift_components.core.naming import (
    airflow_assets_group_name,
    asset_event_sensor_name,
    dag_asset_key,
    dag_url,
    dags_group_name,
    env_var_prefix,
    overview_asset_key,
    resource_key,
    run_url,
    sensor_name,
    task_instance_url,
)

DAGSTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _names(instance_name: str) -> dict[str, str]:
    return {
        "resource": resource_key(instance_name),
        "dags group": dags_group_name(instance_name),
        "airflow assets group": airflow_assets_group_name(instance_name),
        "sensor": sensor_name(instance_name),
        "asset event sensor": asset_event_sensor_name(instance_name),
        "env vars": env_var_prefix(instance_name),
    }


def test_names_of_an_ascii_instance() -> None:
    assert _names("prod-eu.1") == {
        "resource": "airflow_prod_eu_1",
        "dags group": "prod_eu_1__dags",
        "airflow assets group": "prod_eu_1__airflow_assets",
        "sensor": "prod_eu_1__airflow_dag_status_sensor",
        "asset event sensor": "prod_eu_1__airflow_asset_event_sensor",
        "env vars": "AIRFLOW_PROD_EU_1",
    }
    # Asset keys keep the instance name and the DAG id as they are.
    assert dag_asset_key("prod-eu.1", "shop.v2-ünï") == AssetKey(["prod-eu.1", "dag", "shop.v2-ünï"])
    assert overview_asset_key("prod-eu.1") == AssetKey(["prod-eu.1", "migration_progress"])


def test_one_sanitiser_gives_every_name_of_a_non_ascii_instance_the_same_stem() -> None:
    # The resource key and the scaffolded env vars once kept "é" (str.isalnum) while the group and the
    # sensors replaced it: one instance had two stems. Now all names share one, valid for Dagster.
    names = _names("prod-é")
    assert names["resource"] == "airflow_prod__"
    assert names["dags group"] == "prod____dags"
    assert names["env vars"] == "AIRFLOW_PROD__"
    assert all(DAGSTER_NAME.match(name) for name in names.values()), names


def test_airflow_ui_links_for_both_airflow_versions() -> None:
    assert dag_url("http://af/", "v2", "d") == "http://af/dags/d"
    assert dag_url("http://af", "v1", "d") == "http://af/dags/d/grid"
    assert run_url("http://af", "v2", "d", "manual__2024-01-01T00:00:00+00:00") == (
        "http://af/dags/d/runs/manual__2024-01-01T00%3A00%3A00%2B00%3A00"
    )
    assert run_url("http://af", "v1", "d", "r 1") == "http://af/dags/d/grid?dag_run_id=r+1"
    assert task_instance_url("http://af", "v2", "d", "r", "t", map_index=2) == (
        "http://af/dags/d/runs/r/tasks/t/mapped/2"
    )
    assert task_instance_url("http://af", "v1", "d", "r 1", "t") == (
        "http://af/dags/d/grid?dag_run_id=r+1&task_id=t"
    )


def test_the_dag_run_sensor_and_the_asset_event_sensor_link_a_run_the_same_way() -> None:
    for api_version in ("v1", "v2"):
        sensor_plan = AirflowSensorPlan(
            instance_name="i", webserver_url="http://af", api_version=api_version, dag_ids=frozenset()
        )
        asset_plan = AssetEventPlan(
            instance_name="i", webserver_url="http://af", api_version=api_version, uris=frozenset()
        )
        assert asset_plan.run_url("d", "r 1") == sensor_plan.run_url("d", "r 1")
