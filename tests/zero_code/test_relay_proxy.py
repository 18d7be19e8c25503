"""The proxy operator relays a zero-code run's result into Airflow: real Airflow 3.3, real Dagster webserver.

One run of ``zc_relay`` (``dags/zc_relay_dags.py``, every root task proxied to a zero-code asset) on the
session's zero-code Airflow; the Dagster project in ``relay_dagster/`` (code location ``zc_relay`` of the
session's Dagster, ``zero_code_dagster``) reports results per the contract
(``conventions.ZERO_CODE_RESULT_METADATA_KEY``). Each test then asserts one behaviour of that run, as
Airflow's REST API shows it (task states, tries, XCom listing) and as Dagster recorded it (runs per try).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest

from airlift_components.airflow_api import DagRunRecord, TaskInstanceRecord
from airlift_components.conventions import ORIGINAL_OPERATOR_DOC_PREFIX, ZERO_CODE_RESULT_METADATA_KEY
from airlift_components.in_airflow.dagster_graphql import DagsterRun
from tests.in_airflow.harness import LocalDagster, task_log
from tests.zero_code.conftest import ZeroCodeAirflow, airflow_xcoms, run_to_end

pytestmark = pytest.mark.timeout(900)

DAG_ID = "zc_relay"


@dataclass
class RelayRun:
    """The one ``zc_relay`` run: its record, task instances by (task_id, map_index), Dagster runs."""

    zc: ZeroCodeAirflow
    dagster: LocalDagster
    run: DagRunRecord
    tis: dict[tuple[str, int], TaskInstanceRecord]

    def ti(self, task_id: str, map_index: int = -1) -> TaskInstanceRecord:
        return self.tis[(task_id, map_index)]

    def xcoms(self, task_id: str, map_index: int = -1) -> dict:
        if map_index == -1:
            return airflow_xcoms(self.zc.client, self.run, task_id)
        path = (
            f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(self.run.run_id, safe='')}/taskInstances/"
            f"{task_id}/xcomEntries/return_value"
        )
        return {"return_value": self.zc.client.request("GET", path, params={"map_index": map_index})["value"]}

    def dagster_runs(self, task_id: str) -> list[DagsterRun]:
        return self.dagster.runs_for(DAG_ID, airlift__dag_run_id=self.run.run_id, airlift__task_id=task_id)

    def log(self, task_id: str, try_number: int = 1) -> str:
        return task_log(self.zc.airflow, DAG_ID, self.run.run_id, task_id, try_number)


@pytest.fixture(scope="module")
def relay_run(zero_code_airflow: ZeroCodeAirflow, zero_code_dagster: LocalDagster) -> RelayRun:
    """The one ``zc_relay`` run, its proxies relaying to the session's Dagster (``zc_relay_dagster_url``)."""
    client = zero_code_airflow.client
    run = run_to_end(client, DAG_ID)
    tis = {
        (ti.task_id, ti.map_index): ti
        for ti in client.list_task_instances(dag_ids=[DAG_ID], run_ids=[run.run_id])
    }
    return RelayRun(zero_code_airflow, zero_code_dagster, run, tis)


def test_proxy_records_the_replaced_operator_as_the_last_line_of_doc_md(relay_run):
    tasks = {task.task_id: task for task in relay_run.zc.client.list_tasks(DAG_ID)}
    assert tasks["produce"].operator == "RelayProxy"
    assert tasks["produce"].doc_md == (
        f"{ORIGINAL_OPERATOR_DOC_PREFIX}airflow.providers.standard.decorators.python._PythonDecoratedOperator"
    )
    assert tasks["consume"].doc_md is None  # unproxied tasks are untouched


def test_success_pushes_return_value_multiple_outputs_keys_and_the_extra_key(relay_run):
    assert relay_run.ti("produce").state == "success"
    assert relay_run.xcoms("produce") == {
        "return_value": {"total": 3, "names": ["a", "b", "c"]},
        "total": 3,
        "names": ["a", "b", "c"],
        "extra": {"note": "pushed by xcom_push"},
    }
    assert len(relay_run.dagster_runs("produce")) == 1


def test_unproxied_downstream_reads_the_relayed_xcoms(relay_run):
    assert relay_run.ti("consume").state == "success"
    assert relay_run.xcoms("consume")["return_value"] == {
        "total": 3,
        "names": ["a", "b", "c"],
        "extra": {"note": "pushed by xcom_push"},
        "whole": {"total": 3, "names": ["a", "b", "c"]},
    }


