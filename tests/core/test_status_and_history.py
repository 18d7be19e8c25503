"""Migration progress (`status`), task groups / map indexes in metadata, and the history import,
against the real test Airflow 3 and real (ephemeral) Dagster instances.

Hand count for the definitions in ``DEFS_FILE`` (tasks from ``tests/dags``):

| DAG                    | tasks | mapped | proxied | left |
| rebuild_customers_list | 3     | 2      | 0       | 3    |
| core_proxied           | 1     | 1      | 1       | 0    |
| status_groups          | 4     | 3      | 1       | 3    |
| core_fast              | 1     | 0      | 0       | 1    |  (DAG-mapped only)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from airlift_components.cli import main
from airlift_components.core.history import HistoryImportError, import_airflow_history
from airlift_components.core.peered import load_definitions
from airlift_components.core.progress import overview_asset_key
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import run_and_wait, tick, utcnow

NAME = "status_test"
DEFS_FILE = """
from dagster import AssetSpec, DailyPartitionsDefinition, Definitions
from airlift_components.core import (
    AirflowInstance, BasicAuthBackend, assets_with_dag_mappings, assets_with_task_mappings,
    build_defs_from_airflow_instance,
)

DAGS = {"rebuild_customers_list", "core_proxied", "status_groups", "core_fast"}
daily = DailyPartitionsDefinition(start_date="2024-01-01")
defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(BasicAuthBackend("URL", "admin", "admin"), name="NAME"),
    dag_selector_fn=lambda dag: dag.dag_id in DAGS,
    defs=Definitions(assets=[
        *assets_with_task_mappings("rebuild_customers_list", {
            "load_raw_customers": [AssetSpec("st_raw")], "build_dbt_models": [AssetSpec("st_models")],
        }),
        *assets_with_task_mappings("core_proxied", {"work": [AssetSpec("st_proxied")]}),
        *assets_with_task_mappings("status_groups", {
            "extract.load_a": [AssetSpec("st_a")],
            "extract.load_b": [AssetSpec("st_b", partitions_def=daily)],
            "extract.per_file": [AssetSpec("st_files")],
        }),
        *assets_with_dag_mappings({"core_fast": [AssetSpec("st_fast")]}),
    ]),
)
"""
EXPECTED_COUNTS = {
    "rebuild_customers_list": (3, 2, 0, 3),
    "core_proxied": (1, 1, 1, 0),
    "status_groups": (4, 3, 1, 3),
    "core_fast": (1, 0, 0, 1),
}
# An instance on a closed port, bound with a token (which must never appear in the error).
DEAD_DEFS_FILE = """
from dagster import AssetSpec, Definitions
from airlift_components.core.resource import AirflowInstanceResource

