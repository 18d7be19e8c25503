"""Secrets never leak: the integration flows run with a dedicated Airflow 3 user whose password is
recognisable (``pw-SECRET-<random>``), and the test looks for it in everything those flows produce."""

from __future__ import annotations

import json
import logging
import textwrap
import traceback
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey
from dagster._core.test_utils import instance_for_test
from dagster._serdes import serialize_value
from dagster.components.core.component_tree import ComponentTree
from dagster.components.scaffold.scaffold import ScaffoldRequest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from airlift_components.components.airflow_instance import (
    AirflowInstanceComponent,
    AirflowInstanceScaffolder,
    AirflowInstanceScaffoldParams,
)
from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance
from airlift_components.testing.local_airflow import LocalAirflow, free_port
from tests.conftest import SECRET_PASSWORD, SECRET_USERNAME, make_client
from tests.core.helpers import tick
from tests.faults.conftest import DAG_ID, MAPPED_TASK, FinishedRuns, assert_each_run_emitted_exactly_once

INSTANCE = "secrets_probe"
PROBE_KEY = AssetKey("probe_out")
PASSWORD_ENV = "AIRFLOW_SECRETS_PROBE_PASSWORD"  # what the scaffolder names it for this instance name
UI_QUERY = """
query ($repo: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {
    __typename
    ... on ResourceDetailsList { results { name description configuredValues { key value type } } }
  }
  sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name description metadata { assetKeys { path } } } }
  }
  assetNodes { assetKey { path } description metadataEntries { label __typename
    ... on TextMetadataEntry { text } ... on UrlMetadataEntry { url } ... on JsonMetadataEntry { jsonString } } }
}
"""


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.__cause__)


