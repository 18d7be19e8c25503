"""On Airflow 2.11 (``.venv-airflow2``, ``airflow.models.BaseOperator``), a proxied task runs in Dagster."""

from __future__ import annotations

import pytest

from airlift_components.conventions import PROXY_MARKER_FIELD, PROXY_MARKER_TASK
from tests.in_airflow.harness import make_client, run_dag, task_log, task_states

pytestmark = [pytest.mark.airflow2, pytest.mark.timeout(600)]


def test_proxied_task_runs_in_dagster_on_airflow2(proxy_airflow2, dagster):
    client = make_client(proxy_airflow2)
    assert client.api_version == "v1"
    run = run_dag(client, "proxy_airflow2", timeout=300)
    assert run.state == "success", task_log(proxy_airflow2, "proxy_airflow2", run.run_id, "transform")
    assert task_states(client, "proxy_airflow2", run.run_id) == {"extract": "success", "transform": "success"}
    (dagster_run,) = dagster.runs_for("proxy_airflow2", airlift__dag_run_id=run.run_id)
    assert dagster_run.status == "SUCCESS"
    assert dagster_run.tags["airlift/task_id"] == "transform"
    assert dagster_run.tags["airlift/try_number"] == "1"
    tis = {
        ti.task_id: ti for ti in client.list_task_instances(dag_ids=["proxy_airflow2"], run_ids=[run.run_id])
    }
    assert (tis["transform"].rendered_fields or {}).get(PROXY_MARKER_FIELD) == PROXY_MARKER_TASK