defs = Definitions(
    assets=[AssetSpec(["dead", "dag", "x"], metadata={"airlift/dag_id": "x", "airlift/instance_name": "dead"})],
    resources={"airflow_dead": AirflowInstanceResource(
        name="dead", webserver_url="http://127.0.0.1:9", auth_type="token", token="SECRET-TOKEN",
        allow_plain_secrets=True, max_retries=0,
    )},
)
"""
LOGICAL_DATE = datetime(2024, 3, 5, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def defs_file(airflow3: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("status") / "status_defs.py"
    path.write_text(DEFS_FILE.replace("URL", airflow3.url).replace("NAME", NAME))
    return path


@pytest.fixture(scope="module")
def groups_run(airflow3: LocalAirflow):
    """One finished run of status_groups with a logical date (so the daily partition applies)."""
    since = utcnow()
    client = make_client(airflow3)
    run = run_and_wait(client, "status_groups", logical_date=LOGICAL_DATE)
    states = [(ti.task_id, ti.map_index, ti.state) for ti in client.list_task_instances(run_ids=[run.run_id])]
    assert run.state == "success", states
    return since, run


@pytest.fixture()
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "dags" / "proxied_state"
    state.mkdir(parents=True)
    files = {
        "rebuild_customers_list": "tasks:\n  - id: build_dbt_models\n    proxied: True\n",
        "core_proxied": "tasks:\n  - id: work\n    proxied: True\n",
        "status_groups": "tasks:\n  - id: gone_task\n    proxied: False\n  - id: publish\n    proxied: False\n",
    }
    for dag_id, text in files.items():
        (state / f"{dag_id}.yaml").write_text(text)
    return state


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_equals_the_hand_count_and_names_state_file_disagreements(
    defs_file: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = status(
        capsys, "-f", str(defs_file), "--dags-folder", str(state_dir.parent), "--format", "json"
    )
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    assert instance["instance"] == NAME
    dags = {dag["dag_id"]: dag for dag in instance["dags"]}
    counts = {d: (v["tasks"], v["mapped"], v["proxied"], v["left"]) for d, v in dags.items()}
    assert counts == EXPECTED_COUNTS
    assert instance["totals"] == {"dags": 4, "tasks": 9, "mapped": 6, "proxied": 2, "left": 7}
    assert dags["core_fast"]["dag_mapped_assets"] == ["st_fast"]
    assert dags["status_groups"]["task_groups"] == ["extract"]
    assert dags["rebuild_customers_list"]["disagreements"] == [
        "rebuild_customers_list.yaml: task 'build_dbt_models' is proxied in the file, not in Airflow"
    ]
    assert dags["core_proxied"]["disagreements"] == []
    assert dags["status_groups"]["disagreements"] == [
        "status_groups.yaml: task 'gone_task' is not in the DAG Airflow has",
        "status_groups.yaml: task 'publish' is proxied in Airflow, not in the file",
    ]


def test_status_markdown_and_table_show_the_same_numbers(
    defs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, markdown, _ = status(capsys, "-f", str(defs_file), "--format", "markdown")
    assert code == 0
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert lines[0] == "| dag_id | tasks | mapped | proxied | left |"
    parsed = {
        cells[0]: tuple(int(c) for c in cells[1:])
        for cells in (line.strip("| ").split(" | ") for line in lines[2:])
    }
    assert parsed == EXPECTED_COUNTS
    code, table, _ = status(capsys, "-f", str(defs_file))
    assert code == 0
    row = next(line for line in table.splitlines() if "status_groups" in line)
    assert [cell.strip() for cell in row.split("│")[1:6]] == ["status_groups", "4", "3", "1", "3"]


def test_dagster_shows_progress_on_dag_assets_and_an_instance_overview(defs_file: Path) -> None:
    defs = load_definitions(file=defs_file)
    spec = defs.resolve_assets_def(AssetKey([NAME, "dag", "status_groups"])).specs_by_key[
        AssetKey([NAME, "dag", "status_groups"])
    ]
    table = spec.metadata["Migration progress"].value
    assert "tasks: 4, mapped: 3, proxied: 1, left: 3" in table
    assert "| extract.per_file | extract | st_files | no |" in table
    assert "| publish |  |  | yes |" in table
    overview = defs.resolve_assets_def(overview_asset_key(NAME)).specs_by_key[overview_asset_key(NAME)]
    assert "| status_groups | 4 | 3 | 1 | 3 |" in overview.metadata["Migration progress"].value
    assert overview.metadata["Total proxied"].value == 2


def test_status_bad_inputs_are_named(
    defs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = status(capsys, "-f", str(defs_file), "--dags-folder", str(tmp_path / "nope"))
    assert code == 2 and f"DAGs folder {tmp_path / 'nope'} does not exist" in err
    code, _, err = status(capsys, "-f", str(defs_file), "--instance", "prod")
    assert code == 2 and "no Airflow instance named 'prod'" in err and NAME in err
    dead = tmp_path / "dead_defs.py"
    dead.write_text(DEAD_DEFS_FILE)
    code, _, err = status(capsys, "-f", str(dead))
    assert code == 2 and "http://127.0.0.1:9" in err and "SECRET-TOKEN" not in err


def test_task_group_and_map_index_count_are_in_materialization_metadata(
    airflow3: LocalAirflow, defs_file: Path, groups_run
) -> None:
    since, run = groups_run
    from airlift_components.core.sensor import SensorCursor

    defs = load_definitions(file=defs_file)
    cursor = SensorCursor.initial(since, timedelta(0)).serialize()
    with DagsterInstance.ephemeral() as instance:
        ticks = [tick(defs, instance, cursor, NAME, run_checks=False)]
        ticks.append(tick(defs, instance, ticks[-1].cursor, NAME, run_checks=False))
        events = {
            e.asset_key.to_user_string(): e
            for data in ticks
            for e in data.asset_events
            if e.metadata["airflow/run_id"].value == run.run_id
        }
    assert events["st_a"].metadata["airflow/task_group"].value == "extract"
    assert events["st_files"].metadata["airflow/task_group"].value == "extract"
    assert events["st_files"].metadata["airflow/map_indexes"].value == 2
    assert events["st_b"].partition == "2024-03-05"


def _materializations(instance: DagsterInstance, key: str) -> list:
    return list(instance.fetch_materializations(AssetKey.from_user_string(key), limit=100).records)


def test_history_import_twice_stores_each_event_once_with_airflow_timestamps_and_partitions(
    defs_file: Path, groups_run
) -> None:
    since, run = groups_run
    defs = load_definitions(file=defs_file)
    end = utcnow() + timedelta(minutes=1)
    with DagsterInstance.ephemeral() as instance:
        (first,) = import_airflow_history(defs, instance, since, end)
        (second,) = import_airflow_history(defs, instance, since, end)
        assert first.imported > 0 and first.already_present == 0
        assert second.imported == 0 and second.already_present == first.imported
        (record,) = [
            r
            for r in _materializations(instance, "st_b")
            if r.asset_materialization.metadata["airflow/run_id"].value == run.run_id
        ]
        assert record.partition_key == "2024-03-05"
        assert record.timestamp == pytest.approx(
            record.asset_materialization.metadata["airflow/end_date"].value, abs=1e-3
        )
        assert record.timestamp < since.timestamp() + 600  # Airflow's end date, not the import time
        dag_records = _materializations(instance, f"{NAME}/dag/status_groups")
        assert [r.asset_materialization.metadata["airflow/run_id"].value for r in dag_records].count(
            run.run_id
        ) == 1
        assert not _materializations(instance, "st_proxied")  # nothing from proxied tasks


def test_history_import_skips_what_the_sensor_already_reported(defs_file: Path, groups_run) -> None:
    since, run = groups_run
    from airlift_components.core.sensor import SensorCursor

    defs = load_definitions(file=defs_file)
    cursor = SensorCursor.initial(since, timedelta(0)).serialize()
    with DagsterInstance.ephemeral() as instance:
        first = tick(defs, instance, cursor, NAME, run_checks=False)
        tick(defs, instance, first.cursor, NAME, run_checks=False)
        reported = len(
            [
                r
                for r in _materializations(instance, "st_a")
                if r.asset_materialization.metadata["airflow/run_id"].value == run.run_id
            ]
        )
        assert reported == 1
        import_airflow_history(defs, instance, since, utcnow() + timedelta(minutes=1))
        after = [
            r
            for r in _materializations(instance, "st_a")
            if r.asset_materialization.metadata["airflow/run_id"].value == run.run_id
        ]
        assert len(after) == 1


def test_history_import_rejects_a_range_that_ends_before_it_starts(
    defs_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    defs = load_definitions(file=defs_file)
    with (
        DagsterInstance.ephemeral() as instance,
        pytest.raises(HistoryImportError, match="must end after it starts"),
    ):
        import_airflow_history(defs, instance, datetime(2024, 2, 1), datetime(2024, 1, 1))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["import-history", "-f", str(defs_file), "--start", "2024-02-01", "--end", "yesterday"]) == 2
    assert "--start/--end must be ISO dates" in capsys.readouterr().err
    monkeypatch.delenv("DAGSTER_HOME")
    assert main(["import-history", "-f", str(defs_file), "--start", "2024-01-01", "--end", "2024-02-01"]) == 2
    assert "set DAGSTER_HOME" in capsys.readouterr().err


def test_import_history_command_imports_into_dagster_home_once(
    defs_file: Path,
    groups_run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since, _run = groups_run
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    args = ["import-history", "-f", str(defs_file), "--start", since.isoformat()]
    args += ["--end", (utcnow() + timedelta(minutes=1)).isoformat()]
    assert main(args) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(args) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    imported = int(first.split(" events imported")[0].rsplit(" ", 1)[-1])
    assert imported > 0 and first.endswith(", 0 already present")
    assert second.endswith(f" 0 events imported, {imported} already present")
