"""Zero-code assets on the Dagster side, against the real Airflow 3.3 of ``conftest.py`` and a real Dagster
instance: each Airflow DAG run here finishes unproxied first; the zero-code asset is then materialized with
the run tags the proxy operator sets for that Airflow run, and what it reports must match Airflow."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import instance_for_test
from dagster.components.core.component_tree import ComponentTree

from airlift_components import AirflowInstanceComponent
from airlift_components.airflow_api import BasicAuthBackend, DagRunRecord
from airlift_components.cli.definitions import peered_instances
from airlift_components.cli.status import collect_progress, render
from airlift_components.conventions import (
    PROXY_TARGETS_METADATA_KEY,
    RUN_TAG_DAG_ID,
    RUN_TAG_DAG_RUN_ID,
    RUN_TAG_TASK_ID,
    RUN_TAG_TRY_NUMBER,
    ZERO_CODE_RESULT_METADATA_KEY,
)
from airlift_components.core import (
    AirflowInstance,
    ZeroCode,
    ZeroCodeDefinitionError,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from airlift_components.formats.zero_code import ZeroCodeResult
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.conftest import REPO
from tests.zero_code.conftest import CONN_PASSWORD, SHARED_ENV, ZeroCodeAirflow, airflow_xcoms

INSTANCE = "zc_dagster"
ZERO_CODE_DAGS = ["zc_equivalence", "zc_outcomes", "zc_connections"]
PASSWORD_ENV = "ZC_DAGSTER_AIRFLOW_PASSWORD"


@dataclass
class Setup:
    """The reference Airflow runs, the settings, the definitions built from them and a Dagster instance."""

    zc: ZeroCodeAirflow
    runs: dict[str, DagRunRecord]
    settings: ZeroCode
    defs: dg.Definitions
    dagster: dg.DagsterInstance


@pytest.fixture(scope="module")
def setup(zero_code_airflow: ZeroCodeAirflow, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    zc = zero_code_airflow
    # What the Dagster process holds: the env vars the tasks need, and where the runner finds this package.
    patch = pytest.MonkeyPatch()
    for name, value in SHARED_ENV.items():
        patch.setenv(name, value)
    patch.setenv("PYTHONPATH", str(REPO))
    patch.setenv("ZC_OUT_DIR", str(tmp_path_factory.mktemp("zc_dagster_out")))
    patch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
    client = zc.client
    triggered = [
        client.trigger_dag_run(
            "zc_equivalence", logical_date="2024-07-01T00:00:00+00:00", conf={"who": "dg"}
        ),
        client.trigger_dag_run("zc_outcomes", logical_date="2024-07-01T00:00:00+00:00"),
        client.trigger_dag_run("zc_connections", logical_date="2024-07-01T00:00:00+00:00"),
    ]
    runs = {run.dag_id: client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300) for run in triggered}
    settings = ZeroCode(
        dags=ZERO_CODE_DAGS,
        python=str(REPO / ".venv" / "bin" / "python"),
        dags_folder=str(zc.airflow.dags_folder),
        env_vars=sorted(SHARED_ENV),
    )
    instance = AirflowInstance(
        BasicAuthBackend(zc.airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), name=INSTANCE
    )
    defs = build_defs_from_airflow_instance(airflow_instance=instance, zero_code=settings)
    with instance_for_test() as dagster:
        yield Setup(zc, runs, settings, defs, dagster)
    patch.undo()


def task_key(dag_id: str, task_id: str) -> dg.AssetKey:
    return dg.AssetKey([INSTANCE, "task", dag_id, task_id])


def materialize_for(setup: Setup, run: DagRunRecord, task_id: str) -> dg.ExecuteInProcessResult:
    """Run the task's zero-code asset as the proxy operator would launch it for ``run`` (try 1)."""
    job = setup.defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=setup.dagster,
        asset_selection=[task_key(run.dag_id, task_id)],
        tags={
            RUN_TAG_DAG_ID: run.dag_id,
            RUN_TAG_DAG_RUN_ID: run.run_id,
            RUN_TAG_TASK_ID: task_id,
            RUN_TAG_TRY_NUMBER: "1",
        },
        raise_on_error=False,
    )


