"""The zero-code runner against a real Airflow 3.3: the same task of the same DAG run, executed once by Airflow
(unproxied) and once by the runner with no metadata database, gives the same XComs, rendered fields, side
effects and outcome; bad input fails naming what is wrong; secrets stay out of the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airlift_components.airflow_api import DagRunRecord
from tests.zero_code.conftest import (
    CONN_PASSWORD,
    DB_ONLY_PASSWORD,
    ZeroCodeAirflow,
    airflow_task_instance,
    airflow_xcoms,
    payload_for,
    run_runner,
)

LOGICAL_DATE = "2024-03-05T00:00:00+00:00"


@dataclass
class ReferenceRuns:
    """The finished unproxied Airflow runs every test compares against."""

    equivalence: DagRunRecord
    outcomes: DagRunRecord
    connections: DagRunRecord


@pytest.fixture(scope="module")
def reference(zero_code_airflow: ZeroCodeAirflow) -> Iterator[ReferenceRuns]:
    client = zero_code_airflow.client
    triggered = [
        client.trigger_dag_run("zc_equivalence", logical_date=LOGICAL_DATE, conf={"who": "from-conf"}),
        client.trigger_dag_run("zc_outcomes", logical_date=LOGICAL_DATE),
        client.trigger_dag_run("zc_connections", logical_date=LOGICAL_DATE),
    ]
    done = [client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300) for run in triggered]
    yield ReferenceRuns(*done)


def _payload(zc: ZeroCodeAirflow, run: DagRunRecord, task_id: str):
    return payload_for(zc.client, run, task_id, dags_folder=zc.airflow.dags_folder)


@pytest.mark.parametrize("task_id", ["extract", "transform", "summarize"])
def test_python_tasks_push_the_same_xcoms_as_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns, task_id: str
) -> None:
    """PythonOperator (op_args, op_kwargs, templates_dict), @task(multiple_outputs) reading an upstream XCom
    over REST, and a TaskFlow input from a multiple_outputs key: same XComs as Airflow stored."""
    zc, run = zero_code_airflow, reference.equivalence
    expected = airflow_xcoms(zc.client, run, task_id)
    outcome = run_runner(zc, _payload(zc, run, task_id))
    assert outcome.returncode == 0, outcome.result.error
    assert outcome.result.state == "success" == airflow_task_instance(zc.client, run, task_id)["state"]
    assert {x.key: x.value for x in outcome.result.xcoms} == expected
    assert expected  # the comparison is not vacuous


def test_python_operator_renders_templates_dict_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    """ds, params overridden by dag_run.conf and var.value from AIRFLOW_VAR_* render as in Airflow."""
    zc, run = zero_code_airflow, reference.equivalence
    outcome = run_runner(zc, _payload(zc, run, "extract"))
    assert outcome.result.xcom("return_value") == {"rows": 6, "day": "2024-03-05", "tag": "from-conf-2"}
    airflow_rendered = airflow_task_instance(zc.client, run, "extract")["rendered_fields"]
    assert outcome.result.rendered_fields["templates_dict"] == airflow_rendered["templates_dict"]


def test_bash_task_renders_the_same_command_and_writes_the_same_file(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    """BashOperator with env, cwd and templates (ds, ts, params from conf, var.value, macros.ds_add,
    xcom_pull, data_interval_start): same rendered bash_command/env/cwd, same file, no DB in AIRFLOW_HOME."""
    zc, run = zero_code_airflow, reference.equivalence
    outcome = run_runner(zc, _payload(zc, run, "report"))
    assert outcome.returncode == 0, outcome.result.error
    airflow_ti = airflow_task_instance(zc.client, run, "report")
    assert airflow_ti["state"] == outcome.result.state == "success"
    for field in ("bash_command", "env", "cwd"):
        assert outcome.result.rendered_fields[field] == airflow_ti["rendered_fields"][field], field
    airflow_file = zc.airflow_out / "report_20240305.txt"
    runner_file = outcome.home.parent / "out" / "report_20240305.txt"
    expected_line = (
        "ds=2024-03-05 ts=2024-03-05T00:00:00+00:00 who=from-conf thr=2 prev=2024-03-04 rows=6 "
        "start=2024-03-05 00:00:00+00:00 env=from-conf-env cwd=tmp\n"
    )
    assert airflow_file.read_text() == runner_file.read_text() == expected_line
    assert {x.key: x.value for x in outcome.result.xcoms} == airflow_xcoms(zc.client, run, "report")
    assert not list(outcome.home.rglob("*.db")), "the runner created a database file"


def test_bash_skip_on_exit_code_is_skipped_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.outcomes
    outcome = run_runner(zc, _payload(zc, run, "skipper"))
    assert airflow_task_instance(zc.client, run, "skipper")["state"] == "skipped"
    assert (outcome.returncode, outcome.result.state, outcome.result.xcoms) == (0, "skipped", ())


def test_bash_non_zero_exit_fails_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.outcomes
    outcome = run_runner(zc, _payload(zc, run, "failer"))
    assert airflow_task_instance(zc.client, run, "failer")["state"] == "failed"
    assert (outcome.returncode, outcome.result.state) == (1, "failed")
    assert "exit code 3" in (outcome.result.error or ""), outcome.result.error
    assert outcome.result.retryable


def test_connection_from_env_var_works_and_its_password_stays_out_of_the_result(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.connections
    outcome = run_runner(zc, _payload(zc, run, "env_conn"))
    assert outcome.result.state == "success", outcome.result.error
    assert {x.key: x.value for x in outcome.result.xcoms} == airflow_xcoms(zc.client, run, "env_conn")
    assert outcome.result.xcom("return_value") == f"db.example:zc_user:{len(CONN_PASSWORD)}"
    assert CONN_PASSWORD not in json.dumps(outcome.result.to_json()) + outcome.stderr


def test_connection_password_rendered_into_a_command_is_masked_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    """A template that renders a connection password: the rendered field is masked as Airflow masks it,
    and the password is in neither the result file nor the runner's log output."""
    zc, run = zero_code_airflow, reference.connections
    outcome = run_runner(zc, _payload(zc, run, "leaky"))
    airflow_ti = airflow_task_instance(zc.client, run, "leaky")
    assert airflow_ti["state"] == outcome.result.state == "success", outcome.result.error
    assert outcome.result.rendered_fields["bash_command"] == airflow_ti["rendered_fields"]["bash_command"]
    assert "***" in outcome.result.rendered_fields["bash_command"]
    assert CONN_PASSWORD not in json.dumps(outcome.result.to_json()) + outcome.stderr


