"""The zero-code runner on a manual run with a null logical date: extra XCom keys, AirflowFailException
(no retry), AirflowSkipException, a .sh template file from template_searchpath, a refused sensor, and a
DAG file whose task is proxied (the runner still runs the original code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airlift_components.airflow_api import DagRunRecord
from airlift_components.formats.zero_code import ZeroCodePayload
from tests.zero_code.conftest import (
    ZeroCodeAirflow,
    airflow_task_instance,
    airflow_xcoms,
    payload_for,
    run_runner,
)


@pytest.fixture(scope="module")
def manual_run(zero_code_airflow: ZeroCodeAirflow) -> DagRunRecord:
    """A finished unproxied run of ``zc_more`` triggered with no logical date."""
    client = zero_code_airflow.client
    run = client.trigger_dag_run("zc_more")
    assert run.logical_date is None
    return client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300)


def _payload(zc: ZeroCodeAirflow, run: DagRunRecord, task_id: str) -> ZeroCodePayload:
    return payload_for(zc.client, run, task_id, dags_folder=zc.airflow.dags_folder)


def test_extra_xcom_key_and_return_value_match_airflow_on_a_run_without_logical_date(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    payload = _payload(zc, manual_run, "pusher")
    assert payload.logical_date is None
    outcome = run_runner(zc, payload)
    assert outcome.result.state == "success", outcome.result.error
    expected = airflow_xcoms(zc.client, manual_run, "pusher")
    assert set(expected) == {"return_value", "extra"}
    assert {x.key: x.value for x in outcome.result.xcoms} == expected


def test_airflow_fail_exception_fails_without_retry(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    assert airflow_task_instance(zc.client, manual_run, "fail_hard")["state"] == "failed"
    outcome = run_runner(zc, _payload(zc, manual_run, "fail_hard"))
    result = outcome.result
    assert (outcome.returncode, result.state, result.error_type, result.retryable) == (
        1,
        "failed",
        "AirflowFailException",
        False,
    )
    assert "bad input, do not retry" in (result.error or "")


def test_airflow_skip_exception_is_skipped_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    assert airflow_task_instance(zc.client, manual_run, "skip_me")["state"] == "skipped"
    outcome = run_runner(zc, _payload(zc, manual_run, "skip_me"))
    assert (outcome.returncode, outcome.result.state) == (0, "skipped")


def test_sh_template_file_from_template_searchpath_renders_and_runs_like_airflow(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    airflow_ti = airflow_task_instance(zc.client, manual_run, "from_file")
    assert airflow_ti["state"] == "success"
    outcome = run_runner(zc, _payload(zc, manual_run, "from_file"))
    assert outcome.result.state == "success", outcome.result.error
    rendered = outcome.result.rendered_fields["bash_command"]
    assert rendered == airflow_ti["rendered_fields"]["bash_command"]
    assert f"run={manual_run.run_id} label=dag-label logical=None" in rendered
    runner_file = outcome.home.parent / "out" / "from_file.txt"
    assert runner_file.read_text() == (zc.airflow_out / "from_file.txt").read_text()


def test_sensor_is_refused_naming_dag_task_operator_and_reason(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    outcome = run_runner(zc, _payload(zc, manual_run, "wait_for_it"))
    assert (outcome.returncode, outcome.result.error_type, outcome.result.retryable) == (
        2,
        "ZeroCodeRefusedError",
        False,
    )
    error = outcome.result.error or ""
    assert "zc_airflow/zc_more.wait_for_it" in error and "PythonSensor" in error and "sensor" in error, error


def test_proxied_task_runs_its_original_code(zero_code_airflow: ZeroCodeAirflow) -> None:
    zc = zero_code_airflow
    tasks = zc.client.list_tasks("zc_proxied")
    assert [t.operator for t in tasks] == ["DefaultProxyTaskToDagsterOperator"]  # what Airflow runs
    details = zc.client.request("GET", "/api/v2/dags/zc_proxied/details")
    payload = ZeroCodePayload(
        instance_name="zc_airflow",
        dag_id="zc_proxied",
        task_id="compute",
        run_id="manual__zero_code_only",
        dags_folder=str(zc.airflow.dags_folder),
        dag_file=details["relative_fileloc"],
    )
    outcome = run_runner(zc, payload)
    assert outcome.result.state == "success", outcome.result.error
    assert outcome.result.xcom("return_value") == {"computed_by": "the original task"}
    assert "airlift_proxied_to_dagster" not in json.dumps(outcome.result.rendered_fields)


def test_execution_timeout_fails_the_task_and_leaves_no_process_behind(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    zc = zero_code_airflow
    assert airflow_task_instance(zc.client, manual_run, "too_slow")["state"] == "failed"
    outcome = run_runner(zc, _payload(zc, manual_run, "too_slow"))
    assert (outcome.returncode, outcome.result.state, outcome.result.error_type) == (
        1,
        "failed",
        "AirflowTaskTimeout",
    )
    assert outcome.seconds < 60, "the runner waited for the whole sleep instead of the 3 s timeout"
    assert _processes_with_env("ZC_OUT_DIR", str(outcome.home.parent / "out")) == []


def _processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of live processes whose environment has ``name=value`` (Linux /proc; ours only by the value)."""
    marker = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_task_reading_a_mapped_upstreams_output_matches_airflow(
    zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord
) -> None:
    """A TaskFlow input from a mapped upstream (count and values over its map indexes, read over REST)."""
    zc = zero_code_airflow
    outcome = run_runner(zc, _payload(zc, manual_run, "total"))
    assert outcome.result.state == "success", outcome.result.error
    assert {x.key: x.value for x in outcome.result.xcoms} == airflow_xcoms(zc.client, manual_run, "total")
    assert outcome.result.xcom("return_value") == 12


def test_mapped_task_is_refused(zero_code_airflow: ZeroCodeAirflow, manual_run: DagRunRecord) -> None:
    zc = zero_code_airflow
    outcome = run_runner(zc, _payload(zc, manual_run, "double"))
    assert (outcome.returncode, outcome.result.error_type) == (2, "ZeroCodeRefusedError")
    assert "zc_more.double" in (outcome.result.error or "") and "mapped" in (outcome.result.error or "")
