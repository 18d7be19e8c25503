"""Migration progress (`status`), task groups / map indexes in metadata, and the history import,
against the real test Airflow 3 and real (ephemeral) Dagster instances.

Hand count for the definitions in ``DEFS_FILE`` (tasks from ``tests/dags``):

| DAG                    | tasks | mapped | proxied | left |
| rebuild_customers_list | 3     | 2      | 0       | 3    |
| core_proxied           | 1     | 1      | 1       | 0    |
| status_groups          | 4     | 3      | 1       | 3    |
| core_fast              | 1     | 0      | 0       | 1    |  (DAG-mapped only)

``TWO_DEFS_FILE`` adds a second instance, ``status_other``, peering ``status_proxied`` (its ``work`` task is
the project's real proxy operator):

| status_proxied         | 3     | 1      | 1       | 2    |

The history tests use ``HISTORY_DEFS_FILE`` (only the DAGs this module triggers, so every count is exact).
Hand count of the events of the two runs they import (``status_groups`` succeeds; ``status_proxied``
fails: ``breaks`` fails, the proxy ``work`` fails as it finds no Dagster):

| asset                        | run            | task            | kind                          |
| st_a                         | status_groups  | extract.load_a  | materialization               |
| st_b                         | status_groups  | extract.load_b  | materialization, 2024-03-05   |
| st_files                     | status_groups  | extract.per_file| materialization (2 map idx)   |
| status_history/dag/status_groups  | status_groups  | (run)      | materialization               |
| st_p_load                    | status_proxied | load            | materialization               |
| st_p_broken                  | status_proxied | breaks          | observation (failed)          |
| st_proxied                   | status_proxied | work            | nothing (proxied)             |
| status_history/dag/status_proxied | status_proxied | (run)      | observation (failed)          |
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, AssetObservation, DagsterInstance

from airlift_components.cli import main
from airlift_components.cli.definitions import load_definitions
from airlift_components.cli.history import HistoryImportError, import_airflow_history
from airlift_components.conventions import PROXY_MARKER_FIELD, PROXY_MARKER_TASK
from airlift_components.core.naming import overview_asset_key
from airlift_components.core.sensor import SensorCursor
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.core.helpers import run_and_wait, tick, utcnow
from tests.faults.proxy import FaultProxy

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
OTHER = "status_other"
# The status instance plus a second instance (status_other) on the same Airflow.
TWO_DEFS_FILE = (
    DEFS_FILE.replace("defs = build_defs_from_airflow_instance(", "first = build_defs_from_airflow_instance(")
    + """
second = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(BasicAuthBackend("URL", "admin", "admin"), name="OTHER"),
    dag_selector_fn=lambda dag: dag.dag_id == "status_proxied",
    defs=Definitions(assets=assets_with_task_mappings("status_proxied", {"load": [AssetSpec("so_load")]})),
)
defs = Definitions.merge(first, second)
del first, second  # one Definitions at module level, as dagster's loader requires
"""
)
OTHER_COUNTS = {"status_proxied": (3, 1, 1, 2)}
HISTORY = "status_history"
# Only DAGs that this module alone triggers, so the import's counts are exact on the shared Airflow.
HISTORY_DEFS_FILE = """
from dagster import AssetSpec, DailyPartitionsDefinition, Definitions
from airlift_components.core import (
    AirflowInstance, BasicAuthBackend, assets_with_task_mappings, build_defs_from_airflow_instance,
)

