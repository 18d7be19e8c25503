"""Pure rules of the sensor: records in, asset events out (no Airflow needed).

The proxy marker cases use hand-made task instances; test_sensor.py also runs the real task proxy
operator in Airflow (``core_proxied.work``) and checks that the sensor skips its task instance.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dagster import AssetKey, AssetMaterialization, AssetObservation, DailyPartitionsDefinition

from airlift_components.airflow_api import DagRunRecord, TaskInstanceRecord
from airlift_components.conventions import PROXY_MARKER_DAG, PROXY_MARKER_FIELD, PROXY_MARKER_TASK
from airlift_components.core.events import (
    AirflowSensorPlan,
    dag_run_events,
    finished_run_events,
    partition_for,
    rolled_up_task_events,
    task_instance_events,
)

DAY = datetime(2024, 5, 1, tzinfo=timezone.utc)
DAILY = DailyPartitionsDefinition(start_date="2024-01-01")
PLAN = AirflowSensorPlan(
    instance_name="inst",
    webserver_url="http://airflow:8080",
    api_version="v2",
    dag_ids=frozenset({"dag_a", "dag_b"}),
    task_keys={"dag_a": {"load": [AssetKey("table")], "mapped": [AssetKey("items")]}},
    dag_keys={"dag_b": [AssetKey("report")]},
    partitions_defs={AssetKey("table"): DAILY, AssetKey("report"): DAILY},
)


def ti(
    task_id: str = "load", state: str = "success", marker: str | None = None, **fields: object
) -> TaskInstanceRecord:
    rendered = {"op_args": []}
    if marker is not None:
        rendered[PROXY_MARKER_FIELD] = marker
    values = {
        "dag_id": "dag_a",
        "run_id": "scheduled__2024-05-01",
        "task_id": task_id,
        "state": state,
        "try_number": 2,
        "start_date": DAY + timedelta(days=1),
        "end_date": DAY + timedelta(days=1, minutes=1),
        "logical_date": DAY,
        "rendered_fields": rendered,
        **fields,
    }
    return TaskInstanceRecord(**values)  # type: ignore[arg-type]


def run(state: str = "success", dag_id: str = "dag_b", logical_date: datetime | None = DAY) -> DagRunRecord:
    return DagRunRecord(
        dag_id=dag_id,
        run_id="scheduled__2024-05-01",
        state=state,
        logical_date=logical_date,
        start_date=DAY + timedelta(days=1),
        end_date=DAY + timedelta(days=1, minutes=5),
    )


def test_successful_task_materializes_its_partition_with_metadata() -> None:
    (event,) = task_instance_events(PLAN, ti(), print)
    assert isinstance(event, AssetMaterialization)
    assert event.asset_key == AssetKey("table") and event.partition == "2024-05-01"
    assert event.metadata["airflow/try_number"].value == 2
    assert event.metadata["airflow/run_id"].value == "scheduled__2024-05-01"
    assert event.metadata["airflow/url"].value == (
        "http://airflow:8080/dags/dag_a/runs/scheduled__2024-05-01/tasks/load"
    )


def test_failed_task_is_an_observation_never_a_materialization() -> None:
    (event,) = task_instance_events(PLAN, ti(state="failed"), print)
    assert isinstance(event, AssetObservation)
    assert event.metadata["airflow/state"].value == "failed"


def test_task_proxied_to_dagster_emits_nothing() -> None:
    logs: list[str] = []
    assert task_instance_events(PLAN, ti(marker=PROXY_MARKER_TASK), logs.append) == []
    assert "proxied to Dagster" in logs[0]


def test_unmapped_or_skipped_task_emits_nothing() -> None:
    assert task_instance_events(PLAN, ti(task_id="other"), print) == []
    assert task_instance_events(PLAN, ti(state="skipped"), print) == []


def test_dag_level_proxy_skips_dag_mapped_assets_but_materializes_the_dag_asset() -> None:
    logs: list[str] = []
    events = dag_run_events(PLAN, run(), dag_proxied=True, log=logs.append)
    assert [event.asset_key for event in events] == [AssetKey(["inst", "dag", "dag_b"])]
    assert "proxied" in logs[0]
    normal = dag_run_events(PLAN, run(), dag_proxied=False, log=print)
    assert [(e.asset_key, e.partition) for e in normal] == [
        (AssetKey("report"), "2024-05-01"),
        (AssetKey(["inst", "dag", "dag_b"]), None),
    ]


def test_failed_run_observes_the_dag_asset_only() -> None:
    events = dag_run_events(PLAN, run(state="failed"), dag_proxied=False, log=print)
    assert [type(e) for e in events] == [AssetObservation]
    assert events[0].asset_key == AssetKey(["inst", "dag", "dag_b"])


def test_run_without_logical_date_skips_partitioned_assets_with_a_log() -> None:
    logs: list[str] = []
    events = dag_run_events(PLAN, run(logical_date=None), dag_proxied=False, log=logs.append)
    assert [e.asset_key for e in events] == [AssetKey(["inst", "dag", "dag_b"])]
    assert "no logical date" in logs[0] and "report" in logs[0]


def test_partition_must_start_exactly_at_the_logical_date() -> None:
    assert partition_for(DAILY, DAY) == (True, "2024-05-01", "")
    ok, key, reason = partition_for(DAILY, DAY + timedelta(hours=3))
    assert not ok and key is None and "does not start a partition" in reason
    assert not partition_for(DAILY, datetime(2023, 1, 1, tzinfo=timezone.utc))[0]
    assert partition_for(None, None) == (True, None, "")


def test_mapped_task_rolls_up_into_one_event() -> None:
    tis = [ti(task_id="mapped", map_index=i, try_number=1 + (i == 2)) for i in range(3)]
    (event,) = rolled_up_task_events(PLAN, tis, print)
    assert isinstance(event, AssetMaterialization) and event.asset_key == AssetKey("items")
    assert event.metadata["airflow/map_indexes"].value == 3
    assert event.metadata["airflow/try_number"].value == 2
    failed = rolled_up_task_events(PLAN, [*tis[:2], ti(task_id="mapped", map_index=2, state="failed")], print)
    assert [type(e) for e in failed] == [AssetObservation]
    proxied = [ti(task_id="mapped", map_index=i, marker=PROXY_MARKER_DAG) for i in range(2)]
    assert rolled_up_task_events(PLAN, proxied, print) == []


def test_airflow2_links_use_the_grid_view() -> None:
    plan = AirflowSensorPlan(
        instance_name="i", webserver_url="http://af", api_version="v1", dag_ids=frozenset()
    )
    assert plan.task_instance_url("d", "r 1", "t") == "http://af/dags/d/grid?dag_run_id=r+1&task_id=t"


def test_finished_run_events_are_its_tasks_then_mapped_roll_ups_then_the_run() -> None:
    tis = [
        ti(task_id="mapped", map_index=1, end_date=DAY + timedelta(days=1, minutes=3)),
        ti(end_date=DAY + timedelta(days=1, minutes=4)),
        ti(task_id="mapped", map_index=0, end_date=DAY + timedelta(days=1, minutes=2)),
        ti(task_id="mapped", map_index=2, state="running"),  # not finished: left out of the roll-up
    ]
    events = finished_run_events(PLAN, run(dag_id="dag_a"), tis, print)
    assert [event.asset_key for event in events] == [
        AssetKey("table"),
        AssetKey("items"),
        AssetKey(["inst", "dag", "dag_a"]),
    ]
    assert events[1].metadata["airflow/map_indexes"].value == 2


def test_finished_run_events_of_a_dag_level_proxy_leave_out_the_dag_mapped_assets() -> None:
    proxy = ti(dag_id="dag_b", task_id="proxy_dag", marker=PROXY_MARKER_DAG)
    proxied = finished_run_events(PLAN, run(), [proxy], print)
    assert [event.asset_key for event in proxied] == [AssetKey(["inst", "dag", "dag_b"])]
    # Without task instances (a DAG that is only peered): the run's events alone.
    alone = finished_run_events(PLAN, run(), [], print)
    assert alone == dag_run_events(PLAN, run(), dag_proxied=False, log=print)
    assert [event.asset_key for event in alone] == [AssetKey("report"), AssetKey(["inst", "dag", "dag_b"])]
