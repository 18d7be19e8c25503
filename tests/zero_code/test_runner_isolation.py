"""Isolation: two concurrent Airflow runs of the same task do not mix XComs in the runner, and a DAG file
changed after Airflow parsed the run is an error instead of silently running other code."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from tests.zero_code.conftest import (
    ZeroCodeAirflow,
    airflow_task_instance,
    payload_for,
    run_runner,
)


def test_two_concurrent_runs_of_one_task_each_see_their_own_run(zero_code_airflow: ZeroCodeAirflow) -> None:
    zc, client = zero_code_airflow, zero_code_airflow.client
    triggered = [
        client.trigger_dag_run(
            "zc_equivalence", logical_date="2024-04-01T00:00:00+00:00", conf={"who": "alpha"}
        ),
        client.trigger_dag_run(
            "zc_equivalence", logical_date="2024-04-02T00:00:00+00:00", conf={"who": "beta"}
        ),
    ]
    runs = [client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300) for run in triggered]
    rendered = []
    for run, who, day in zip(runs, ("alpha", "beta"), ("2024-04-01", "2024-04-02"), strict=True):
        outcome = run_runner(zc, payload_for(client, run, "report", dags_folder=zc.airflow.dags_folder))
        assert outcome.result.state == "success", outcome.result.error
        command = outcome.result.rendered_fields["bash_command"]
        assert command == airflow_task_instance(client, run, "report")["rendered_fields"]["bash_command"]
        assert f"ds={day}" in command and f"who={who}" in command
        rendered.append(command)
    assert rendered[0] != rendered[1]


def test_dag_file_changed_since_airflow_parsed_the_run_is_an_error(
    zero_code_airflow: ZeroCodeAirflow, tmp_path: Path
) -> None:
    zc, client = zero_code_airflow, zero_code_airflow.client
    run = client.trigger_dag_run("zc_outcomes", logical_date="2024-05-01T00:00:00+00:00")
    run = client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300)
    changed = tmp_path / "dags"
    shutil.copytree(zc.airflow.dags_folder, changed)
    payload = payload_for(client, run, "skipper", dags_folder=changed)
    (changed / payload.dag_file).write_text(
        (changed / payload.dag_file).read_text() + "\n# edited after the run\n"
    )
    outcome = run_runner(zc, payload)
    assert (outcome.returncode, outcome.result.state, outcome.result.retryable) == (2, "failed", False)
    assert "is not the code Airflow parsed for this run" in (outcome.result.error or "")
    # The unchanged file in Airflow's own folder runs.
    same = run_runner(zc, replace(payload, dags_folder=str(zc.airflow.dags_folder)))
    assert same.result.state == "skipped", same.result.error


def test_prev_success_templates_render_from_the_previous_successful_run_like_airflow(
    zero_code_airflow: ZeroCodeAirflow,
) -> None:
    zc, client = zero_code_airflow, zero_code_airflow.client
    first = client.trigger_dag_run("zc_history", logical_date="2024-06-01T00:00:00+00:00")
    assert client.wait_for_dag_run(first.dag_id, first.run_id, timeout=300).state == "success"
    second = client.trigger_dag_run("zc_history", logical_date="2024-06-02T00:00:00+00:00")
    second = client.wait_for_dag_run(second.dag_id, second.run_id, timeout=300)
    outcome = run_runner(
        zc, payload_for(client, second, "since_last_success", dags_folder=zc.airflow.dags_folder)
    )
    assert outcome.result.state == "success", outcome.result.error
    command = outcome.result.rendered_fields["bash_command"]
    assert (
        command
        == airflow_task_instance(client, second, "since_last_success")["rendered_fields"]["bash_command"]
    )
    assert "prev_start=2024-06-01 00:00:00+00:00" in command and "prev_started=None" not in command, command