def test_mapped_downstream_expands_over_the_relayed_return_value(relay_run):
    mapped = sorted(index for (task_id, index) in relay_run.tis if task_id == "double")
    assert mapped == [0, 1, 2]
    assert [relay_run.ti("double", i).state for i in mapped] == ["success"] * 3
    assert [relay_run.xcoms("double", i)["return_value"] for i in mapped] == [2, 4, 6]


def test_relayed_values_are_deserialised_once_so_downstream_gets_the_original_type(relay_run):
    assert relay_run.ti("pair").state == "success"
    assert relay_run.xcoms("describe_pair")["return_value"] == "tuple:9"


def test_a_none_return_pushes_nothing_and_downstream_runs(relay_run):
    assert relay_run.ti("quiet").state == "success"
    assert relay_run.xcoms("quiet") == {}
    assert relay_run.ti("after_quiet").state == "success"


def test_a_skipped_result_skips_the_proxy_and_its_default_trigger_rule_downstream(relay_run):
    assert relay_run.ti("skips").state == "skipped"
    assert relay_run.ti("after_skip").state == "skipped"
    assert relay_run.dagster_runs("skips")[0].status == "SUCCESS"


def test_a_non_retryable_failure_fails_the_task_without_retry(relay_run):
    ti = relay_run.ti("fails_for_good")
    assert (ti.state, ti.try_number) == ("failed", 1)  # the task has retries=2
    (dagster_run,) = relay_run.dagster_runs("fails_for_good")
    log = relay_run.log("fails_for_good")
    assert "no point retrying" in log
    assert f"/runs/{dagster_run.run_id}" in log


def test_a_retryable_failure_retries_and_try_2_launches_exactly_one_new_run(relay_run):
    ti = relay_run.ti("flaky")
    assert (ti.state, ti.try_number) == ("success", 2)
    runs = relay_run.dagster_runs("flaky")
    assert sorted((r.tags["airlift/try_number"], r.status) for r in runs) == [
        ("1", "FAILURE"),
        ("2", "SUCCESS"),
    ]
    assert "first try breaks" in relay_run.log("flaky", 1)
    assert relay_run.xcoms("flaky") == {"return_value": "second try worked"}


@pytest.mark.parametrize(
    ("task_id", "problem"),
    [("garbled", "not valid JSON"), ("wrong_state", "state must be one of")],
)
def test_a_malformed_result_fails_naming_dag_task_and_run_url(relay_run, task_id, problem):
    assert relay_run.ti(task_id).state == "failed"
    (dagster_run,) = relay_run.dagster_runs(task_id)
    log = relay_run.log(task_id)
    assert f"task {DAG_ID}.{task_id}: zero-code Dagster run {dagster_run.run_id}" in log
    assert f"{relay_run.dagster.url}/runs/{dagster_run.run_id}" in log
    assert problem in log


def test_a_run_without_a_result_fails_naming_dag_task_and_run_url(relay_run):
    assert relay_run.ti("silent").state == "failed"
    (dagster_run,) = relay_run.dagster_runs("silent")
    log = relay_run.log("silent")
    assert f"task {DAG_ID}.silent: zero-code Dagster run {dagster_run.run_id}" in log
    assert f"{relay_run.dagster.url}/runs/{dagster_run.run_id}" in log
    assert "without reporting its result" in log


def test_a_failed_run_without_a_result_fails_retryably_with_the_step_error(relay_run):
    ti = relay_run.ti("crashes")
    assert ti.state == "failed"
    (dagster_run,) = relay_run.dagster_runs("crashes")
    log = relay_run.log("crashes")
    assert f"task {DAG_ID}.crashes: zero-code Dagster run {dagster_run.run_id}" in log
    assert "ended FAILURE without reporting its result" in log
    assert "the runner could not start" in log
    assert "ZeroCodeResultMissingError" in log  # not AirflowFailException: Airflow may retry it


def test_reading_a_result_costs_one_graphql_request(relay_run):
    (dagster_run,) = relay_run.dagster_runs("produce")
    client = relay_run.dagster.client()
    events = client.get_run_observations(dagster_run.run_id)
    assert client.request_count == 1
    (observation,) = events.observations
    assert observation.asset_key == ("zc_relay", "task", DAG_ID, "produce")
    assert ZERO_CODE_RESULT_METADATA_KEY in observation.metadata