daily = DailyPartitionsDefinition(start_date="2024-01-01")
defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(BasicAuthBackend("URL", "admin", "admin"), name="NAME"),
    dag_selector_fn=lambda dag: dag.dag_id in {"status_groups", "status_proxied"},
    defs=Definitions(assets=[
        *assets_with_task_mappings("status_groups", {
            "extract.load_a": [AssetSpec("st_a")],
            "extract.load_b": [AssetSpec("st_b", partitions_def=daily)],
            "extract.per_file": [AssetSpec("st_files")],
        }),
        *assets_with_task_mappings("status_proxied", {
            "load": [AssetSpec("st_p_load")],
            "breaks": [AssetSpec("st_p_broken")],
            "work": [AssetSpec("st_proxied")],
        }),
    ]),
)
"""
HISTORY_KEYS = [
    "st_a",
    "st_b",
    "st_files",
    "st_p_load",
    "st_p_broken",
    "st_proxied",
    f"{HISTORY}/dag/status_groups",
    f"{HISTORY}/dag/status_proxied",
]
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


def write_defs(path: Path, template: str, url: str, name: str) -> Path:
    """The definitions file ``template`` pointed at ``url`` with instance name ``name``."""
    path.write_text(template.replace("URL", url).replace("OTHER", OTHER).replace("NAME", name))
    return path


@pytest.fixture(scope="module")
def two_instances_dir(airflow3: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``status_two_defs.py`` (two instances), importable as a module."""
    folder = tmp_path_factory.mktemp("status_two")
    write_defs(folder / "status_two_defs.py", TWO_DEFS_FILE, airflow3.url, NAME)
    return folder


