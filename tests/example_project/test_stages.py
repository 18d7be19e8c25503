"""Every stage module imports and yields the tutorial's Definitions; the checks fail on bad CSVs.

The Airflow stages peer to a real Airflow 3 that runs the example DAGs; ``standalone`` needs none and
runs its schedule's job in process on real dbt and DuckDB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, Definitions

from airlift_components.conventions import PROXY_MARKER_FIELD
from airlift_components.testing.local_airflow import LocalAirflow, free_port
from example_project.dagster_defs.stages import STAGES
from tests.conftest import make_client
from tests.example_project.conftest import ExampleDirs, fresh_import

INSTANCE = "airflow_instance_one"
DAG_ASSETS = {
    AssetKey([INSTANCE, "dag", dag])
    for dag in ("rebuild_customers_list", "summarize_orders", "audit_csv_files")
} | {AssetKey([INSTANCE, "migration_progress"])}  # the instance's migration overview
DBT_ASSETS = {
    AssetKey(name)
    for name in (
        "stg_customers",
        "stg_orders",
        "stg_payments",
        "customers",
        "orders",
        "raw_orders",
        "raw_payments",
    )
}
TUTORIAL_ASSETS = {AssetKey(["raw_data", "raw_customers"]), AssetKey("customers_csv"), *DBT_ASSETS}
SUMMARY_ASSETS = {AssetKey("order_summary"), AssetKey("order_summary_csv")}
# What zero-code builds from the tasks of rebuild_customers_list (proxied task by task) and of
# summarize_orders (proxied as a whole DAG): one asset per task, no code written.
ZERO_CODE_ASSETS = {
    AssetKey([INSTANCE, "task", "rebuild_customers_list", task])
    for task in ("load_raw_customers", "build_dbt_models", "export_customers")
} | {
    AssetKey([INSTANCE, "task", "summarize_orders", task])
    for task in ("build_order_summary", "export_order_summary")
}
AIRFLOW_STAGES = [stage for stage in STAGES if stage != "standalone"]
EXPECTED_ASSETS = {
    "peer": DAG_ASSETS,
    "peer_with_check": DAG_ASSETS,
    "observe": DAG_ASSETS | TUTORIAL_ASSETS,
    "observe_with_partitions": DAG_ASSETS | TUTORIAL_ASSETS,
    "observe_dag_level": DAG_ASSETS | TUTORIAL_ASSETS,
    "migrate": DAG_ASSETS | TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_dag_level": DAG_ASSETS | TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_with_check": DAG_ASSETS | TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_zero_code": DAG_ASSETS | ZERO_CODE_ASSETS,
    "standalone": TUTORIAL_ASSETS,
}
# Assets Dagster can execute itself (the rest are specs materialized by the sensor).
EXECUTABLE = {
    "peer": set(),
    "peer_with_check": set(),
    "observe": DBT_ASSETS,
    "observe_with_partitions": DBT_ASSETS,
    "observe_dag_level": DBT_ASSETS,
    "migrate": TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_dag_level": TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_with_check": TUTORIAL_ASSETS | SUMMARY_ASSETS,
    "migrate_zero_code": ZERO_CODE_ASSETS,
    "standalone": TUTORIAL_ASSETS,
}


def _load_stage(
    stage: str, monkeypatch: pytest.MonkeyPatch, dirs: ExampleDirs, airflow_url: str
) -> Definitions:
    for key, value in dirs.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRLIFT_AIRFLOW_URL", airflow_url)
    return fresh_import(f"example_project.dagster_defs.stages.{stage}").defs


def _asset_keys(defs: Definitions) -> set[AssetKey]:
    return set(defs.resolve_asset_graph().get_all_asset_keys())


def _executable_keys(defs: Definitions) -> set[AssetKey]:
    graph = defs.resolve_asset_graph()
    return {key for key in graph.get_all_asset_keys() if graph.get(key).is_executable}


@pytest.mark.parametrize("stage", AIRFLOW_STAGES)
def test_airflow_stage_yields_the_tutorial_assets(
    stage: str,
    example_airflow: tuple[LocalAirflow, ExampleDirs],
    dbt_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    airflow, dirs = example_airflow
    defs = _load_stage(stage, monkeypatch, dirs, airflow.url)
    assert _asset_keys(defs) == EXPECTED_ASSETS[stage]
    assert _executable_keys(defs) == EXECUTABLE[stage]
    assert len(list(defs.sensors or [])) == 1  # the Airflow polling sensor


def test_partitioned_stage_gives_every_mapped_asset_daily_partitions(
    example_airflow: tuple[LocalAirflow, ExampleDirs], dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, dirs = example_airflow
    graph = _load_stage("observe_with_partitions", monkeypatch, dirs, airflow.url).resolve_asset_graph()
    for key in TUTORIAL_ASSETS:
        partitions_def = graph.get(key).partitions_def
        assert partitions_def is not None and partitions_def.get_cron_schedule() == "0 0 * * *", key


def test_check_stages_attach_validate_exported_csv(
    example_airflow: tuple[LocalAirflow, ExampleDirs], dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    airflow, dirs = example_airflow
    peer = _load_stage("peer_with_check", monkeypatch, dirs, airflow.url).resolve_asset_graph()
    migrate = _load_stage("migrate_with_check", monkeypatch, dirs, airflow.url).resolve_asset_graph()
    dag_key = AssetKey([INSTANCE, "dag", "rebuild_customers_list"])
    assert AssetCheckKey(dag_key, "validate_exported_csv") in peer.asset_check_keys
    assert AssetCheckKey(AssetKey("customers_csv"), "validate_exported_csv") in migrate.asset_check_keys


def test_airflow_parses_the_example_dags_with_their_proxied_state(
    example_airflow: tuple[LocalAirflow, ExampleDirs],
) -> None:
    client = make_client(example_airflow[0])
    tasks = {task.task_id: task for task in client.list_tasks("rebuild_customers_list")}
    assert set(tasks) == {"load_raw_customers", "build_dbt_models", "export_customers"}
    assert tasks["load_raw_customers"].operator == "LoadCSVToDuckDB"
    assert tasks["build_dbt_models"].downstream_task_ids == ("export_customers",)
    assert not any(
        PROXY_MARKER_FIELD in task.template_fields for task in tasks.values()
    )  # nothing proxied yet
    # summarize_orders.yaml says `proxied: True`: Airflow shows one proxy task instead of the two originals.
    summary = client.list_tasks("summarize_orders")
    assert len(summary) == 1 and PROXY_MARKER_FIELD in summary[0].template_fields
    mapped = {task.task_id: task for task in client.list_tasks("audit_csv_files")}
    assert mapped["count_rows"].is_mapped and not mapped["report"].is_mapped


def test_zero_code_stage_refuses_a_runner_python_that_does_not_exist_naming_the_setting(
    example_dirs: ExampleDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / "no-venv" / "bin" / "python")
    monkeypatch.setenv("AIRLIFT_AIRFLOW_PYTHON", missing)
    # Nothing listens here: the error must come before any request to Airflow.
    monkeypatch.setenv("AIRLIFT_AIRFLOW_URL", f"http://127.0.0.1:{free_port()}")
    expected = rf"AIRLIFT_AIRFLOW_PYTHON='{missing}' \(the zero_code runner python\) is not an executable"
    with pytest.raises(ValueError, match=expected):
        fresh_import("example_project.dagster_defs.stages.migrate_zero_code")
    from example_project.components import load_component_stage

    with pytest.raises(ValueError, match=expected):
        load_component_stage("migrate_zero_code")


def test_definitions_file_picks_the_stage_from_the_environment(
    example_dirs: ExampleDirs, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLIFT_STAGE", "standalone")
    fresh_import("example_project.dagster_defs.stages.standalone")  # built now, from this session's manifest
    definitions = fresh_import("example_project.dagster_defs.definitions")
    assert _asset_keys(definitions.defs) == EXPECTED_ASSETS["standalone"]
    with pytest.raises(ValueError, match="Unknown stage 'nope'"):
        definitions.load_stage_defs("nope")


def test_standalone_schedule_job_materializes_everything_without_airflow(
    example_dirs: ExampleDirs, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Point the Airflow URL at a port where nothing listens: the standalone stage must not need it.
    defs = _load_stage("standalone", monkeypatch, example_dirs, f"http://127.0.0.1:{free_port()}")
    assert not list(defs.sensors or [])
    schedule = defs.resolve_schedule_def("rebuild_customers_list_schedule")
    assert schedule.cron_schedule == "0 0 * * *"
    job = defs.resolve_job_def(schedule.job_name)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance)
        assert result.success
        materialized = {event.asset_key for event in result.get_asset_materialization_events()}
        assert materialized == TUTORIAL_ASSETS
        checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert checks["validate_exported_csv"].passed
    assert checks["validate_exported_csv"].metadata["rows"].value == 100
    lines = example_dirs.customers_csv.read_text().splitlines()
    assert lines[0].startswith("customer_id,first_name,last_name")
    assert len(lines) == 101 and {line.split(",")[0] for line in lines[1:]} == {str(i) for i in range(1, 101)}


def test_standalone_check_fails_when_a_real_export_writes_no_customers(
    example_dirs: ExampleDirs, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    defs = _load_stage("standalone", monkeypatch, example_dirs, f"http://127.0.0.1:{free_port()}")
    job = defs.resolve_job_def(defs.resolve_schedule_def("rebuild_customers_list_schedule").job_name)
    with DagsterInstance.ephemeral() as instance:
        assert job.execute_in_process(instance=instance).success
        # An upstream data bug empties the customers table; then only the export runs again, for real.
        with duckdb.connect(str(example_dirs.duckdb_path)) as con:
            con.execute("DELETE FROM jaffle_shop.main.customers")
        result = job.execute_in_process(instance=instance, asset_selection=[AssetKey("customers_csv")])
        checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert [event.asset_key for event in result.get_asset_materialization_events()] == [
        AssetKey("customers_csv")
    ]
    lines = example_dirs.customers_csv.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("customer_id,first_name,last_name")  # the header only
    check = checks["validate_exported_csv"]
    assert not check.passed
    assert check.severity.value == "WARN"
    assert "is empty" in (check.description or "")


@pytest.mark.parametrize("content", ["", "customer_id,first_name,last_name\n"], ids=["empty", "header_only"])
def test_export_check_fails_when_the_csv_is_empty(
    content: str, example_dirs: ExampleDirs, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_stage("standalone", monkeypatch, example_dirs, f"http://127.0.0.1:{free_port()}")
    validate = sys.modules["example_project.dagster_defs.stages.standalone"].validate_exported_csv
    assert not validate().passed  # no file at all
    example_dirs.customers_csv.write_text(content)
    result = validate()
    assert not result.passed
    assert "is empty" in (result.description or "")
    example_dirs.customers_csv.write_text("customer_id\n1\n")
    assert validate().passed


def test_status_of_the_example_project_equals_the_hand_count(
    example_airflow: tuple[LocalAirflow, ExampleDirs],
    dbt_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from airlift_components.cli import main

    airflow, dirs = example_airflow
    monkeypatch.setenv("AIRLIFT_STAGE", "migrate")
    _load_stage("migrate", monkeypatch, dirs, airflow.url)  # sets the env; definitions.py reuses this import
    definitions = Path(__file__).resolve().parents[2] / "example_project" / "dagster_defs" / "definitions.py"
    code = main(["status", "-f", str(definitions), "--dags-folder", str(dirs.dags_dir), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    dags = {dag["dag_id"]: dag for dag in instance["dags"]}
    counts = {dag_id: (d["tasks"], d["mapped"], d["proxied"], d["left"]) for dag_id, d in dags.items()}
    # By hand, from example_project/airflow_dags and stages/migrate.py: the three tasks of
    # rebuild_customers_list are mapped and still run in Airflow; summarize_orders is proxied as a whole
    # DAG (Airflow lists its one proxy task; its assets are DAG-mapped, not task-mapped).
    assert counts["rebuild_customers_list"] == (3, 3, 0, 3)
    assert counts["summarize_orders"] == (1, 0, 1, 0)
    assert dags["summarize_orders"]["dag_mapped_assets"] == ["order_summary", "order_summary_csv"]
    assert all(not dag["disagreements"] for dag in dags.values())
