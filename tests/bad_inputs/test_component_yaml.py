"""AirflowInstanceComponent YAML errors beyond tests/component (resolved in process, no `dg` subprocess)."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core.mappings import mapped_assets_in

AUTH = {"type": "token", "webserver_url": "http://airflow.invalid", "token_env": "AIRLIFT_TEST_TOKEN"}


def _component(**attributes: Any) -> AirflowInstanceComponent:
    return AirflowInstanceComponent.resolve_from_dict({"name": "prod", "auth": AUTH, **attributes})


def _task_mapping(dag_id: str, task_id: str, *assets: dict[str, Any]) -> dict[str, Any]:
    return {"dag_id": dag_id, "task_mappings": [{"task_id": task_id, "assets": list(assets)}]}


def test_partition_start_date_that_is_not_a_date_names_the_field() -> None:
    component = _component(
        partitions={"type": "daily", "start_date": "yesterday"},
        mappings=[_task_mapping("d", "t", {"key": "a"})],
    )
    with pytest.raises(ValueError, match=r"'prod': partitions.start_date 'yesterday' is not an ISO date"):
        component.mapped_definitions()


def test_unknown_partition_timezone_names_the_field() -> None:
    component = _component(
        partitions={"type": "daily", "start_date": "2024-01-01", "timezone": "Mars/Olympus"},
        mappings=[_task_mapping("d", "t", {"key": "a"})],
    )
    with pytest.raises(ValueError, match=r"partitions.timezone 'Mars/Olympus' is not a known IANA time zone"):
        component.mapped_definitions()


def test_empty_asset_key_names_the_mapping() -> None:
    component = _component(mappings=[_task_mapping("d", "t", {"key": ""})])
    with pytest.raises(
        ValueError, match=r"mappings\[dag_id=d\].task_mappings\[task_id=t\]: give exactly one"
    ):
        component.mapped_definitions()


def test_same_key_inline_and_by_key_is_rejected() -> None:
    component = _component(
        mappings=[_task_mapping("d", "t", {"key": "shared"}), _task_mapping("d", "u", {"by_key": "shared"})]
    )
    with pytest.raises(ValueError, match="'prod': shared is both an inline `key` and a `by_key`"):
        component.mapped_definitions()


def test_zero_sensor_interval_names_the_field() -> None:
    with pytest.raises(ValueError, match="sensor.minimum_interval_seconds must be >= 1, got 0"):
        _component(sensor={"minimum_interval_seconds": 0}).sensor_kwargs()


def test_negative_lookback_names_the_field() -> None:
    with pytest.raises(ValueError, match="sensor.lookback_seconds must be >= 0"):
        _component(sensor={"lookback_seconds": -5}).sensor_kwargs()


def test_unknown_field_in_a_task_mapping_names_it() -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - dagster wraps pydantic's ValidationError
        _component(mappings=[{"dag_id": "d", "task_mappings": [{"task_id": "t", "asset": [{"key": "a"}]}]}])
    # The path reads `mappings...0.task_mappings...0.asset at <file>:<line>` (nested models accept templates).
    message = str(info.value)
    assert "task_mappings" in message and ".0.asset at " in message
    assert "Extra inputs are not permitted" in message


def test_one_inline_key_under_two_tasks_is_one_asset_produced_by_both() -> None:
    component = _component(
        mappings=[
            _task_mapping("daily", "load", {"key": "orders"}),
            _task_mapping("backfill", "load", {"key": "orders"}),
        ]
    )
    (spec,), external = component.mapped_definitions()
    assert external == []
    assert spec.metadata["airlift/task_mappings"] == [
        {"dag_id": "daily", "task_id": "load"},
        {"dag_id": "backfill", "task_id": "load"},
    ]


def test_dag_listed_twice_merges_its_mappings() -> None:
    component = _component(
        mappings=[_task_mapping("d", "t", {"key": "a"}), _task_mapping("d", "u", {"key": "b"})]
    )
    specs, _ = component.mapped_definitions()
    assert sorted(spec.key.to_user_string() for spec in specs) == ["a", "b"]


def test_mappings_given_to_the_builder_are_what_the_specs_metadata_shows() -> None:
    # The builder gets MappedAsset objects built from the YAML; the inline specs carry the same mappings as
    # metadata for the UI. Reading that metadata back must give the builder's view exactly.
    component = _component(
        partitions={"type": "daily", "start_date": "2024-01-01"},
        mappings=[
            _task_mapping(
                "daily", "load", {"key": "orders", "deps": ["raw/orders"]}, {"by_key": "dbt/orders"}
            ),
            _task_mapping("backfill", "load", {"key": "orders"}, {"by_key": "dbt/orders"}),
            {"dag_id": "daily", "assets": [{"key": "orders"}, {"key": "report"}, {"by_key": "dbt/orders"}]},
        ],
    )
    specs, external = component.mapped_definitions()
    mapped = component.mapped_assets()
    assert mapped == [*mapped_assets_in(dg.Definitions(assets=specs)), *external]
    by_key = {asset.key.to_user_string(): asset for asset in mapped}
    assert by_key["orders"].task_handles == (("daily", "load"), ("backfill", "load"))
    assert by_key["orders"].dag_ids == ("daily",)
    assert by_key["orders"].deps == {dg.AssetKey(["raw", "orders"])}
    assert by_key["dbt/orders"].task_handles == (("daily", "load"), ("backfill", "load"))
    assert by_key["dbt/orders"].partitions_def == by_key["report"].partitions_def is not None


def test_numbers_may_be_templates() -> None:
    # Why the ranges are checked in code, not with pydantic `Field(ge=...)`: Dagster's YAML model accepts a
    # template string in every field and would apply such a constraint to the string too ("Unable to apply
    # constraint 'ge'", a TypeError without file or line), refusing `{{ env.X }}` and typos alike.
    component = _component(
        sensor={"minimum_interval_seconds": "{{ 60 }}", "lookback_seconds": "{{ 3600 }}"},
        timeout_seconds="{{ 5 }}",
    )
    kwargs = component.sensor_kwargs()
    assert kwargs["sensor_minimum_interval_seconds"] == 60
    assert kwargs["sensor_settings"].lookback.total_seconds() == 3600
    assert component.resource.timeout_seconds == 5
