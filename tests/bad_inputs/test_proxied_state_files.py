"""Malformed and contradictory proxied-state files beyond tests/in_airflow/test_proxied_state.py.

Each file is read by ``load_proxied_state_from_yaml`` inside a DAG file that real Airflow 3 code parses
in this process (the same helper as the in_airflow tests).
"""

from __future__ import annotations

from pathlib import Path

from airlift_components.in_airflow import load_proxied_state_from_yaml
from tests.in_airflow.test_proxied_state import _error, _parse


def test_proxied_key_given_twice_is_contradictory_and_names_file_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, {"shop.yaml": "proxied: true\nproxied: false\n"})
    assert "shop.yaml: not valid YAML" in message
    assert "duplicate key 'proxied' (first on line 1)" in message and "line 2" in message


def test_task_entry_with_proxied_twice_is_contradictory(tmp_path: Path) -> None:
    message = _error(
        tmp_path, {"shop.yaml": "tasks:\n  - id: build\n    proxied: true\n    proxied: false\n"}
    )
    assert "shop.yaml" in message and "duplicate key 'proxied' (first on line 3)" in message


def test_two_yaml_documents_in_one_file_are_rejected(tmp_path: Path) -> None:
    message = _error(tmp_path, {"shop.yaml": "proxied: true\n---\nproxied: false\n"})
    assert "shop.yaml: not valid YAML" in message and "expected a single document" in message


def test_null_proxied_flag_names_the_field(tmp_path: Path) -> None:
    message = _error(tmp_path, {"shop.yaml": "proxied:\n"})
    assert "shop.yaml: 'proxied' must be true or false, got null None" in message


def test_tab_indentation_names_file_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, {"shop.yaml": "tasks:\n\t- id: build\n"})
    assert "shop.yaml: not valid YAML" in message and "line 2" in message


def test_task_group_id_instead_of_group_dot_task_names_it(tmp_path: Path) -> None:
    message = _error(tmp_path, {"shop.yaml": "tasks:\n  - id: export\n    proxied: true\n"})
    assert "shop.yaml" in message and "'export'" in message and "not in DAG 'shop'" in message


def test_file_with_a_utf8_byte_order_mark_is_read(tmp_path: Path) -> None:
    dag = _parse(tmp_path, {"shop.yaml": "\ufefftasks:\n  - id: build\n    proxied: true\n"})
    assert dag.get_task("build").__class__.__name__ == "DefaultProxyTaskToDagsterOperator"


def test_empty_task_list_leaves_the_dag_untouched(tmp_path: Path) -> None:
    dag = _parse(tmp_path, {"shop.yaml": "tasks: []\n"})
    assert dag.get_task("build").__class__.__name__ == "PythonOperator"
    assert len(dag.tasks) == 4


def test_files_with_other_extensions_are_ignored(tmp_path: Path) -> None:
    dag = _parse(tmp_path, {"shop.yaml.bak": "proxied: true\n", "shop.json": '{"proxied": true}'})
    assert len(dag.tasks) == 4


def test_dag_id_with_dots_dashes_and_unicode_keeps_its_full_file_stem(tmp_path: Path) -> None:
    folder = tmp_path / "proxied_state"
    folder.mkdir()
    (folder / "shop.v2-ünï.yaml").write_text("proxied: true\n", encoding="utf-8")
    state = load_proxied_state_from_yaml(folder)
    assert list(state.dags) == ["shop.v2-ünï"]
    assert state.get("shop.v2-ünï").dag_proxied