def relayed_result(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> ZeroCodeResult:
    """The one zero-code result observation of ``key`` in the run."""
    observations = [
        event.asset_observation_data.asset_observation
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    ]
    assert [o.asset_key for o in observations] == [key]
    text = observations[0].metadata[ZERO_CODE_RESULT_METADATA_KEY].value
    return ZeroCodeResult.from_json(json.loads(text))


def test_zero_code_asset_relays_the_same_xcoms_as_airflow(setup: Setup) -> None:
    """@task(multiple_outputs) reading its upstream XCom over REST: the observation's XComs are Airflow's,
    and the asset materializes."""
    run = setup.runs["zc_equivalence"]
    started = time.monotonic()
    result = materialize_for(setup, run, "transform")
    assert result.success
    relayed = relayed_result(result, task_key("zc_equivalence", "transform"))
    print(
        f"zero-code asset run: {time.monotonic() - started:.2f}s wall, "
        f"{relayed.duration_seconds:.2f}s in the task runner",
        file=sys.stderr,
    )
    expected = airflow_xcoms(setup.zc.client, run, "transform")
    assert relayed.state == "success"
    assert {x.key: x.value for x in relayed.xcoms} == expected
    assert set(expected) >= {"return_value", "rows_x2"}  # the comparison is not vacuous
    materialized = [e.asset_key for e in result.get_asset_materialization_events()]
    assert materialized == [task_key("zc_equivalence", "transform")]


def test_zero_code_tasks_are_proxy_targets_of_their_dag(setup: Setup) -> None:
    """The DAG asset's proxy targets send each task to its zero-code asset and list it as zero-code."""
    spec = next(
        s
        for s in setup.defs.resolve_all_asset_specs()
        if s.key == dg.AssetKey([INSTANCE, "dag", "zc_equivalence"])
    )
    targets = spec.metadata[PROXY_TARGETS_METADATA_KEY].value
    assert targets["tasks"]["transform"] == [[INSTANCE, "task", "zc_equivalence", "transform"]]
    assert set(targets["zero_code"]) == {"extract", "transform", "summarize", "report", "custom_export"}


def test_skipped_task_materializes_nothing_and_the_run_succeeds(setup: Setup) -> None:
    """BashOperator exiting with its skip_on_exit_code: skipped observation, no materialization."""
    result = materialize_for(setup, setup.runs["zc_outcomes"], "skipper")
    assert result.success
    assert relayed_result(result, task_key("zc_outcomes", "skipper")).state == "skipped"
    assert result.get_asset_materialization_events() == []


def test_empty_task_materializes_without_starting_the_runner(setup: Setup) -> None:
    """An EmptyOperator (a DAG's start/end marker) is eligible: its asset materializes, no process starts."""
    result = materialize_for(setup, setup.runs["zc_outcomes"], "marker")
    assert result.success
    assert relayed_result(result, task_key("zc_outcomes", "marker")).state == "success"
    materialized = [e.asset_key for e in result.get_asset_materialization_events()]
    assert materialized == [task_key("zc_outcomes", "marker")]
    messages = [entry.user_message for entry in setup.dagster.all_logs(result.run_id)]
    assert any("no runner is started" in m for m in messages)
    assert not any("starting the zero-code runner" in m for m in messages)


def test_failed_task_fails_the_run_without_retry_and_still_reports(setup: Setup) -> None:
    """A non-zero Bash exit: the failed result is observed first, then the step fails with its error."""
    result = materialize_for(setup, setup.runs["zc_outcomes"], "failer")
    assert not result.success
    relayed = relayed_result(result, task_key("zc_outcomes", "failer"))
    assert relayed.state == "failed"
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "exit code 3" in (failure.step_failure_data.user_failure_data.description or "")
    assert result.get_asset_materialization_events() == []


def test_launch_without_airflow_run_tags_is_refused(setup: Setup) -> None:
    job = setup.defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=setup.dagster, asset_selection=[task_key("zc_outcomes", "skipper")], raise_on_error=False
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no Airflow run tags" in failure.step_failure_data.user_failure_data.description


def test_connection_password_from_env_is_nowhere_in_dagster(setup: Setup) -> None:
    """A task renders a connection's password (given via AIRFLOW_CONN_* in env_vars): it is in neither the
    event log, the run tags nor the run config; the relayed rendered field shows it masked."""
    result = materialize_for(setup, setup.runs["zc_connections"], "leaky")
    assert result.success
    relayed = relayed_result(result, task_key("zc_connections", "leaky"))
    assert relayed.rendered_fields["bash_command"] == 'echo "pw=***" > /dev/null'
    storage = Path(setup.dagster.root_directory)
    texts = {str(p): p.read_bytes().decode("latin-1") for p in storage.rglob("*") if p.is_file()}
    record = setup.dagster.get_run_by_id(result.run_id)
    assert record is not None
    texts["run tags and config"] = json.dumps([record.tags, record.run_config], default=str)
    assert len(texts) > 1
    assert [name for name, text in texts.items() if CONN_PASSWORD in text] == []


def test_proxied_sensor_fails_definitions_naming_it(zero_code_airflow: ZeroCodeAirflow) -> None:
    """A proxied sensor cannot run zero-code: loading definitions fails naming instance, DAG, task, operator
    class and reason."""
    zc = zero_code_airflow
    zc.airflow.wait_for_dags({"zc_dagster_refused"})
    instance = AirflowInstance(
        BasicAuthBackend(zc.airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), name=INSTANCE
    )
    with pytest.raises(ZeroCodeDefinitionError) as raised:
        build_defs_from_airflow_instance(airflow_instance=instance, zero_code=ZeroCode(dags=["zc_dagster_*"]))
    message = str(raised.value)
    for part in (
        f"{INSTANCE}/zc_dagster_refused.wait_for_file",
        "airflow.providers.standard.sensors.python.PythonSensor",
        "sensor",
        "proxied: False",
    ):
        assert part in message


def test_yaml_zero_code_builds_the_same_assets_as_the_python_api(setup: Setup, tmp_path: Path) -> None:
    attributes = yaml.safe_load(
        f"""
        name: {INSTANCE}
        auth:
          type: basic
          webserver_url: {setup.zc.airflow.url}
          username: {ADMIN_USERNAME}
          password_env: {PASSWORD_ENV}
        zero_code:
          dags: {json.dumps(ZERO_CODE_DAGS)}
          runner:
            python: {setup.settings.python}
            dags_folder: {setup.settings.dags_folder}
            env_vars: {json.dumps(list(setup.settings.env_vars))}
        """
    )
    component = AirflowInstanceComponent.resolve_from_dict(attributes)
    assert component.zero_code_settings() == setup.settings
    state = tmp_path / "snapshot.json"
    component.write_state_to_path(state)
    defs = component.build_defs_from_state(ComponentTree.for_test().load_context, state)

    def executable(d: dg.Definitions) -> dict[dg.AssetKey, str]:
        graph = d.resolve_asset_graph()
        return {key: graph.get(key).assets_def.op.name for key in graph.executable_asset_keys}

    def targets(d: dg.Definitions) -> dict[str, object]:
        return {
            s.key.to_user_string(): s.metadata[PROXY_TARGETS_METADATA_KEY].value
            for s in d.resolve_all_asset_specs()
            if PROXY_TARGETS_METADATA_KEY in s.metadata
        }

    assert executable(defs) == executable(setup.defs)
    assert len(executable(defs)) >= 9
    assert targets(defs) == targets(setup.defs)
    assert os.environ[PASSWORD_ENV] not in json.dumps(targets(defs))


def test_status_counts_zero_code_eligible_tasks_and_names_why_not(zero_code_airflow: ZeroCodeAirflow) -> None:
    """`airlift-components status`: per DAG, how many tasks can run zero-code; each other one with its reason
    (a proxied sensor is classified by the original operator its proxy records)."""
    zc = zero_code_airflow
    zc.airflow.wait_for_dags({"zc_dagster_refused", "zc_whole_dag"})
    instance = AirflowInstance(
        BasicAuthBackend(zc.airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), name=INSTANCE
    )
    peered = peered_instances(build_defs_from_airflow_instance(airflow_instance=instance))[INSTANCE]
    progress = collect_progress(peered)
    by_dag = {dag["dag_id"]: dag for dag in progress.to_json()["dags"]}
    assert by_dag["zc_equivalence"]["zero_code_eligible"] == by_dag["zc_equivalence"]["tasks"] == 5
    refused = by_dag["zc_dagster_refused"]
    assert refused["zero_code_eligible"] == 0
    (sensor,) = refused["task_details"]
    assert sensor["zero_code_eligible"] is False and "sensor" in sensor["zero_code"]
    text = render([progress], "markdown")
    assert f"- {INSTANCE}/zc_equivalence: 5/5 tasks zero-code eligible" in text
    assert (
        "    - wait_for_file (airflow.providers.standard.sensors.python.PythonSensor): waits on state" in text
    )
    # A DAG proxied as a whole: eligibility of the tasks its proxy records (from the live tasks listing).
    assert f"- {INSTANCE}/zc_whole_dag: 3/3 tasks zero-code eligible (proxied as a whole: the tasks" in text


def test_task_mapped_specs_become_the_zero_code_asset(setup: Setup) -> None:
    """A task with a task mapping runs as its mapped assets: the specs become one executable multi-asset that
    materializes them when the task succeeds, and the proxy targets keep pointing at them."""
    rows, day = dg.AssetSpec("zc_rows"), dg.AssetSpec("zc_day", deps=["zc_rows"])
    instance = AirflowInstance(
        BasicAuthBackend(setup.zc.airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), name=INSTANCE
    )
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance,
        defs=dg.Definitions(assets=assets_with_task_mappings("zc_equivalence", {"extract": [rows, day]})),
        zero_code=setup.settings,
    )
    graph = defs.resolve_asset_graph()
    assert {rows.key, day.key} <= set(graph.executable_asset_keys)
    assert task_key("zc_equivalence", "extract") not in graph.get_all_asset_keys()
    dag_spec = next(
        s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey([INSTANCE, "dag", "zc_equivalence"])
    )
    targets = dag_spec.metadata[PROXY_TARGETS_METADATA_KEY].value
    assert targets["tasks"]["extract"] == [["zc_rows"], ["zc_day"]]
    assert "extract" in targets["zero_code"]

    run = setup.runs["zc_equivalence"]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=setup.dagster,
        asset_selection=[rows.key, day.key],
        tags={RUN_TAG_DAG_ID: run.dag_id, RUN_TAG_DAG_RUN_ID: run.run_id, RUN_TAG_TASK_ID: "extract"},
        raise_on_error=False,
    )
    assert result.success
    relayed = relayed_result(result, rows.key)
    assert {x.key: x.value for x in relayed.xcoms} == airflow_xcoms(setup.zc.client, run, "extract")
    assert sorted(e.asset_key.to_user_string() for e in result.get_asset_materialization_events()) == [
        "zc_day",
        "zc_rows",
    ]
