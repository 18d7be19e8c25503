"""The zero-code runner on Airflow 2.11 (``.venv-airflow2``, so it really runs in another environment).

The session's Airflow 2.11 (``airflow2``) parses ``dags_airflow2/`` (copied into its DAGs folder for this
module) and runs ``zc2_equivalence`` once unproxied; then every task of that run goes through
``python -m airlift_components.in_airflow.zero_code`` with a fresh ``AIRFLOW_HOME`` whose metadata DB does
not exist (``sql_alchemy_conn`` points into a missing folder), and the tests compare rendered fields,
XComs, states and side effects with what Airflow's REST API v1 returns for its own run.

Airflow reads its variable and connections from its database (set over REST here); the runner gets the
same values from ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``, pointing the SQLite connection at its own file.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airlift_components.airflow_api import AirflowClient
from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.conftest import REPO, make_client

pytestmark = [pytest.mark.airflow2, pytest.mark.timeout(900)]

DAGS = Path(__file__).resolve().parent / "dags_airflow2"
LOGICAL_DATE = "2024-03-05T00:00:00+00:00"
CONF = {"who": "conf-who"}
ENV_VARS = ("AIRFLOW_VAR_ZC2_THRESHOLD", "AIRFLOW_CONN_ZC2_SQLITE")
EQUIVALENCE_TASKS = ("extract", "transform", "report", "skipper", "failer", "load_sql")
RUNNER_ONLY_TASKS = ("db_only_conn", "touch_metadata_db", "wait_for_it", "custom")


@dataclass
class Execution:
    """One runner execution: exit code, result, stderr and the folder it ran in (its AIRFLOW_HOME is
    ``work/home``; its side effects are under it)."""

    returncode: int
    result: ZeroCodeResult
    stderr: str
    work: Path


@dataclass
class Airflow2Runs:
    """Airflow 2.11's own run of ``zc2_equivalence`` and the runner's executions of the same tasks."""

    airflow: LocalAirflow
    client: AirflowClient
    run_id: str
    airflow_db: Path
    executions: dict[str, Execution]


def _payload(
    client: AirflowClient, airflow: LocalAirflow, dag_id: str, run_id: str, task_id: str, **extra: Any
) -> ZeroCodePayload:
    """The payload the Dagster side builds for Airflow 2: the run's facts and the DAG file from REST v1."""
    try:
        run = client.request("GET", f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
    except Exception:  # noqa: BLE001 - a runner-only task has no Airflow run: use fixed facts
        run = {"logical_date": LOGICAL_DATE, "run_type": "manual", "conf": {}}
    details = client.request("GET", f"/api/v1/dags/{dag_id}/details")
    return ZeroCodePayload.from_json(
        {
            "instance_name": "zc2_airflow",
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "logical_date": run.get("logical_date"),
            "data_interval_start": run.get("data_interval_start"),
            "data_interval_end": run.get("data_interval_end"),
            "run_type": run.get("run_type") or "manual",
            "conf": run.get("conf") or {},
            "dags_folder": str(airflow.dags_folder),
            "dag_file": str(Path(details["fileloc"]).relative_to(airflow.dags_folder)),
            "env_vars": list(ENV_VARS),
            **extra,
        }
    )


def _run_runner(airflow: LocalAirflow, payload: ZeroCodePayload, work: Path) -> Execution:
    """``.venv-airflow2/bin/python -m airlift_components.in_airflow.zero_code`` as the Dagster side starts it."""
    home = work / "home"
    home.mkdir(parents=True)
    payload.write(work / "payload.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            # A metadata DB that cannot exist: any access must fail, never create one.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/no-such-dir/airflow.db",
            "PYTHONPATH": str(REPO),
            "AIRFLOW_VAR_ZC2_THRESHOLD": "2",
            "AIRFLOW_CONN_ZC2_SQLITE": json.dumps({"conn_type": "sqlite", "host": str(work / "zc2.db")}),
            ENV_AIRFLOW_URL: airflow.url,
            ENV_AIRFLOW_USERNAME: ADMIN_USERNAME,
            ENV_AIRFLOW_PASSWORD: ADMIN_PASSWORD,
        }
    )
    proc = subprocess.run(
        [
            str(REPO / ".venv-airflow2" / "bin" / "python"),
            "-m",
            "airlift_components.in_airflow.zero_code",
            str(work / "payload.json"),
            str(work / "result.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert (work / "result.json").exists(), f"no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return Execution(proc.returncode, ZeroCodeResult.read(work / "result.json"), proc.stderr, work)


@pytest.fixture(scope="module")
def af2_runs(airflow2: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow2Runs]:
    """Airflow 2.11 runs ``zc2_equivalence`` once; the runner then runs each task (three at a time)."""
    base = tmp_path_factory.mktemp("zc2")
    copy = airflow2.dags_folder / "zc2"
    shutil.copytree(DAGS, copy)
    try:
        client = make_client(airflow2)
        airflow_db = base / "airflow_zc2.db"
        for body in (
            {"connection_id": "zc2_sqlite", "conn_type": "sqlite", "host": str(airflow_db)},
            {
                "connection_id": "zc2_db_only",
                "conn_type": "postgres",
                "host": "db-only.example",
                "login": "u",
            },
        ):
            client.request("POST", "/api/v1/connections", json=body, idempotent=False)
        client.set_variable("zc2_threshold", "2")
        started = time.monotonic()
        airflow2.wait_for_dags(["zc2_equivalence", "zc2_runner_only"], timeout=240)
        parsed = time.monotonic()
        run = client.trigger_dag_run("zc2_equivalence", logical_date=LOGICAL_DATE, conf=CONF)
        jobs = {
            task_id: _payload(client, airflow2, "zc2_equivalence", run.run_id, task_id)
            for task_id in EQUIVALENCE_TASKS
        }
        jobs.update(
            {
                task_id: _payload(client, airflow2, "zc2_runner_only", "manual__zc2", task_id)
                for task_id in RUNNER_ONLY_TASKS
            }
        )
        # The same task fed by a same-run XCom in the payload (a DAG proxied as a whole) instead of REST.
        jobs["transform_same_run"] = ZeroCodePayload.from_json(
            {
                **jobs["transform"].to_json(),
                "upstream_xcoms": {"extract": {"return_value": {"rows": 50, "day": "d", "tag": "t"}}},
            }
        )
        # A DAG file that is not what Airflow parsed (edited after the parse) is refused, not run.
        changed = base / "changed_dags"
        shutil.copytree(airflow2.dags_folder / "zc2", changed / "zc2")
        with (changed / "zc2" / "zc2_dags.py").open("a") as file:
            file.write("# edited after Airflow parsed it\n")
        jobs["skipper_changed_file"] = ZeroCodePayload.from_json(
            {**jobs["skipper"].to_json(), "dags_folder": str(changed)}
        )
        # Tasks that read ``extract``'s XCom from Airflow start once Airflow's extract is done; the others
        # run while Airflow's run is under way (the runner writes to its own home and SQLite file).
        needs_extract = ("transform", "report")
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(_run_runner, airflow2, p, base / name)
                for name, p in jobs.items()
                if name not in needs_extract
            }
            _wait_for_task(client, run.run_id, "extract")
            futures.update(
                {name: pool.submit(_run_runner, airflow2, jobs[name], base / name) for name in needs_extract}
            )
            finished = client.wait_for_dag_run("zc2_equivalence", run.run_id, timeout=400)
            airflow_done = time.monotonic()
            executions = {name: future.result() for name, future in futures.items()}
        print(
            f"Airflow 2.11: DAGs parsed in {parsed - started:.1f}s, run in {airflow_done - parsed:.1f}s; "
            f"{len(jobs)} runner executions done {time.monotonic() - airflow_done:.1f}s after it",
            file=sys.stderr,
        )
        assert finished.state == "failed"  # ``failer`` fails by design; the others are compared below
        yield Airflow2Runs(airflow2, client, run.run_id, airflow_db, executions)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _wait_for_task(client: AirflowClient, run_id: str, task_id: str, timeout: float = 400) -> None:
    """Wait until Airflow has finished one task of the run (its XComs are then readable)."""
    path = f"/api/v1/dags/zc2_equivalence/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
    deadline = time.monotonic() + timeout
    while client.request("GET", path).get("state") not in ("success", "failed", "upstream_failed"):
        assert time.monotonic() < deadline, f"Airflow did not finish {task_id} in {timeout:.0f}s"
        time.sleep(1)


def _airflow_ti(runs: Airflow2Runs, task_id: str) -> dict[str, Any]:
    return runs.client.request(
        "GET",
        f"/api/v1/dags/zc2_equivalence/dagRuns/{quote(runs.run_id, safe='')}/taskInstances/{task_id}",
    )


def _airflow_xcoms(runs: Airflow2Runs, task_id: str) -> dict[str, Any]:
    path = (
        f"/api/v1/dags/zc2_equivalence/dagRuns/{quote(runs.run_id, safe='')}/taskInstances/{task_id}"
        "/xcomEntries"
    )
    keys = [entry["key"] for entry in runs.client.request("GET", path)["xcom_entries"]]
    return {
        key: runs.client.request("GET", f"{path}/{quote(key)}", params={"stringify": "false"})["value"]
        for key in keys
    }


def _runner_xcoms(execution: Execution) -> dict[str, Any]:
    return {xcom.key: xcom.value for xcom in execution.result.xcoms}


def _assert_same_as_airflow(runs: Airflow2Runs, task_id: str) -> Execution:
    execution = runs.executions[task_id]
    assert execution.result.state == "success", execution.stderr[-3000:]
    airflow_ti = _airflow_ti(runs, task_id)
    assert airflow_ti["state"] == "success"
    assert execution.result.rendered_fields == airflow_ti["rendered_fields"]
    assert _runner_xcoms(execution) == _airflow_xcoms(runs, task_id)
    return execution


def test_python_operator_op_kwargs_and_templates_dict_match_airflow2(af2_runs: Airflow2Runs) -> None:
    execution = _assert_same_as_airflow(af2_runs, "extract")
    # conf overrides params, var.value from AIRFLOW_VAR_*, macros.ds_add: as Airflow rendered them.
    assert execution.result.xcom("return_value") == {
        "rows": 6,
        "day": "2024-03-05",
        "tag": "conf-who-2-2024-03-06",
    }


def test_taskflow_multiple_outputs_and_extra_key_from_an_upstream_that_ran_in_airflow2(
    af2_runs: Airflow2Runs,
) -> None:
    execution = _assert_same_as_airflow(af2_runs, "transform")
    assert _runner_xcoms(execution) == {
        "extra": {"run": af2_runs.run_id, "try": 1},
        "rows_x2": 12,
        "over": True,
        "ds": "2024-03-05",
        "return_value": {"rows_x2": 12, "over": True, "ds": "2024-03-05"},
    }


def test_same_run_upstream_xcoms_in_the_payload_come_before_rest(af2_runs: Airflow2Runs) -> None:
    result = af2_runs.executions["transform_same_run"].result
    assert result.state == "success", result.error
    assert result.xcom("rows_x2") == 100  # from the payload's extract value (50), not Airflow's (6)


def test_bash_template_file_env_and_side_effect_match_airflow2(af2_runs: Airflow2Runs) -> None:
    execution = _assert_same_as_airflow(af2_runs, "report")
    airflow_file = af2_runs.airflow.home / "zc2_out" / "report_20240305.txt"
    runner_file = execution.work / "home" / "zc2_out" / "report_20240305.txt"
    assert runner_file.read_text() == airflow_file.read_text()
    assert "who=conf-who thr=2 prev=2024-03-04 rows=6" in runner_file.read_text()
    assert "env=conf-who-env" in runner_file.read_text()


def test_bash_skip_on_exit_code_and_non_zero_exit_match_airflow2_states(af2_runs: Airflow2Runs) -> None:
    skipper, failer = af2_runs.executions["skipper"], af2_runs.executions["failer"]
    assert (skipper.returncode, skipper.result.state) == (0, "skipped")
    assert _airflow_ti(af2_runs, "skipper")["state"] == "skipped"
    assert (failer.returncode, failer.result.state, failer.result.retryable) == (1, "failed", True)
    assert "exit code 3" in (failer.result.error or "")
    assert _airflow_ti(af2_runs, "failer")["state"] == "failed"
    assert skipper.result.rendered_fields == _airflow_ti(af2_runs, "skipper")["rendered_fields"]


def test_sql_on_sqlite_from_an_env_connection_matches_airflow2_rows_and_xcom(af2_runs: Airflow2Runs) -> None:
    execution = _assert_same_as_airflow(af2_runs, "load_sql")

    def rows(path: Path) -> list[tuple]:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT ds, who, amount FROM orders ORDER BY ds").fetchall()

    assert rows(execution.work / "zc2.db") == rows(af2_runs.airflow_db) == [("2024-03-05", "conf-who", 2)]


def test_connection_only_in_airflow2_db_fails_fast_naming_the_conn_id(af2_runs: Airflow2Runs) -> None:
    execution = af2_runs.executions["db_only_conn"]
    assert (execution.returncode, execution.result.state) == (1, "failed")
    error = execution.result.error or ""
    assert "connection 'zc2_db_only' exists only in Airflow's metadata database" in error
    assert "AIRFLOW_CONN_ZC2_DB_ONLY" in error


def test_refused_kinds_on_airflow2_name_task_class_and_reason(af2_runs: Airflow2Runs) -> None:
    sensor, custom = af2_runs.executions["wait_for_it"], af2_runs.executions["custom"]
    assert (sensor.returncode, sensor.result.error_type, sensor.result.retryable) == (
        2,
        "ZeroCodeRefusedError",
        False,
    )
    assert "zc2_runner_only.wait_for_it (airflow.sensors.python.PythonSensor)" in (sensor.result.error or "")
    assert "sensor" in (sensor.result.error or "")
    assert (custom.returncode, custom.result.error_type) == (2, "ZeroCodeRefusedError")
    assert "zc2_runner_only.custom (zc2_dags.Zc2CustomOperator)" in (custom.result.error or "")
    assert "on Airflow 2, only Python, Bash and SQL operators run zero-code" in (custom.result.error or "")


def test_metadata_db_access_fails_loudly_and_no_runner_creates_a_db(af2_runs: Airflow2Runs) -> None:
    execution = af2_runs.executions["touch_metadata_db"]
    assert (execution.returncode, execution.result.state) == (1, "failed")
    assert execution.result.error_type == "ZeroCodeUnsupportedError"
    assert execution.result.retryable is False
    assert "tried to use Airflow's metadata database" in (execution.result.error or "")
    for name, done in af2_runs.executions.items():
        databases = [p for p in (done.work / "home").rglob("*") if p.suffix in (".db", ".sqlite")]
        assert databases == [], f"{name}: the runner created {databases}"
        assert not (done.work / "home" / "no-such-dir").exists(), name


def test_a_dag_file_that_differs_from_what_airflow2_parsed_is_refused(af2_runs: Airflow2Runs) -> None:
    execution = af2_runs.executions["skipper_changed_file"]
    assert (execution.returncode, execution.result.error_type) == (2, "ZeroCodeInputError")
    assert "is not the code Airflow parsed for this DAG" in (execution.result.error or "")
