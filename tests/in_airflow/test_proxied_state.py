"""Proxied state files and ``proxying_to_dagster`` on DAG objects parsed in this process (Airflow 3)."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

from airlift_components.conventions import (
    ORIGINAL_OPERATOR_DOC_PREFIX,
    PROXIED_DAG_TAG,
    PROXIED_TASKS_DAG_TAG,
    PROXY_MARKER_FIELD,
)
from airlift_components.in_airflow import (
    DefaultProxyDAGToDagsterOperator,
    DefaultProxyTaskToDagsterOperator,
    ProxiedStateError,
    load_proxied_state_from_yaml,
)
from airlift_components.in_airflow.proxied_state import load_proxied_state_from_yaml as from_submodule

DAG_FILE = """
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, TaskGroup

from airlift_components.in_airflow import proxying_to_dagster, load_proxied_state_from_yaml


def on_failure(context):
    pass


with DAG("shop", schedule=None, start_date=datetime(2024, 1, 1), tags=["team"]) as dag:
    load = PythonOperator(task_id="load", python_callable=print)
    build = PythonOperator(
        task_id="build", python_callable=print, retries=3, retry_delay=timedelta(seconds=7), pool="p",
        queue="q", trigger_rule="all_done", on_failure_callback=on_failure, doc_md="docs", priority_weight=5,
        execution_timeout=timedelta(minutes=3),
    )
    with TaskGroup("export") as export:
        csv = PythonOperator(task_id="csv", python_callable=print)
    mapped = PythonOperator.partial(task_id="mapped", python_callable=print).expand(op_args=[[1], [2]])
    load >> build >> csv >> mapped

proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
)
"""


def _parse(folder: Path, states: dict[str, str]):
    """Write the DAG file and its state files into ``folder`` and import it like Airflow would."""
    state_dir = folder / "proxied_state"
    state_dir.mkdir(parents=True, exist_ok=True)
    for old in state_dir.iterdir():
        old.unlink()
    for name, text in states.items():
        (state_dir / name).write_text(textwrap.dedent(text))
    path = folder / "shop_dag.py"
    path.write_text(DAG_FILE)
    spec = importlib.util.spec_from_file_location(f"shop_dag_{len(sys.modules)}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _error(folder: Path, states: dict[str, str]) -> str:
    with pytest.raises(ProxiedStateError) as info:
        _parse(folder, states)
    return str(info.value)


def test_loader_is_importable_from_both_paths():
    assert load_proxied_state_from_yaml is from_submodule


def test_dag_without_state_file_is_untouched(tmp_path):
    dag = _parse(tmp_path, {})
    assert {type(t).__name__ for t in dag.tasks} == {"PythonOperator", "MappedOperator"}
    assert dag.tags == {"team"}


def test_task_form_replaces_only_proxied_tasks_keeping_their_settings(tmp_path):
    original = _parse(tmp_path / "a", {})
    dag = _parse(
        tmp_path / "b",
        {"shop.yaml": "tasks:\n  - id: build\n    proxied: True\n  - id: load\n    proxied: False\n"},
    )
    build, before = dag.task_dict["build"], original.task_dict["build"]
    assert isinstance(build, DefaultProxyTaskToDagsterOperator)
    assert not isinstance(dag.task_dict["load"], DefaultProxyTaskToDagsterOperator)
    for attribute in (
        "retries",
        "retry_delay",
        "pool",
        "queue",
        "trigger_rule",
        "priority_weight",
        "execution_timeout",
        "owner",
        "start_date",
    ):
        assert getattr(build, attribute) == getattr(before, attribute), attribute
    # doc_md is kept, with a last line naming the replaced operator (for the Dagster side).
    assert (
        build.doc_md
        == f"docs\n\n{ORIGINAL_OPERATOR_DOC_PREFIX}airflow.providers.standard.operators.python.PythonOperator"
    )
    assert [cb.__name__ for cb in build.on_failure_callback] == ["on_failure"]
    assert build.upstream_task_ids == {"load"} and build.downstream_task_ids == {"export.csv"}
    assert dag.task_dict["load"].downstream_task_ids == {"build"}
    assert getattr(build, PROXY_MARKER_FIELD) == "dagster:task"
    assert PROXIED_TASKS_DAG_TAG in dag.tags


def test_task_inside_a_task_group_stays_in_its_group(tmp_path):
    dag = _parse(tmp_path, {"shop.yaml": "tasks:\n  - id: export.csv\n    proxied: true\n"})
    csv = dag.task_dict["export.csv"]
    assert isinstance(csv, DefaultProxyTaskToDagsterOperator)
    assert csv.task_group.group_id == "export"
    assert dag.task_group.children["export"].children["export.csv"] is csv


def test_flipping_the_flag_back_restores_the_original_task(tmp_path):
    _parse(tmp_path, {"shop.yaml": "tasks:\n  - id: build\n    proxied: True\n"})
    dag = _parse(tmp_path, {"shop.yaml": "tasks:\n  - id: build\n    proxied: False\n"})
    assert type(dag.task_dict["build"]).__name__ == "PythonOperator"
    assert PROXIED_TASKS_DAG_TAG not in dag.tags


def test_dag_form_replaces_the_whole_dag_with_one_task(tmp_path):
    dag = _parse(tmp_path, {"shop.yml": "proxied: True\n"})
    (task,) = dag.tasks
    assert isinstance(task, DefaultProxyDAGToDagsterOperator)
    assert task.task_id == "DAGSTER_OVERRIDE_shop"
    assert getattr(task, PROXY_MARKER_FIELD) == "dagster:dag"
    assert PROXIED_DAG_TAG in dag.tags
    assert list(dag.task_group.children) == ["DAGSTER_OVERRIDE_shop"]


def test_dag_form_false_leaves_the_dag_untouched(tmp_path):
    dag = _parse(tmp_path, {"shop.yaml": "proxied: false\n"})
    assert len(dag.tasks) == 4


def test_state_file_of_another_dag_is_ignored(tmp_path):
    dag = _parse(tmp_path, {"other_dag.yaml": "tasks:\n  - id: nope\n    proxied: true\n"})
    assert len(dag.tasks) == 4


def test_unknown_task_id_names_file_and_task(tmp_path):
    message = _error(tmp_path, {"shop.yaml": "tasks:\n  - id: biuld\n    proxied: True\n"})
    assert "shop.yaml" in message and "'biuld'" in message and "not in DAG 'shop'" in message


def test_duplicate_task_id_names_file_and_entry(tmp_path):
    message = _error(
        tmp_path,
        {"shop.yaml": "tasks:\n  - id: build\n    proxied: True\n  - id: build\n    proxied: False\n"},
    )
    assert "shop.yaml: tasks[1] (id 'build'): duplicate task id 'build'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tasks:\n  - id: build\n    proxied: 'yes'\n",
            "tasks[0] (id 'build'): 'proxied' must be true or false, got str 'yes'",
        ),
        ("tasks:\n  - id: 7\n    proxied: true\n", "tasks[0]: 'id' must be a non-empty string, got int"),
        ("tasks:\n  - id: build\n", "tasks[0]: missing key(s) ['proxied']"),
        (
            "tasks:\n  - id: build\n    proxied: true\n    migrated: true\n",
            "tasks[0]: unknown key(s) ['migrated']",
        ),
        ("tasks: build\n", "'tasks' must be a list of {id, proxied}, got str"),
        ("tasks:\n  - build\n", "tasks[0]: expected a mapping {id, proxied}, got str"),
        ("proxied: 1\n", "'proxied' must be true or false, got int 1"),
        ("- build\n", "expected a mapping with 'tasks' (task by task) or 'proxied' (whole DAG), got list"),
        ("", "got null"),
        ("task:\n  - id: build\n", "unknown key(s) ['task']"),
    ],
)
def test_wrong_types_name_file_and_entry(tmp_path, text, expected):
    message = _error(tmp_path, {"shop.yaml": text})
    assert "shop.yaml" in message
    assert expected in message


def test_dag_level_file_that_also_lists_tasks_is_rejected(tmp_path):
    message = _error(tmp_path, {"shop.yaml": "proxied: true\ntasks:\n  - id: build\n    proxied: true\n"})
    assert "shop.yaml: has both 'proxied' (whole DAG) and 'tasks' (task by task)" in message


def test_unreadable_yaml_names_the_file(tmp_path):
    message = _error(tmp_path, {"shop.yaml": "tasks:\n  - id: build\n    proxied: [true\n"})
    assert "shop.yaml: not valid YAML" in message


def test_unreadable_file_names_the_file(tmp_path):
    (tmp_path / "proxied_state").mkdir()
    bad = tmp_path / "proxied_state" / "shop.yaml"
    bad.write_bytes(b"\xff\xfe not utf-8 \xff")
    with pytest.raises(
        ProxiedStateError, match="shop.yaml: cannot read proxied state file|shop.yaml: not valid YAML"
    ):
        load_proxied_state_from_yaml(tmp_path / "proxied_state")


def test_two_files_for_one_dag_are_rejected(tmp_path):
    message = _error(tmp_path, {"shop.yaml": "proxied: true\n", "shop.yml": "proxied: false\n"})
    assert "DAG 'shop' already has a proxied state file" in message


def test_missing_state_folder_is_an_error(tmp_path):
    with pytest.raises(ProxiedStateError, match="does not exist"):
        load_proxied_state_from_yaml(tmp_path / "nowhere")


def test_mapped_task_cannot_be_proxied_task_by_task(tmp_path):
    message = _error(tmp_path, {"shop.yaml": "tasks:\n  - id: mapped\n    proxied: true\n"})
    assert (
        "shop.yaml" in message
        and "'mapped' is a mapped (dynamic) task" in message
        and "proxied: true" in message
    )


def test_dagster_operator_klass_chooses_the_task_level_operator():
    from datetime import datetime

    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from airlift_components.in_airflow import AirflowProxiedState, proxying_to_dagster

    class MyProxy(DefaultProxyTaskToDagsterOperator):
        pass

    with DAG("klass", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="one") >> EmptyOperator(task_id="two")
    proxying_to_dagster(
        global_vars={"dag": dag},
        proxied_state=AirflowProxiedState.from_dict({"klass": {"tasks": [{"id": "two", "proxied": True}]}}),
        dagster_operator_klass=MyProxy,
    )
    assert type(dag.task_dict["two"]) is MyProxy
    assert dag.task_dict["two"].upstream_task_ids == {"one"}