@pytest.fixture(scope="module")
def history_defs_file(airflow3: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_defs(
        tmp_path_factory.mktemp("history") / "history_defs.py", HISTORY_DEFS_FILE, airflow3.url, HISTORY
    )


@pytest.fixture(scope="module")
def groups_run(airflow3: LocalAirflow):
    """One finished run of status_groups with a logical date (so the daily partition applies)."""
    since = utcnow()
    client = make_client(airflow3)
    run = run_and_wait(client, "status_groups", logical_date=LOGICAL_DATE)
    states = [(ti.task_id, ti.map_index, ti.state) for ti in client.list_task_instances(run_ids=[run.run_id])]
    assert run.state == "success", states
    return since, run


@pytest.fixture(scope="module")
def history_runs(airflow3: LocalAirflow, groups_run):
    """``groups_run`` plus one finished (failed) run of status_proxied, whose ``work`` task is the real
    proxy operator: Airflow reports its marker in the task instance's rendered fields."""
    since, groups = groups_run
    client = make_client(airflow3)
    proxied = run_and_wait(client, "status_proxied")
    states = {ti.task_id: ti for ti in client.list_task_instances(run_ids=[proxied.run_id])}
    assert proxied.state == "failed", {task: ti.state for task, ti in states.items()}
    assert {task: ti.state for task, ti in states.items()} == {
        "load": "success",
        "breaks": "failed",
        "work": "failed",
    }
    assert (states["work"].rendered_fields or {}).get(PROXY_MARKER_FIELD) == PROXY_MARKER_TASK
    assert PROXY_MARKER_FIELD not in (states["breaks"].rendered_fields or {})
    return since, groups, proxied


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


def _counts(instance: dict) -> dict[str, tuple[int, int, int, int]]:
    return {d["dag_id"]: (d["tasks"], d["mapped"], d["proxied"], d["left"]) for d in instance["dags"]}


def test_status_by_module_reports_every_instance_with_the_hand_count(
    two_instances_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(two_instances_dir))
    code, out, err = status(capsys, "-m", "status_two_defs", "--format", "json")
    assert code == 0, err
    instances = {instance["instance"]: instance for instance in json.loads(out)["instances"]}
    assert set(instances) == {NAME, OTHER}
    assert _counts(instances[NAME]) == EXPECTED_COUNTS
    # The real proxy operator (status_proxied.work) counts as proxied, from Airflow's tasks listing.
    assert _counts(instances[OTHER]) == OTHER_COUNTS
    assert instances[OTHER]["totals"] == {"dags": 1, "tasks": 3, "mapped": 1, "proxied": 1, "left": 2}


def test_status_instance_option_reports_only_the_named_instance(
    two_instances_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defs_path = str(two_instances_dir / "status_two_defs.py")
    code, out, err = status(capsys, "-f", defs_path, "--instance", OTHER, "--format", "json")
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    assert instance["instance"] == OTHER and _counts(instance) == OTHER_COUNTS
    code, out, err = status(capsys, "-f", defs_path, "--instance", NAME, "--format", "markdown")
    assert code == 0, err
    assert f"### {NAME} (" in out and OTHER not in out and "status_proxied" not in out
    assert "**dags: 4, tasks: 9, mapped: 6, proxied: 2, left: 7**" in out


def test_status_proxied_state_dir_reads_the_state_files_in_that_folder(
    defs_file: Path, state_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"  # not named proxied_state, not inside a DAGs folder
    elsewhere.mkdir()
    for path in state_dir.glob("*.yaml"):
        (elsewhere / path.name).write_text(path.read_text())
    code, out, err = status(
        capsys, "-f", str(defs_file), "--proxied-state-dir", str(elsewhere), "--format", "json"
    )
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    dags = {dag["dag_id"]: dag for dag in instance["dags"]}
    assert dags["rebuild_customers_list"]["disagreements"] == [
        "rebuild_customers_list.yaml: task 'build_dbt_models' is proxied in the file, not in Airflow"
    ]
    assert dags["core_proxied"]["disagreements"] == []
    assert dags["status_groups"]["disagreements"] == [
        "status_groups.yaml: task 'gone_task' is not in the DAG Airflow has",
        "status_groups.yaml: task 'publish' is proxied in Airflow, not in the file",
    ]
    assert dags["core_fast"]["disagreements"] == []
    # Edit one file in that folder: the next status reads the change.
    (elsewhere / "status_groups.yaml").write_text("tasks:\n  - id: publish\n    proxied: True\n")
    code, out, err = status(
        capsys, "-f", str(defs_file), "--proxied-state-dir", str(elsewhere), "--format", "json"
    )
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    assert {dag["dag_id"]: dag["disagreements"] for dag in instance["dags"]}["status_groups"] == []


def test_status_names_a_state_file_that_proxying_to_dagster_refuses(
    defs_file: Path, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "yes" in quotes is a string: Airflow's reader refuses the file, so status must not read it as proxied.
    (state_dir / "core_proxied.yaml").write_text('proxied: "yes"\n')
    code, out, err = status(
        capsys, "-f", str(defs_file), "--dags-folder", str(state_dir.parent), "--format", "json"
    )
    assert code == 0, err
    (instance,) = json.loads(out)["instances"]
    dags = {dag["dag_id"]: dag for dag in instance["dags"]}
    assert dags["core_proxied"]["disagreements"] == [
        f"core_proxied.yaml: proxying_to_dagster refuses this file: {state_dir / 'core_proxied.yaml'}: "
        "'proxied' must be true or false, got str 'yes'"
    ]
    assert dags["rebuild_customers_list"]["disagreements"] == [
        "rebuild_customers_list.yaml: task 'build_dbt_models' is proxied in the file, not in Airflow"
    ]


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


Identity = tuple[str, str, str, str | None, str | None, str]


def _identity(event: AssetMaterialization | AssetObservation) -> Identity:
    """(asset key, dag_id, run_id, task_id, partition, kind) of one asset event from Airflow."""
    meta = event.metadata
    task = meta.get("airflow/task_id")
    return (
        event.asset_key.to_user_string(),
        meta["airflow/dag_id"].value,
        meta["airflow/run_id"].value,
        task.value if task is not None else None,
        event.partition,
        "materialization" if isinstance(event, AssetMaterialization) else "observation",
    )


def _stored_events(
    instance: DagsterInstance, keys: Iterable[str]
) -> Iterator[AssetMaterialization | AssetObservation]:
    for key in keys:
        asset_key = AssetKey.from_user_string(key)
        for record in instance.fetch_materializations(asset_key, limit=1000).records:
            yield record.asset_materialization
        for record in instance.fetch_observations(asset_key, limit=1000).records:
            yield record.asset_observation


def _expected_identities(groups_run_id: str, proxied_run_id: str) -> list[Identity]:
    """The hand count in the module docstring."""
    g, p, m, o = groups_run_id, proxied_run_id, "materialization", "observation"
    return sorted(
        [
            ("st_a", "status_groups", g, "extract.load_a", None, m),
            ("st_b", "status_groups", g, "extract.load_b", "2024-03-05", m),
            ("st_files", "status_groups", g, "extract.per_file", None, m),
            (f"{HISTORY}/dag/status_groups", "status_groups", g, None, None, m),
            ("st_p_load", "status_proxied", p, "load", None, m),
            ("st_p_broken", "status_proxied", p, "breaks", None, o),
            (f"{HISTORY}/dag/status_proxied", "status_proxied", p, None, None, o),
        ]
    )


def test_history_import_twice_stores_each_event_once_with_airflow_timestamps_and_partitions(
    history_defs_file: Path, history_runs
) -> None:
    since, run, proxied = history_runs
    defs = load_definitions(file=history_defs_file)
    end = utcnow() + timedelta(minutes=1)
    with DagsterInstance.ephemeral() as instance:
        (first,) = import_airflow_history(defs, instance, since, end)
        (second,) = import_airflow_history(defs, instance, since, end)
        assert first.runs == 2 and first.imported == 7 and first.already_present == 0  # the hand count
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
        dag_records = _materializations(instance, f"{HISTORY}/dag/status_groups")
        assert [r.asset_materialization.metadata["airflow/run_id"].value for r in dag_records].count(
            run.run_id
        ) == 1
        # The proxied task's run is in the window: its sibling tasks have events, it has none.
        (loaded,) = _materializations(instance, "st_p_load")
        assert loaded.asset_materialization.metadata["airflow/run_id"].value == proxied.run_id
        assert not _materializations(instance, "st_proxied")  # nothing from proxied tasks
        assert not list(instance.fetch_observations(AssetKey("st_proxied"), limit=10).records)


def test_history_import_stores_exactly_the_events_the_sensor_reports_for_the_same_window(
    history_defs_file: Path, history_runs
) -> None:
    since, groups, proxied = history_runs
    defs = load_definitions(file=history_defs_file)
    ours = {groups.run_id, proxied.run_id}
    with DagsterInstance.ephemeral() as instance:
        import_airflow_history(defs, instance, since, utcnow() + timedelta(minutes=1))
        imported = list(_stored_events(instance, HISTORY_KEYS))
    cursor: str | None = SensorCursor.initial(since, timedelta(0)).serialize()
    sensed: list[AssetMaterialization | AssetObservation] = []
    with DagsterInstance.ephemeral() as instance:
        for _ in range(20):  # tick like the daemon until the scan has reached now
            data = tick(defs, instance, cursor, HISTORY, run_checks=False)
            sensed.extend(data.asset_events)
            cursor = data.cursor
            state = SensorCursor.parse(cursor) if cursor else None
            if state is None or state.scan_upper is None:
                break
        else:
            raise AssertionError("the sensor did not catch up within 20 ticks")
    imported_ids = sorted(_identity(e) for e in imported if e.metadata["airflow/run_id"].value in ours)
    sensed_ids = sorted(_identity(e) for e in sensed if e.metadata["airflow/run_id"].value in ours)
    assert imported_ids == sensed_ids  # a list, not a set: duplicates would show
    assert imported_ids == _expected_identities(groups.run_id, proxied.run_id)
    # The same dedup identities, and the roll-up counts both map indexes.
    assert sorted(
        e.metadata["airlift/event_id"].value for e in imported if e.metadata["airflow/run_id"].value in ours
    ) == sorted(
        e.metadata["airlift/event_id"].value for e in sensed if e.metadata["airflow/run_id"].value in ours
    )
    (files,) = [e for e in imported if e.asset_key == AssetKey("st_files")]
    assert files.metadata["airflow/map_indexes"].value == 2


def test_history_import_costs_one_run_listing_and_one_task_instance_query(
    airflow3: LocalAirflow, history_runs, tmp_path: Path
) -> None:
    since, _groups, _proxied = history_runs
    with FaultProxy(airflow3.url) as proxy:
        defs = load_definitions(
            file=write_defs(tmp_path / "counted.py", HISTORY_DEFS_FILE, proxy.url, HISTORY)
        )
        before = dict(proxy.requests_by_path)  # loading the definitions fetched the snapshot
        with DagsterInstance.ephemeral() as instance:
            (result,) = import_airflow_history(defs, instance, since, utcnow() + timedelta(minutes=1))
        sent = {path: n - before.get(path, 0) for path, n in proxy.requests_by_path.items()}
        assert result.runs == 2
        # One run listing, one task-instance query; besides: the login (which also tells the dialect).
        assert {path: n for path, n in sent.items() if n} == {
            "/api/v2/dags/~/dagRuns/list": 1,
            "/api/v2/dags/~/dagRuns/~/taskInstances/list": 1,
            "/auth/token": 1,
        }


def test_history_import_skips_what_the_sensor_already_reported(history_defs_file: Path, history_runs) -> None:
    since, run, _proxied = history_runs
    defs = load_definitions(file=history_defs_file)
    cursor = SensorCursor.initial(since, timedelta(0)).serialize()
    with DagsterInstance.ephemeral() as instance:
        first = tick(defs, instance, cursor, HISTORY, run_checks=False)
        tick(defs, instance, first.cursor, HISTORY, run_checks=False)
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


def test_history_import_keeps_the_python_path_the_readme_used_before_the_cli_package() -> None:
    from airlift_components.cli import history
    from airlift_components.core import history as old_path

    assert old_path.import_airflow_history is history.import_airflow_history
    assert old_path.import_instance_history is history.import_instance_history
    assert old_path.HistoryImportError is history.HistoryImportError
    assert old_path.ImportResult is history.ImportResult


def _import_history(capsys: pytest.CaptureFixture[str], defs_path: Path, start: str, end: str) -> str:
    assert main(["import-history", "-f", str(defs_path), "--start", start, "--end", end]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_import_history_command_imports_into_dagster_home_once(
    history_defs_file: Path,
    history_runs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    since, _run, _proxied = history_runs
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    end = (utcnow() + timedelta(minutes=1)).isoformat()
    first = _import_history(capsys, history_defs_file, since.isoformat(), end)
    second = _import_history(capsys, history_defs_file, since.isoformat(), end)
    imported = int(first.split(" events imported")[0].rsplit(" ", 1)[-1])
    assert imported > 0 and first.endswith(", 0 already present")
    assert first == f"{HISTORY}: 2 runs, 7 events imported, 0 already present"  # the hand count
    assert second.endswith(f" 0 events imported, {imported} already present")


@pytest.fixture()
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is UTC+05:30, so a date read as local time would miss the window."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    assert time.timezone == -19800
    yield
    monkeypatch.undo()
    time.tzset()


def test_import_history_reads_dates_without_offset_as_utc(
    history_defs_file: Path,
    history_runs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    local_time_not_utc: None,
) -> None:
    _since, groups, proxied = history_runs
    assert groups.end_date is not None and proxied.end_date is not None
    ended = proxied.end_date.astimezone(timezone.utc)
    assert groups.end_date < ended - timedelta(seconds=1)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))

    def naive(moment: datetime) -> str:
        return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()

    # [end - 1 s, end + 1 s] without an offset: exactly the status_proxied run (3 events).
    line = _import_history(
        capsys, history_defs_file, naive(ended - timedelta(seconds=1)), naive(ended + timedelta(seconds=1))
    )
    assert line == f"{HISTORY}: 1 runs, 3 events imported, 0 already present"
    # Starting 1 s after it ended: nothing.
    line = _import_history(
        capsys, history_defs_file, naive(ended + timedelta(seconds=1)), naive(ended + timedelta(minutes=1))
    )
    assert line == f"{HISTORY}: 0 runs, 0 events imported, 0 already present"
    # The same instant written with an offset (UTC+02:00) is honoured.
    plus_two = timezone(timedelta(hours=2))
    start = (ended - timedelta(seconds=1)).astimezone(plus_two).isoformat()
    end = (ended + timedelta(seconds=1)).astimezone(plus_two).isoformat()
    assert _import_history(capsys, history_defs_file, start, end) == (
        f"{HISTORY}: 1 runs, 0 events imported, 3 already present"
    )
