"""The zero-code runner runs SQLExecuteQueryOperator through the common-sql hook (SQLite) like Airflow 3.3 does.

The DAG ``zc_sql`` (``dags/zc_sql_dags.py``) runs once unproxied in the session's Airflow, whose
connection ``zc_sqlite`` lives in its metadata database and points at one SQLite file; then the runner
executes the same three tasks of the same DAG run, with the connection given as ``AIRFLOW_CONN_ZC_SQLITE``
(pointing at another file), as a user's runner environment provides it. Both files must then hold the
same rows, and Airflow and the runner must report the same rendered SQL and the same XCom.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from airlift_components.airflow_api import DagRunRecord
from airlift_components.airflow_api.errors import AirflowError
from tests.zero_code.conftest import (
    RunnerOutcome,
    ZeroCodeAirflow,
    airflow_task_instance,
    airflow_xcoms,
    payload_for,
    run_runner,
)

pytestmark = pytest.mark.timeout(900)

DAG_ID = "zc_sql"
TASK_IDS = ("create", "load", "report")
LOGICAL_DATE = "2024-03-05T00:00:00+00:00"
CONN_ENV = "AIRFLOW_CONN_ZC_SQLITE"


@dataclass
class SqlRuns:
    """The unproxied Airflow run, the runner's outcome per task, and each side's SQLite file."""

    zc: ZeroCodeAirflow
    run: DagRunRecord
    outcomes: dict[str, RunnerOutcome]
    airflow_db: Path
    runner_db: Path


@pytest.fixture(scope="module")
def sql_runs(zero_code_airflow: ZeroCodeAirflow, tmp_path_factory: pytest.TempPathFactory) -> SqlRuns:
    zc = zero_code_airflow
    airflow_db = zc.airflow_out / "zc_sql.db"
    runner_db = tmp_path_factory.mktemp("zc_sql_runner") / "zc_sql.db"
    try:
        zc.client.request(
            "POST",
            "/api/v2/connections",
            json={"connection_id": "zc_sqlite", "conn_type": "sqlite", "host": str(airflow_db)},
            idempotent=False,
        )
    except AirflowError as error:  # a second module run in the same session already created it
        assert "409" in str(error) or "already exists" in str(error), error
    zc.airflow.wait_for_dags([DAG_ID])
    triggered = zc.client.trigger_dag_run(DAG_ID, logical_date=LOGICAL_DATE)
    run = zc.client.wait_for_dag_run(DAG_ID, triggered.run_id, timeout=300)
    assert run.state == "success"
    env = {CONN_ENV: json.dumps({"conn_type": "sqlite", "host": str(runner_db)})}
    outcomes = {}
    for task_id in TASK_IDS:  # in dependency order, as Airflow ran them
        payload = payload_for(zc.client, run, task_id, dags_folder=zc.airflow.dags_folder)
        payload = dataclasses.replace(payload, env_vars=(*payload.env_vars, CONN_ENV))
        outcomes[task_id] = run_runner(zc, payload, env=env)
    return SqlRuns(zc, run, outcomes, airflow_db, runner_db)


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT day, region, amount FROM orders ORDER BY day, region").fetchall()


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_sql_task_succeeds_in_the_runner_as_in_airflow(sql_runs: SqlRuns, task_id: str) -> None:
    outcome = sql_runs.outcomes[task_id]
    assert outcome.returncode == 0, outcome.result.error
    assert (
        outcome.result.state
        == "success"
        == airflow_task_instance(sql_runs.zc.client, sql_runs.run, task_id)["state"]
    )


def test_sql_tasks_write_the_same_rows_as_airflow(sql_runs: SqlRuns) -> None:
    expected = _rows(sql_runs.airflow_db)
    assert expected == [("2024-03-04", "eu", 1), ("2024-03-05", "eu", 10), ("2024-03-05", "us", 20)]
    assert _rows(sql_runs.runner_db) == expected


@pytest.mark.parametrize("task_id", ["load", "report"])
def test_sql_renders_the_same_sql_as_airflow(sql_runs: SqlRuns, task_id: str) -> None:
    """``load`` renders a .sql file from template_searchpath (params, macros.ds_add), ``report`` inline SQL."""
    airflow_rendered = airflow_task_instance(sql_runs.zc.client, sql_runs.run, task_id)["rendered_fields"]
    rendered = sql_runs.outcomes[task_id].result.rendered_fields
    assert rendered["sql"] == airflow_rendered["sql"]
    assert "2024-03-04" in rendered["sql"] and "{{" not in rendered["sql"]


def test_sql_query_pushes_the_same_xcom_as_airflow(sql_runs: SqlRuns) -> None:
    expected = airflow_xcoms(sql_runs.zc.client, sql_runs.run, "report")
    assert expected  # the comparison is not vacuous
    assert {x.key: x.value for x in sql_runs.outcomes["report"].result.xcoms} == expected
