"""Zero-code end to end: a task proxied in a real Airflow 3.3 runs its own code through the asset the real
builder generates, served by the session's real Dagster (``zero_code_dagster``, code location
``zc_dagster_e2e``: ``dagster_e2e/``); the proxy relays the result into Airflow."""

from __future__ import annotations

import pytest

from tests.in_airflow.harness import LocalDagster, task_log
from tests.zero_code.conftest import ZeroCodeAirflow, airflow_task_instance, airflow_xcoms, run_to_end

pytestmark = pytest.mark.timeout(900)

DAG_ID = "zc_dagster_e2e"


@pytest.fixture(scope="module")
def dagster(zero_code_dagster: LocalDagster) -> LocalDagster:
    """The session's Dagster; the DAG's proxy finds it through the ``zc_dagster_e2e_url`` Variable."""
    return zero_code_dagster


def test_proxied_task_runs_its_own_code_in_dagster_and_airflow_gets_its_xcoms(
    zero_code_airflow: ZeroCodeAirflow, dagster: LocalDagster
) -> None:
    zc = zero_code_airflow
    run = run_to_end(zc.client, DAG_ID, conf={"who": "e2e"})
    produce_log = task_log(zc.airflow, DAG_ID, run.run_id, "produce")
    assert run.state == "success", produce_log
    # The proxy ran it: one Dagster run for the task, and Airflow shows the task code's XComs.
    (dagster_run,) = dagster.runs_for(DAG_ID, airlift__dag_run_id=run.run_id, airlift__task_id="produce")
    assert dagster_run.status == "SUCCESS"
    assert airflow_xcoms(zc.client, run, "produce") == {
        "extra": "pushed explicitly",
        "total": 3,
        "who": "e2e",
        "return_value": {"total": 3, "who": "e2e"},
    }
    # The unproxied downstream task read the relayed XComs as it would read the task's own.
    assert airflow_task_instance(zc.client, run, "consume")["state"] == "success"
    assert airflow_xcoms(zc.client, run, "consume") == {"return_value": "total=3 extra=pushed explicitly"}
