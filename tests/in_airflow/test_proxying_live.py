"""Proxying end to end: real Airflow 3 runs DAGs whose proxied tasks launch runs in a real Dagster."""

from __future__ import annotations

import time

import pytest

from airlift_components.conventions import (
    ORIGINAL_OPERATOR_DOC_PREFIX,
    PROXIED_DAG_TAG,
    PROXIED_TASKS_DAG_TAG,
    PROXY_MARKER_DAG,
    PROXY_MARKER_FIELD,
    PROXY_MARKER_TASK,
)
from airlift_components.in_airflow.dagster_graphql import FINISHED_RUN_STATUSES
from tests.in_airflow.harness import (
    AUTH_TOKEN,
    ProxiedRequest,
    make_client,
    request_summaries,
    run_dag,
    task_log,
    task_states,
)

pytestmark = pytest.mark.timeout(600)


def test_task_proxied_in_the_middle_of_a_dag_runs_in_dagster(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_middle")
    assert run.state == "success"
    assert task_states(client, "proxy_middle", run.run_id) == {
        "extract": "success",
        "transform": "success",
        "load": "success",
    }
    runs = dagster.runs_for("proxy_middle", airlift__dag_run_id=run.run_id)
    assert len(runs) == 1
    assert runs[0].status == "SUCCESS"
    assert runs[0].tags["airlift/task_id"] == "transform"
    assert runs[0].tags["airlift/try_number"] == "1"
    assert "ran in Airflow: extract" in task_log(proxy_airflow3, "proxy_middle", run.run_id, "extract")
    assert runs[0].run_id in task_log(proxy_airflow3, "proxy_middle", run.run_id, "transform")


def test_proxied_task_keeps_its_id_dependencies_and_scheduling_settings(proxy_airflow3):
    client = make_client(proxy_airflow3)
    tasks = {task.task_id: task for task in client.list_tasks("proxy_middle")}
    transform = tasks["transform"]
    assert transform.operator == "DefaultProxyTaskToDagsterOperator"
    assert transform.upstream_task_ids == ("extract",) or set(tasks["extract"].downstream_task_ids) == {
        "transform"
    }
    assert set(transform.downstream_task_ids) == {"load"}
    assert transform.retries == 2
    assert transform.trigger_rule == "all_done"
    assert transform.doc_md == (
        "Transforms extracted rows.\n\n"
        f"{ORIGINAL_OPERATOR_DOC_PREFIX}airflow.providers.standard.operators.python.PythonOperator"
    )
    assert PROXY_MARKER_FIELD in transform.template_fields
    assert PROXY_MARKER_FIELD not in tasks["extract"].template_fields
    assert PROXIED_TASKS_DAG_TAG in client.get_dag("proxy_middle").tags


def test_proxied_task_instances_carry_the_marker_in_rendered_fields(proxy_airflow3):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_all")
    tis = {ti.task_id: ti for ti in client.list_task_instances(dag_ids=["proxy_all"], run_ids=[run.run_id])}
    assert tis["first"].rendered_fields[PROXY_MARKER_FIELD] == PROXY_MARKER_TASK
    assert tis["first"].operator == "DefaultProxyTaskToDagsterOperator"


def test_all_tasks_proxied_each_launch_their_own_run(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_all")
    assert run.state == "success"
    runs = dagster.runs_for("proxy_all", airlift__dag_run_id=run.run_id)
    assert sorted(r.tags["airlift/task_id"] for r in runs) == ["first", "second"]
    assert all(r.status == "SUCCESS" for r in runs)
    # Airflow kept the order: second's Dagster run started after first's ended.
    by_task = {r.tags["airlift/task_id"]: r for r in runs}
    assert by_task["second"].start_time >= by_task["first"].end_time


def test_dag_level_proxying_replaces_the_dag_with_one_task(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    tasks = client.list_tasks("proxy_dag_level")
    assert [t.task_id for t in tasks] == ["DAGSTER_OVERRIDE_proxy_dag_level"]
    assert PROXIED_DAG_TAG in client.get_dag("proxy_dag_level").tags
    run = run_dag(client, "proxy_dag_level")
    assert run.state == "success"
    (dagster_run,) = dagster.runs_for("proxy_dag_level", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"
    assert "airlift/task_id" not in dagster_run.tags
    (ti,) = client.list_task_instances(dag_ids=["proxy_dag_level"], run_ids=[run.run_id])
    assert ti.rendered_fields[PROXY_MARKER_FIELD] == PROXY_MARKER_DAG


def test_custom_operator_sends_the_api_key_from_an_airflow_variable(proxy_airflow3, dagster, auth_proxy):
    client = make_client(proxy_airflow3)
    before = len(auth_proxy.seen_auth)
    run = run_dag(client, "proxy_custom_auth")
    assert run.state == "success", task_log(proxy_airflow3, "proxy_custom_auth", run.run_id, "build")
    assert auth_proxy.seen_auth[before:] and set(auth_proxy.seen_auth[before:]) == {"ok"}
    (dagster_run,) = dagster.runs_for("proxy_custom_auth", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"
    assert AUTH_TOKEN not in task_log(proxy_airflow3, "proxy_custom_auth", run.run_id, "build")


def test_custom_dag_level_operator_with_build_from_dag(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    assert [t.task_id for t in client.list_tasks("proxy_custom_dag_auth")] == ["OVERRIDDEN"]
    run = run_dag(client, "proxy_custom_dag_auth")
    assert run.state == "success"
    (dagster_run,) = dagster.runs_for("proxy_custom_dag_auth", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"


def test_one_proxied_task_costs_one_lookup_one_launch_and_the_polls(proxy_airflow3, dagster, auth_proxy):
    # proxy_custom_auth's operator talks to Dagster through the auth proxy, which records each request.
    client = make_client(proxy_airflow3)
    before = len(auth_proxy.requests_seen)
    run = run_dag(client, "proxy_custom_auth")
    assert run.state == "success", task_log(proxy_airflow3, "proxy_custom_auth", run.run_id, "build")
    (dagster_run,) = dagster.runs_for("proxy_custom_auth", airlift__dag_run_id=run.run_id)

    def for_this_try(request: ProxiedRequest) -> bool:
        tags = request.variables.get("runTags") or (
            request.variables.get("executionParams", {}).get("executionMetadata", {}).get("tags")
        )
        if tags is not None:
            return {"key": "airlift/dag_run_id", "value": run.run_id} in tags
        return request.variables.get("runId") == dagster_run.run_id

    sent = [r for r in auth_proxy.requests_seen[before:] if for_this_try(r)]
    operations = [r.operation for r in sent]
    assert operations[:2] == ["AirliftProxyLookup", "AirliftProxyLaunch"], operations
    polls = sent[2:]
    assert polls and {r.operation for r in polls} == {"AirliftProxyRun"}, operations
    # The operator polls until it reads a finished run, then stops: every poll but the last saw it running.
    assert polls[-1].run_status == "SUCCESS"
    assert all(r.run_status not in FINISHED_RUN_STATUSES for r in polls[:-1]), polls
    (summary,) = request_summaries(task_log(proxy_airflow3, "proxy_custom_auth", run.run_id, "build"))
    assert summary.requests == len(sent) == 2 + len(polls)


def test_wrong_api_key_fails_without_retrying_and_without_leaking_it(proxy_airflow3, auth_proxy):
    client = make_client(proxy_airflow3)
    before = len(auth_proxy.requests_seen)
    client.set_variable("my_api_key", "wrong-key-value")
    try:
        run = run_dag(client, "proxy_custom_auth")
    finally:
        client.set_variable("my_api_key", AUTH_TOKEN)
    assert run.state == "failed"
    # One request, refused; no retry by the client, and no second try by Airflow (AirflowFailException).
    assert [(r.accepted, r.operation) for r in auth_proxy.requests_seen[before:]] == [
        (False, "AirliftProxyLookup")
    ]
    (ti,) = client.list_task_instances(dag_ids=["proxy_custom_auth"], run_ids=[run.run_id])
    assert (ti.state, ti.try_number) == ("failed", 1)
    log = task_log(proxy_airflow3, "proxy_custom_auth", run.run_id, "build")
    assert "refused the credentials (HTTP 401)" in log
    assert "wrong-key-value" not in log


def test_partitioned_assets_run_for_the_logical_date_partition(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_partitioned", logical_date="2024-03-05T00:00:00+00:00")
    assert run.state == "success", task_log(proxy_airflow3, "proxy_partitioned", run.run_id, "daily")
    (dagster_run,) = dagster.runs_for("proxy_partitioned", airlift__dag_run_id=run.run_id)
    assert dagster_run.tags["dagster/partition"] == "2024-03-05"
    assert dagster_run.status == "SUCCESS"


def test_partitioned_proxy_without_logical_date_fails_clearly(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_partitioned")  # Airflow 3: logical_date null
    assert run.logical_date is None
    assert run.state == "failed"
    log = task_log(proxy_airflow3, "proxy_partitioned", run.run_id, "daily")
    assert "no logical date" in log
    assert dagster.runs_for("proxy_partitioned", airlift__dag_run_id=run.run_id) == []


def test_failed_dagster_run_fails_the_task_with_the_run_link_and_error(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_failing")
    assert run.state == "failed"
    assert task_states(client, "proxy_failing", run.run_id) == {"before": "success", "breaks": "failed"}
    (dagster_run,) = dagster.runs_for("proxy_failing", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "FAILURE"
    log = task_log(proxy_airflow3, "proxy_failing", run.run_id, "breaks")
    assert f"{dagster.url}/runs/{dagster_run.run_id}" in log
    assert "proxy_failing/breaks failed on purpose" in log


def test_retried_task_reattaches_instead_of_launching_a_second_run(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_retry")
    assert run.state == "success"
    (ti,) = client.list_task_instances(dag_ids=["proxy_retry"], run_ids=[run.run_id])
    assert ti.try_number == 2
    runs = dagster.runs_for("proxy_retry", airlift__dag_run_id=run.run_id)
    assert len(runs) == 1, [r.tags for r in runs]
    assert runs[0].tags["airlift/try_number"] == "1"
    assert runs[0].status == "SUCCESS"
    assert "instead of launching a second run" in task_log(
        proxy_airflow3, "proxy_retry", run.run_id, "slow", 2
    )


def test_a_cleared_task_runs_again_as_a_new_try_with_its_own_dagster_run(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_bench")
    assert run.state == "success"
    body = {"dry_run": False, "only_failed": False, "dag_run_id": run.run_id, "task_ids": ["work"]}
    client.request("POST", "/api/v2/dags/proxy_bench/clearTaskInstances", json=body)
    deadline = time.monotonic() + 180
    (ti,) = client.list_task_instances(dag_ids=["proxy_bench"], run_ids=[run.run_id])
    while not (ti.try_number == 2 and ti.state in ("success", "failed")) and time.monotonic() < deadline:
        time.sleep(1)
        (ti,) = client.list_task_instances(dag_ids=["proxy_bench"], run_ids=[run.run_id])
    assert (ti.try_number, ti.state) == (2, "success"), task_log(
        proxy_airflow3, "proxy_bench", run.run_id, "work", 2
    )
    runs = dagster.runs_for("proxy_bench", airlift__dag_run_id=run.run_id)
    assert sorted((r.tags["airlift/try_number"], r.status) for r in runs) == [
        ("1", "SUCCESS"),
        ("2", "SUCCESS"),
    ]
    (second,) = [r for r in runs if r.tags["airlift/try_number"] == "2"]
    assert f"Launched Dagster run {second.run_id}" in task_log(
        proxy_airflow3, "proxy_bench", run.run_id, "work", 2
    )


def test_timed_out_task_terminates_its_dagster_run(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_timeout")
    assert run.state == "failed"
    (dagster_run,) = dagster.runs_for("proxy_timeout", airlift__dag_run_id=run.run_id)
    assert dagster.wait_until_finished(dagster_run.run_id, timeout=60).status == "CANCELED"


def test_instance_name_unknown_falls_back_to_dag_id_metadata(proxy_airflow3, dagster):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_fallback")
    assert run.state == "success"
    (dagster_run,) = dagster.runs_for("proxy_fallback", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"
    assert "looking the DAG asset up by dag_id" in task_log(
        proxy_airflow3, "proxy_fallback", run.run_id, "only"
    )


def test_unreachable_dagster_fails_clearly_after_bounded_retries(proxy_airflow3):
    client = make_client(proxy_airflow3)
    run = run_dag(client, "proxy_unreachable")
    assert run.state == "failed"
    # Bounded: the one try gave up after the client's 3 attempts (no endless retry, no hang).
    (ti,) = client.list_task_instances(dag_ids=["proxy_unreachable"], run_ids=[run.run_id])
    assert (ti.state, ti.try_number) == ("failed", 1)
    log = task_log(proxy_airflow3, "proxy_unreachable", run.run_id, "only")
    # The lookup's 3 connection attempts are all the requests this try made; no step completed.
    assert "Dagster GraphQL requests for this task: 3 ()" in log
    closed_url = proxy_airflow3.extra_env["TEST_CLOSED_PORT_URL"]
    assert f"Dagster at {closed_url}/graphql is unavailable: cannot connect" in log
    assert "after 3 attempts" in log