def test_secret_password_appears_nowhere_in_logs_errors_events_ui_or_files(
    airflow3: LocalAirflow,
    finished_runs: FinishedRuns,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(PASSWORD_ENV, SECRET_PASSWORD)
    texts: dict[str, str] = {}

    # Scaffold, then edit the YAML as a user would: the probe user and one task mapping.
    target = tmp_path / "project" / "defs" / INSTANCE
    params = AirflowInstanceScaffoldParams(instance_name=INSTANCE, url=airflow3.url)
    AirflowInstanceScaffolder().scaffold(
        ScaffoldRequest("airflow_instance", target, "yaml", tmp_path, params)
    )
    document = yaml.safe_load((target / "defs.yaml").read_text())
    attributes = document["attributes"]
    assert attributes["auth"]["password_env"] == PASSWORD_ENV
    attributes["auth"]["username"] = SECRET_USERNAME
    attributes["mappings"] = [
        {"dag_id": DAG_ID, "task_mappings": [{"task_id": MAPPED_TASK, "assets": [{"key": "probe_out"}]}]}
    ]
    (target / "defs.yaml").write_text(yaml.safe_dump(document))

    # Component load via defs state (the snapshot is fetched with the probe user), then sensor ticks.
    component = AirflowInstanceComponent.resolve_from_dict(attributes)
    state = tmp_path / "project" / "state" / "snapshot.json"
    state.parent.mkdir(parents=True)
    component.write_state_to_path(state)
    defs = component.build_defs_from_state(ComponentTree.for_test().load_context, state)
    with instance_for_test() as dagster:
        ticks = [tick(defs, dagster, finished_runs.cursor, INSTANCE)]
        ticks.append(tick(defs, dagster, ticks[-1].cursor, INSTANCE))
        stored = [
            serialize_value(record.event_log_entry)
            for key in (PROBE_KEY, AssetKey([INSTANCE, "dag", DAG_ID]))
            for fetch in (dagster.fetch_materializations, dagster.fetch_observations)
            for record in fetch(key, limit=100).records
        ]
        dagster_home = Path(dagster.root_directory)
        texts.update(
            {
                f"dagster storage {p}": p.read_bytes().decode("latin-1")
                for p in dagster_home.rglob("*")
                if p.is_file()
            }
        )
    # The flow really stored events: one DAG-level event per run at least (exact counts checked next).
    assert len(stored) >= len(finished_runs.run_ids)
    assert_each_run_emitted_exactly_once(
        make_client(airflow3), finished_runs.run_ids, ticks, AssetKey([INSTANCE, "dag", DAG_ID]), PROBE_KEY
    )
    texts["sensor events and cursors"] = "\n".join(
        serialize_value(event) + one.cursor
        for one in ticks
        for event in one.asset_events  # type: ignore[operator]
    )
    texts["stored event log entries"] = "\n".join(stored)

    # What the UI shows: the code location loaded from the component's state, read through GraphQL.
    module = tmp_path / "ui_defs.py"
    module.write_text(
        textwrap.dedent(
            f"""\
            from pathlib import Path
            from dagster.components.core.component_tree import ComponentTree
            from airlift_components.components.airflow_instance import AirflowInstanceComponent

            component = AirflowInstanceComponent.resolve_from_dict({attributes!r})
            defs = component.build_defs_from_state(ComponentTree.for_test().load_context, Path({str(state)!r}))
            """
        )
    )
    with (
        instance_for_test() as ui_instance,
        define_out_of_process_context(str(module), "defs", ui_instance) as ctx,
    ):
        result = execute_dagster_graphql(
            ctx,
            UI_QUERY,
            variables={
                "repo": {"repositoryLocationName": "test_location", "repositoryName": "__repository__"}
            },
        )
    ui = json.dumps(result.data)
    assert result.errors is None and SECRET_USERNAME in ui and PASSWORD_ENV in ui, ui[:2000]
    texts["GraphQL view"] = ui

    # The Python API with a snapshot cache directory.
    python_instance = AirflowInstance(
        auth_backend=BasicAuthBackend(airflow3.url, SECRET_USERNAME, SECRET_PASSWORD), name=INSTANCE
    )
    cache = tmp_path / "snapshot_cache"
    build_defs_from_airflow_instance(
        airflow_instance=python_instance,
        snapshot_cache_dir=cache,
        dag_selector_fn=lambda dag: dag.dag_id == DAG_ID,
    )
    assert any(cache.rglob("*"))
    texts["reprs"] = (
        repr(python_instance) + repr(python_instance.auth_backend) + repr(component.build_resource())
    )

    # Error paths: a wrong password that contains the real one, and Airflow down.
    wrong = AirflowInstance(
        auth_backend=BasicAuthBackend(airflow3.url, SECRET_USERNAME, SECRET_PASSWORD + "-wrong"),
        name=INSTANCE,
    )
    down = AirflowInstance(
        auth_backend=BasicAuthBackend(f"http://127.0.0.1:{free_port()}", SECRET_USERNAME, SECRET_PASSWORD),
        name=INSTANCE,
        max_retries=0,
        api_version="v2",
    )
    for label, broken in (("wrong password", wrong), ("airflow down", down)):
        with pytest.raises(Exception) as failure:
            build_defs_from_airflow_instance(airflow_instance=broken)
        texts[f"error: {label}"] = _error_text(failure.value)
    monkeypatch.setenv(PASSWORD_ENV, SECRET_PASSWORD + "-wrong")
    with pytest.raises(Exception) as failure:
        AirflowInstanceComponent.resolve_from_dict(attributes).write_state_to_path(tmp_path / "unused.json")
    texts["error: component wrong password"] = _error_text(failure.value)
    with instance_for_test() as dagster, pytest.raises(Exception) as failure:
        tick(
            AirflowInstanceComponent.resolve_from_dict(attributes).build_defs_from_state(
                ComponentTree.for_test().load_context, state
            ),
            dagster,
            finished_runs.cursor,
            INSTANCE,
        )
    texts["error: sensor tick wrong password"] = _error_text(failure.value)

    # Every file the flows wrote, every log record, and the process output.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts[f"file {path.relative_to(tmp_path)}"] = path.read_bytes().decode("latin-1")
    texts["log records"] = caplog.text + "\n".join(str(r.__dict__) for r in caplog.records)
    out, err = capfd.readouterr()
    texts["stdout/stderr"] = out + err
    assert any(name.startswith("file project/defs") for name in texts)
    # The error paths really ran and failed for the reason their label says (the captured texts, not labels).
    for label in (
        "error: wrong password",
        "error: component wrong password",
        "error: sensor tick wrong password",
    ):
        assert "AirflowAuthenticationError" in texts[label], f"{label}: {texts[label][-2000:]}"
        assert f"Airflow rejected the username {SECRET_USERNAME!r}" in texts[label], texts[label][-2000:]
    assert "AirflowUnavailableError" in texts["error: airflow down"], texts["error: airflow down"][-2000:]
    leaks = sorted(name for name, text in texts.items() if SECRET_PASSWORD in text)
    assert leaks == [], f"the secret password appears in: {leaks}"
