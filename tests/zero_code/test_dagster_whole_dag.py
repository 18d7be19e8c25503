"""A DAG proxied as a whole runs its own tasks zero-code in ONE Dagster run: real Airflow 3.3 (the session's
zero-code Airflow) and the session's real Dagster webserver + daemon (``zero_code_dagster``: ``dagster dev``,
queued runs) serving the definitions the real builder generates (code location ``zc_whole``:
``whole_dag_dagster/``; in-process executor, to save a process
start per step: the steps still read each other's results from the run's event log in storage)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from dagster import DagsterInstance

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    ZeroCodeDefinitionError,
    build_defs_from_airflow_instance,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.core.helpers import events_for_run, keys_of, tick_until_caught_up
from tests.in_airflow.harness import LocalDagster, task_log
from tests.zero_code.conftest import ZeroCodeAirflow, run_to_end

pytestmark = pytest.mark.timeout(900)

DAG_ID = "zc_whole_dag"
PROXY_ID = f"DAGSTER_OVERRIDE_{DAG_ID}"
TASK_IDS = ("produce", "combine", "report")


@pytest.fixture(scope="module")
def dagster(zero_code_dagster: LocalDagster) -> LocalDagster:
    """The session's Dagster (queued runs, daemon); the DAG proxy finds it through ``zc_whole_dag_url``."""
    assert zero_code_dagster.mode.startswith("dagster_dev")  # queued runs, dequeued by the daemon
    return zero_code_dagster


def _materialized_keys(dagster: LocalDagster, run_id: str) -> list[str]:
    body = dagster.client().execute(
        "query ($runId: ID!) { runOrError(runId: $runId) { ... on Run { assetMaterializations "
        "{ assetKey { path } } } } }",
        {"runId": run_id},
    )
    return sorted("/".join(m["assetKey"]["path"]) for m in body["runOrError"]["assetMaterializations"])


def _asset_exists(dagster: LocalDagster, key: str) -> bool:
    body = dagster.client().execute(
        "query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename } }",
        {"key": {"path": key.split("/")}},
    )
    return body["assetNodeOrError"]["__typename"] == "AssetNode"


def test_whole_dag_runs_all_tasks_in_one_dagster_run_passing_xcoms_with_a_task_mapped_key_materialized_once(
    zero_code_airflow: ZeroCodeAirflow, dagster: LocalDagster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: ``combine`` is mapped (whole_dag_dagster/definitions.py) to ``warehouse/order_totals``, a task
    only the proxy's record lists; Airflow holds no XCom of the DAG's tasks, and the sensor emits nothing
    for the proxied run's assets."""
    zc = zero_code_airflow
    out = tmp_path / "out"
    out.mkdir()
    run = run_to_end(zc.client, DAG_ID, conf={"who": "whole", "out": str(out)})
    assert run.state == "success", task_log(zc.airflow, DAG_ID, run.run_id, PROXY_ID)
    # ONE Dagster run, launched by the DAG proxy (no task id tag), materialized each task's assets once:
    # `combine`'s under its mapped key, whose default key the location does not have.
    (dagster_run,) = dagster.runs_for(DAG_ID, airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"
    assert "airlift/task_id" not in dagster_run.tags
    assert _materialized_keys(dagster, dagster_run.run_id) == [
        "warehouse/order_totals",
        f"zc_whole/task/{DAG_ID}/produce",
        f"zc_whole/task/{DAG_ID}/report",
    ]
    assert not _asset_exists(dagster, f"zc_whole/task/{DAG_ID}/combine")
    # The downstream tasks saw their upstream tasks' XComs (callable, template, Bash template); `report`
    # read the mapped `combine`'s from the run (its result is observed under warehouse/order_totals).
    assert json.loads((out / "combine.json").read_text()) == {
        "templated_total": "3",
        "who": "whole",
        "whole": {"total": 3, "who": "whole"},
    }
    assert (out / "report.txt").read_text() == "whole has 3\n"
    # Airflow ran only the proxy task, and holds no XCom of a task that does not exist there.
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run.run_id, safe='')}"
    tis = zc.client.request("GET", f"{path}/taskInstances")["task_instances"]
    assert [(ti["task_id"], ti["state"]) for ti in tis] == [(PROXY_ID, "success")]
    xcoms = zc.client.request("GET", f"{path}/taskInstances/~/xcomEntries")["xcom_entries"]
    assert {entry["task_id"] for entry in xcoms} <= {PROXY_ID}
    # The sensor (the same definitions, ticked in-process) materializes the DAG asset only: the run was
    # proxied, so the Dagster run already materialized order_totals and the task assets.
    monkeypatch.setenv("AIRLIFT_TEST_AIRFLOW_URL", zc.airflow.url)
    defs = importlib.import_module("tests.zero_code.whole_dag_dagster.definitions").defs
    with DagsterInstance.ephemeral() as instance:
        ticks = tick_until_caught_up(defs, instance, None, instance_name="zc_whole")
    assert keys_of(events_for_run(ticks, run.run_id, DAG_ID)) == [f"zc_whole/dag/{DAG_ID}"]


def test_whole_dag_with_a_sensor_fails_definitions_naming_dag_task_class_and_reason(
    zero_code_airflow: ZeroCodeAirflow,
) -> None:
    zc = zero_code_airflow
    zc.airflow.wait_for_dags({"zc_whole_refused"})
    instance = AirflowInstance(
        BasicAuthBackend(zc.airflow.url, ADMIN_USERNAME, ADMIN_PASSWORD), name="zc_whole"
    )
    with pytest.raises(ZeroCodeDefinitionError) as raised:
        build_defs_from_airflow_instance(
            airflow_instance=instance,
            dag_selector_fn=lambda dag: dag.dag_id == "zc_whole_refused",
            zero_code=ZeroCode(dags=["zc_whole_*"]),
        )
    message = str(raised.value)
    for part in (
        "zc_whole/zc_whole_refused.wait_for_file",
        "airflow.providers.standard.sensors.python.PythonSensor",
        "sensor",
        "proxied as a whole",
    ):
        assert part in message
    # The eligible task after it is not named as refused.
    assert "zc_whole_refused.after_wait" not in message