def test_connection_only_in_airflows_database_fails_naming_it_and_how_to_provide_it(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.connections
    assert airflow_task_instance(zc.client, run, "db_only_conn")["state"] == "success"  # Airflow reads its DB
    outcome = run_runner(zc, _payload(zc, run, "db_only_conn"))
    assert (outcome.returncode, outcome.result.state) == (1, "failed")
    error = outcome.result.error or ""
    assert "'zc_db_only'" in error and "AIRFLOW_CONN_ZC_DB_ONLY" in error, error
    assert "only in Airflow's metadata database" in error, error
    result_text = json.dumps(outcome.result.to_json()) + outcome.stderr
    for secret in (DB_ONLY_PASSWORD, CONN_PASSWORD, "admin:admin"):
        assert secret not in result_text


def test_unknown_task_id_fails_naming_the_dag_and_the_task(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.equivalence
    outcome = run_runner(zc, _payload(zc, run, "no_such_task"))
    assert (outcome.returncode, outcome.result.state, outcome.result.retryable) == (2, "failed", False)
    error = outcome.result.error or ""
    assert "DAG 'zc_equivalence' has no task 'no_such_task'" in error, error
    assert "'extract'" in error  # lists the tasks it has
    assert outcome.result.error_type == "ZeroCodeInputError"


def test_missing_env_var_fails_before_parsing_naming_it(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.equivalence
    payload = _payload(zc, run, "extract")
    payload = type(payload).from_json({**payload.to_json(), "env_vars": ["AIRFLOW_CONN_NOT_SET_ANYWHERE"]})
    outcome = run_runner(zc, payload)
    assert (outcome.returncode, outcome.result.state) == (2, "failed")
    assert "AIRFLOW_CONN_NOT_SET_ANYWHERE" in (outcome.result.error or "")


def test_dag_file_that_does_not_exist_fails_naming_it(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    zc, run = zero_code_airflow, reference.equivalence
    payload = _payload(zc, run, "extract")
    payload = type(payload).from_json({**payload.to_json(), "dag_file": "gone.py"})
    outcome = run_runner(zc, payload)
    assert outcome.returncode == 2
    assert str(Path(zc.airflow.dags_folder) / "gone.py") in (outcome.result.error or "")


def test_custom_operator_importing_a_helper_next_to_the_dag_file_matches_airflow(
    zero_code_airflow: ZeroCodeAirflow, reference: ReferenceRuns
) -> None:
    """An in-house BaseOperator subclass from a module beside the DAG file: same XComs (return value and
    an extra key), same rendered fields, same file written."""
    zc, run = zero_code_airflow, reference.equivalence
    outcome = run_runner(zc, _payload(zc, run, "custom_export"))
    airflow_ti = airflow_task_instance(zc.client, run, "custom_export")
    assert airflow_ti["state"] == outcome.result.state == "success", outcome.result.error
    assert {x.key: x.value for x in outcome.result.xcoms} == airflow_xcoms(zc.client, run, "custom_export")
    for field in ("target_name", "greeting"):
        assert outcome.result.rendered_fields[field] == airflow_ti["rendered_fields"][field]
    written = (outcome.home.parent / "out" / "greeting_20240305.txt").read_text()
    assert (
        written == (zc.airflow_out / "greeting_20240305.txt").read_text() == "hello from-conf on 2024-03-05\n"
    )
