"""Zero-code end to end on Airflow 2.11: a real 2.11 (the session's ``airflow2``), a real Dagster webserver +
daemon (module-scoped), and the runner in ``.venv-airflow2/bin/python`` (``ZeroCode(python=...)``).

One run of ``zc2_e2e`` (``dags_airflow2_e2e/zc2e_dags.py``, its root tasks proxied at task level to the
zero-code assets of ``airflow2_dagster/``) holds every case; while it runs the fixture marks ``marked_failed``
failed over REST v1 and watches the PIDs the hanging tasks wrote. Each test then asserts one behaviour of
that run, as Airflow's REST API v1 shows it and as Dagster recorded it. The connections the tasks use exist
only in Dagster's environment (``AIRFLOW_CONN_*``), so the SQL rows and the password prove they got there.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airlift_components.airflow_api import AirflowClient, DagRunRecord
from airlift_components.conventions import ZERO_CODE_RESULT_METADATA_KEY
from airlift_components.formats.zero_code import ZeroCodeResult
from airlift_components.in_airflow.dagster_graphql import DagsterRun
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import make_client
from tests.in_airflow.harness import LocalDagster, task_log
from tests.zero_code.processes import alive, gone_within, wait_for_pids

pytestmark = [pytest.mark.airflow2, pytest.mark.timeout(1200)]

HERE = Path(__file__).resolve().parent
DAGS = HERE / "dags_airflow2_e2e"
DEFINITIONS = HERE / "airflow2_dagster" / "definitions.py"
DAG_ID = "zc2_e2e"
LOGICAL_DATE = "2024-03-05T00:00:00+00:00"
SECRET_PASSWORD = f"pw-ZC2E-{secrets.token_hex(6)}"
# Bounded waits, generous for a loaded 2-core machine; they bound, they are not sleeps.
PID_FILE_SECONDS = 600
PROCESS_GONE_SECONDS = 60


class Airflow2Dagster(LocalDagster):
    """``dagster dev`` (webserver + daemon) serving ``airflow2_dagster/definitions.py``, with connections
    in its environment that exist nowhere else."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        super().__init__(home, mode="dagster_dev_threaded_queue")
        self.env = env

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("-f") + 1] = str(DEFINITIONS)
        return command

    def start(self, airflow_url: str, timeout: float = 300.0) -> None:
        """Start as the harness does, with :attr:`env` added to the environment Dagster inherits."""
        saved = {name: os.environ.get(name) for name in self.env}
        os.environ.update(self.env)
        try:
            super().start(airflow_url, timeout)
        finally:  # only the Dagster processes keep them
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@dataclass
class Airflow2Run:
    """The one ``zc2_e2e`` run: Airflow's record and task instances, Dagster, and what the fixture saw."""

    airflow: LocalAirflow
    client: AirflowClient
    dagster: LocalDagster
    run: DagRunRecord
    tis: dict[tuple[str, int], dict[str, Any]]
    out: Path
    sqlite_db: Path
    seconds_until_gone: dict[str, float]

    def ti(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        return self.tis[(task_id, map_index)]

    def xcoms(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = (
            f"/api/v1/dags/{DAG_ID}/dagRuns/{quote(self.run.run_id, safe='')}/taskInstances/{task_id}"
            "/xcomEntries"
        )
        listing = self.client.request("GET", path, params={"map_index": map_index})["xcom_entries"]
        return {
            entry["key"]: self.client.request(
                "GET", f"{path}/{quote(entry['key'])}", params={"map_index": map_index, "stringify": "false"}
            )["value"]
            for entry in listing
        }

    def dagster_runs(self, task_id: str) -> list[DagsterRun]:
        return self.dagster.runs_for(DAG_ID, airlift__dag_run_id=self.run.run_id, airlift__task_id=task_id)

    def result(self, task_id: str) -> ZeroCodeResult:
        """The result the (single) zero-code run of ``task_id`` reported to the proxy."""
        (dagster_run,) = self.dagster_runs(task_id)
        events = self.dagster.client().get_run_observations(dagster_run.run_id)
        (observation,) = [o for o in events.observations if ZERO_CODE_RESULT_METADATA_KEY in o.metadata]
        return ZeroCodeResult.from_json(json.loads(observation.metadata[ZERO_CODE_RESULT_METADATA_KEY]))

    def log(self, task_id: str, try_number: int = 1) -> str:
        return task_log(self.airflow, DAG_ID, self.run.run_id, task_id, try_number)


@pytest.fixture(scope="module")
def af2_run(airflow2: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow2Run]:
    """Airflow 2.11 runs ``zc2_e2e`` once, its proxies launching zero-code runs in this module's Dagster."""
    base = tmp_path_factory.mktemp("zc2_e2e")
    out, sqlite_db = base / "out", base / "zc2e.db"
    out.mkdir()
    copy = airflow2.dags_folder / "zc2e"
    shutil.copytree(DAGS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    dagster = Airflow2Dagster(
        base / "dagster_home",
        {
            "AIRFLOW_CONN_ZC2E_SQLITE": json.dumps({"conn_type": "sqlite", "host": str(sqlite_db)}),
            "AIRFLOW_CONN_ZC2E_SECRET": f"postgres://zc2e_user:{SECRET_PASSWORD}@db.example:5432/warehouse",
        },
    )
    try:
        airflow2.wait_for_dags([DAG_ID], timeout=240)
        client = make_client(airflow2)
        dagster.start(airflow2.url)
        client.set_variable("zc2_e2e_dagster_url", dagster.url)
        run = client.trigger_dag_run(
            DAG_ID, logical_date=LOGICAL_DATE, conf={"out": str(out), "who": "conf-who"}
        )
        gone: dict[str, float] = {}
        # Mark failed: once its task code runs in Dagster, mark the proxy task failed over REST v1.
        marked = wait_for_pids(out / "marked_failed.pids", PID_FILE_SECONDS)
        assert all(alive(pid) for pid in marked)
        client.request(
            "PATCH",
            f"/api/v1/dags/{DAG_ID}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/marked_failed",
            json={"dry_run": False, "new_state": "failed"},
            idempotent=False,
        )
        gone["marked_failed"] = gone_within(marked, PROCESS_GONE_SECONDS)
        # Timeout: the task code sleeps past execution_timeout; Airflow times the proxy out.
        timed_out = wait_for_pids(out / "times_out.pids", PID_FILE_SECONDS)
        gone["times_out"] = gone_within(timed_out, 120 + PROCESS_GONE_SECONDS)
        finished = client.wait_for_dag_run(DAG_ID, run.run_id, timeout=600)
        tis = {
            (ti["task_id"], ti["map_index"]): ti
            for ti in client.request(
                "GET", f"/api/v1/dags/{DAG_ID}/dagRuns/{quote(run.run_id, safe='')}/taskInstances"
            )["task_instances"]
        }
        yield Airflow2Run(airflow2, client, dagster, finished, tis, out, sqlite_db, gone)
    finally:
        dagster.stop()
        shutil.rmtree(copy, ignore_errors=True)


def test_python_task_relays_return_value_multiple_outputs_and_extra_key_to_unproxied_and_mapped_downstream(
    af2_run: Airflow2Run,
) -> None:
    assert af2_run.ti("produce")["state"] == "success", af2_run.log("produce")
    assert af2_run.ti("produce")["operator"] == "Airflow2Proxy"
    extra = {"note": "pushed by xcom_push", "password_length": len(SECRET_PASSWORD)}
    assert af2_run.xcoms("produce") == {
        "return_value": {"total": 3, "names": ["a", "b", "c"]},
        "total": 3,
        "names": ["a", "b", "c"],
        "extra": extra,
    }
    (dagster_run,) = af2_run.dagster_runs("produce")
    assert dagster_run.status == "SUCCESS"
    # The unproxied downstream read the relayed XComs as it would read the task's own.
    assert af2_run.ti("consume")["state"] == "success"
    assert af2_run.xcoms("consume")["return_value"] == {
        "total": 3,
        "names": ["a", "b", "c"],
        "extra": extra,
        "whole": {"total": 3, "names": ["a", "b", "c"]},
    }
    # PythonOperator (op_kwargs) proxied, its try 2 succeeding: the mapped downstream expands over its
    # relayed return value.
    assert af2_run.xcoms("flaky") == {"return_value": [1, 2]}
    mapped = sorted(index for (task_id, index) in af2_run.tis if task_id == "double")
    assert mapped == [0, 1]
    assert [af2_run.ti("double", i)["state"] for i in mapped] == ["success"] * 2
    assert [af2_run.xcoms("double", i)["return_value"] for i in mapped] == [2, 4]


def test_bash_env_and_side_effect_file_and_sql_rows_from_an_env_connection_match_the_reference(
    af2_run: Airflow2Run,
) -> None:
    run_id = af2_run.run.run_id
    for task_id in ("report", "load_sql"):
        assert af2_run.ti(task_id)["state"] == "success", af2_run.log(task_id)
        assert len(af2_run.dagster_runs(task_id)) == 1
    # The rendered command and env, and the file the command wrote, as the unproxied run gives them
    # (``test_runner_airflow2.py`` proves the runner renders as Airflow 2.11 does).
    report = af2_run.result("report")
    assert report.rendered_fields["bash_command"] == (
        f'echo "who=$WHO ds=2024-03-05 run={run_id}" > "$OUT/report_20240305.txt"'
    )
    assert (
        af2_run.out / "report_20240305.txt"
    ).read_text() == f"who=conf-who-env ds=2024-03-05 run={run_id}\n"
    # SQL on SQLite through the connection Dagster's environment holds; the last statement's rows relayed.
    load_sql = af2_run.result("load_sql")
    assert load_sql.rendered_fields["sql"] == [
        "CREATE TABLE IF NOT EXISTS orders (ds TEXT, who TEXT, amount INTEGER)",
        "INSERT INTO orders VALUES ('2024-03-05', 'conf-who', 7)",
        "SELECT ds, who, amount FROM orders WHERE ds = '2024-03-05'",
    ]
    with sqlite3.connect(af2_run.sqlite_db) as db:
        rows = db.execute("SELECT ds, who, amount FROM orders").fetchall()
    assert rows == [("2024-03-05", "conf-who", 7)]
    # A list of statements returns one result per statement, as SQLExecuteQueryOperator does in Airflow 2.11.
    assert af2_run.xcoms("load_sql") == {"return_value": [None, None, [["2024-03-05", "conf-who", 7]]]}


def test_skip_skips_the_proxy_and_downstream_trigger_rules_behave_as_unproxied(af2_run: Airflow2Run) -> None:
    assert af2_run.ti("skips")["state"] == "skipped", af2_run.log("skips")
    (dagster_run,) = af2_run.dagster_runs("skips")
    assert dagster_run.status == "SUCCESS"
    assert af2_run.ti("after_skip")["state"] == "skipped"
    assert af2_run.ti("after_skip_none_failed")["state"] == "success"


def test_fail_exception_fails_without_retry_and_a_retryable_failure_launches_one_run_per_try(
    af2_run: Airflow2Run,
) -> None:
    ti = af2_run.ti("fails_for_good")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)  # the task has retries=2
    (dagster_run,) = af2_run.dagster_runs("fails_for_good")
    assert dagster_run.status == "FAILURE"
    log = af2_run.log("fails_for_good")
    assert "no point retrying" in log
    assert f"/runs/{dagster_run.run_id}" in log

    ti = af2_run.ti("flaky")
    assert (ti["state"], ti["try_number"]) == ("success", 2), af2_run.log("flaky", 2)
    runs = af2_run.dagster_runs("flaky")
    assert sorted((r.tags["airlift/try_number"], r.status) for r in runs) == [
        ("1", "FAILURE"),
        ("2", "SUCCESS"),
    ]
    assert "first try breaks" in af2_run.log("flaky", 1)


def test_timeout_and_mark_failed_end_the_dagster_run_and_its_processes_and_callbacks_fire_once_in_airflow(
    af2_run: Airflow2Run,
) -> None:
    print(f"processes gone after the kill: {af2_run.seconds_until_gone}")
    for task_id in ("times_out", "marked_failed"):
        assert af2_run.ti(task_id)["state"] == "failed", task_id
        assert "Terminated Dagster run" in af2_run.log(task_id), task_id
        (dagster_run,) = af2_run.dagster_runs(task_id)
        status = af2_run.dagster.wait_until_finished(dagster_run.run_id, timeout=PROCESS_GONE_SECONDS).status
        assert status in ("CANCELED", "FAILURE"), (task_id, status)
    assert "AirflowTaskTimeout" in af2_run.log("times_out")
    # Mark failed reaches on_kill this way on 2.11: the LocalTaskJob's heartbeat sees the new state, SIGTERMs
    # the task process, and Airflow's SIGTERM handler calls the proxy's on_kill.
    assert "State of this instance has been externally set to failed" in af2_run.log("marked_failed")
    # Callbacks: exactly one line per outcome, each fired by Airflow's proxy task, none by the runner.
    lines = af2_run.out.joinpath("callbacks.txt").read_text().splitlines()
    assert sorted(line.rsplit(" pid=", 1)[0] for line in lines) == [
        "failure fails_for_good Airflow2Proxy",
        "failure times_out Airflow2Proxy",
        "success produce Airflow2Proxy",
    ]


def test_connection_password_is_nowhere_in_dagster_storage_logs_run_tags_or_config(
    af2_run: Airflow2Run,
) -> None:
    # The task really read the password (its length was relayed) and printed it; the runner's output is masked.
    assert af2_run.xcoms("produce")["extra"]["password_length"] == len(SECRET_PASSWORD)
    texts = {
        str(path): path.read_bytes().decode("latin-1")
        for path in af2_run.dagster.home.rglob("*")
        if path.is_file()
    }
    assert any("connected with password ***" in text for text in texts.values())
    query = (
        "query($runId: ID!) { runOrError(runId: $runId) { ... on Run { runConfigYaml tags { key value } } } }"
    )
    runs = af2_run.dagster.runs_for(DAG_ID, airlift__dag_run_id=af2_run.run.run_id)
    assert len(runs) == 9  # one per proxied try
    for dagster_run in runs:
        texts[f"run {dagster_run.run_id}"] = json.dumps(
            af2_run.dagster.client().execute(query, {"runId": dagster_run.run_id})
        )
    assert [name for name, text in texts.items() if SECRET_PASSWORD in text] == []
