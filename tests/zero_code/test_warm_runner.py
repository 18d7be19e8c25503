"""The warm zero-code runner (``in_airflow/zero_code/warm.py``) with the real runner and a real Airflow 3.3: a
task forked by a server that has already imported Airflow gives Airflow's own XComs, rendered fields and
files; concurrent tasks keep their runs apart; a killed step takes its task's process group with it but not
the server; an idle server exits; a python that cannot serve falls back to the cold start.

The servers live in the session's throwaway ``AIRLIFT_ZERO_CODE_WARM_DIR`` (``tests/conftest.py`` stops them).
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from airlift_components.airflow_api import DagRunRecord
from airlift_components.core.zero_code_run import RUNNER_MODULE, run_process
from airlift_components.core.zero_code_warm import WarmRunner, start_warm, warm_dir
from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.conftest import REPO
from tests.zero_code.conftest import (
    SHARED_ENV,
    ZeroCodeAirflow,
    airflow_task_instance,
    airflow_xcoms,
    payload_for,
)
from tests.zero_code.processes import alive

AIRFLOW3_PYTHON = str(REPO / ".venv" / "bin" / "python")
AIRFLOW2_PYTHON = str(REPO / ".venv-airflow2" / "bin" / "python")
# ZC_OUT_DIR (where Bash tasks write) differs per task here, as AIRFLOW_HOME does: not the server's.
WARM = WarmRunner(keep_warm_seconds=120, per_run_env=("AIRFLOW_HOME", "ZC_OUT_DIR"))
FORKED = re.compile(
    r"zero-code runner pid (\d+) forked by the warm server (\w+) \(Airflow already imported: (\w+)"
)


class RecordingLog:
    """Collects log lines; raises KeyboardInterrupt (as a terminated run does) once ``interrupt_when()``."""

    def __init__(self, interrupt_when=None) -> None:  # noqa: ANN001 - a zero-argument predicate
        self.lines: list[str] = []
        self.interrupt_when = interrupt_when

    def info(self, line: str) -> None:
        self.lines.append(line)
        if self.interrupt_when is not None and self.interrupt_when():
            raise KeyboardInterrupt

    def forked(self) -> tuple[int, str, bool]:
        """(runner pid, server name, Airflow already imported) as the warm server reported them."""
        for line in self.lines:
            if match := FORKED.search(line):
                return int(match[1]), match[2], match[3] == "True"
        raise AssertionError(f"no task was forked by a warm server: {self.lines}")


@dataclass
class WarmOutcome:
    code: int
    result: ZeroCodeResult
    out: Path
    log: RecordingLog


def run_warm(
    zc: ZeroCodeAirflow,
    payload: ZeroCodePayload,
    *,
    python: str = AIRFLOW3_PYTHON,
    warm: WarmRunner = WARM,
    log: RecordingLog | None = None,
    rest: bool = True,
) -> WarmOutcome:
    """Run ``payload`` as the zero-code asset does (``run_process`` with a warm runner), in the environment
    ``tests/zero_code/conftest.run_runner`` gives the cold runner."""
    work = zc.base / f"warm_{payload.dag_id}_{payload.task_id}_{time.monotonic_ns()}"
    (work / "home").mkdir(parents=True)
    (work / "out").mkdir()
    payload.write(work / "payload.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({**SHARED_ENV, "AIRFLOW_HOME": str(work / "home"), "PYTHONPATH": str(REPO)})
    env["ZC_OUT_DIR"] = str(work / "out")
    if rest:
        env.update(
            {
                ENV_AIRFLOW_URL: zc.airflow.url,
                ENV_AIRFLOW_USERNAME: ADMIN_USERNAME,
                ENV_AIRFLOW_PASSWORD: ADMIN_PASSWORD,
            }
        )
    log = log or RecordingLog()
    command = [python, "-m", RUNNER_MODULE, str(work / "payload.json"), str(work / "result.json")]
    code, _ = run_process(command, env=env, cwd=str(work), log=log, secrets=[ADMIN_PASSWORD], warm=warm)
    assert (work / "result.json").exists(), f"no result (exit {code}): {log.lines[-20:]}"
    return WarmOutcome(code, ZeroCodeResult.read(work / "result.json"), work / "out", log)


def _server_pid(name: str) -> int:
    return int((warm_dir() / f"{name}.pid").read_text())


def _wait_until(condition, timeout: float, what: str) -> None:  # noqa: ANN001 - a zero-argument predicate
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} after {timeout}s"
        time.sleep(0.1)


def _finished_equivalence_run(zc: ZeroCodeAirflow, day: str, who: str) -> DagRunRecord:
    """The finished ``zc_equivalence`` run of ``day`` with ``conf={"who": who}``: the one
    ``test_runner_isolation.py`` made earlier in the session (the same dates and conf), else a new one."""
    client = zc.client
    for run in client.list_dag_runs(dag_ids=["zc_equivalence"]):
        if run.logical_date is not None and run.logical_date.date().isoformat() == day:
            assert (run.conf or {}).get("who") == who, run
            return client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300)
    run = client.trigger_dag_run("zc_equivalence", logical_date=f"{day}T00:00:00+00:00", conf={"who": who})
    return client.wait_for_dag_run(run.dag_id, run.run_id, timeout=300)


def test_tasks_on_a_warm_server_match_airflow_skip_the_import_and_keep_concurrent_runs_apart(
    zero_code_airflow: ZeroCodeAirflow, tmp_path: Path
) -> None:
    """First task starts the server; then three tasks of two runs at once, forked from the server with Airflow
    already imported, give Airflow's XComs, rendered command and file for their own run; an edited DAG file
    is still refused (each task parses its file)."""
    zc, client = zero_code_airflow, zero_code_airflow.client
    alpha, beta = (
        _finished_equivalence_run(zc, day, who)
        for day, who in (("2024-04-01", "alpha"), ("2024-04-02", "beta"))
    )
    folder = zc.airflow.dags_folder

    first = run_warm(zc, payload_for(client, alpha, "report", dags_folder=folder))
    assert first.code == 0 and first.result.state == "success", first.result.error
    _, server, _ = first.log.forked()
    assert any("starting the zero-code warm server" in line for line in first.log.lines)
    assert (first.out / "report_20240401.txt").read_text() == (
        zc.airflow_out / "report_20240401.txt"
    ).read_text()

    jobs = {
        "alpha.extract": (alpha, "extract"),
        "beta.extract": (beta, "extract"),
        "beta.report": (beta, "report"),
    }
    outcomes: dict[str, WarmOutcome] = {}

    def run(name: str) -> None:
        run_, task_id = jobs[name]
        outcomes[name] = run_warm(zc, payload_for(client, run_, task_id, dags_folder=folder))

    threads = [threading.Thread(target=run, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert set(outcomes) == set(jobs), "a concurrent warm task did not finish"
    pids = set()
    for name, outcome in outcomes.items():
        run_, task_id = jobs[name]
        pid, served_by, airflow_imported = outcome.log.forked()
        assert (served_by, airflow_imported) == (server, True), name
        assert not any("starting the zero-code warm server" in line for line in outcome.log.lines), name
        pids.add(pid)
        assert outcome.code == 0 and outcome.result.state == "success", (name, outcome.result.error)
        assert {x.key: x.value for x in outcome.result.xcoms} == airflow_xcoms(client, run_, task_id), name
    assert len(pids) == 3, "each task runs in its own forked process"
    assert outcomes["alpha.extract"].result.xcom("return_value")["tag"] == "alpha-2"
    assert outcomes["beta.extract"].result.xcom("return_value")["tag"] == "beta-2"
    beta_report = outcomes["beta.report"]
    airflow_ti = airflow_task_instance(client, beta, "report")
    assert beta_report.result.rendered_fields["bash_command"] == airflow_ti["rendered_fields"]["bash_command"]
    assert "who=beta" in (beta_report.out / "report_20240402.txt").read_text()
    assert (beta_report.out / "report_20240402.txt").read_text() == (
        zc.airflow_out / "report_20240402.txt"
    ).read_text()

    changed = tmp_path / "dags"
    shutil.copytree(folder, changed)
    payload = payload_for(client, alpha, "report", dags_folder=changed)
    (changed / payload.dag_file).write_text((changed / payload.dag_file).read_text() + "\n# edited\n")
    edited = run_warm(zc, payload)
    assert edited.log.forked()[1:] == (server, True)
    assert (edited.code, edited.result.state) == (2, "failed")
    assert "is not the code Airflow parsed for this run" in (edited.result.error or "")


SLEEPER_DAG = """
import os, subprocess, time
from datetime import datetime
from pathlib import Path
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

def _sleep():
    child = subprocess.Popen(["sleep", "300"])
    Path(os.environ["ZC_OUT_DIR"], "pids").write_text(f"{os.getpid()} {child.pid}")
    while True:
        print("tick", flush=True)
        time.sleep(0.3)

with DAG(dag_id="zc_warm_sleeper", schedule=None, start_date=datetime(2024, 1, 1)):
    PythonOperator(task_id="sleep", python_callable=_sleep)
"""


def _sleeper_payload(folder: Path) -> ZeroCodePayload:
    (folder / "zc_warm_sleeper.py").write_text(textwrap.dedent(SLEEPER_DAG))
    return ZeroCodePayload.from_json(
        {
            "instance_name": "zc_airflow",
            "dag_id": "zc_warm_sleeper",
            "task_id": "sleep",
            "run_id": "warm_kill",
            "logical_date": "2024-09-03T00:00:00+00:00",
            "run_type": "manual",
            "dags_folder": str(folder),
            "dag_file": "zc_warm_sleeper.py",
        }
    )


def test_a_killed_step_kills_its_task_group_but_not_the_warm_server(
    zero_code_airflow: ZeroCodeAirflow, tmp_path: Path
) -> None:
    """The task started a child and loops; interrupting the step (a terminated run) kills the runner and
    its child, the server keeps serving; a step that just vanishes (its connection drops) does the same."""
    zc = zero_code_airflow
    payload = _sleeper_payload(tmp_path)
    outs: list[Path] = []

    def started() -> bool:
        outs[:] = sorted(zc.base.glob("warm_zc_warm_sleeper_sleep_*/out/pids"))
        return bool(outs)

    log = RecordingLog(interrupt_when=started)
    with pytest.raises(KeyboardInterrupt):
        run_warm(zc, payload, log=log, rest=False)
    runner_pid, server, _ = log.forked()
    task_pid, child_pid = (int(p) for p in outs[-1].read_text().split())
    assert task_pid == runner_pid
    _wait_until(lambda: not alive(child_pid) and not alive(runner_pid), 15, "the task's group is still alive")
    assert alive(_server_pid(server)), "the warm server died with the step"

    # The step's process dies without cleaning up: only its connection to the server closes.
    out = tmp_path / "vanished"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            **SHARED_ENV,
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "PYTHONPATH": str(REPO),
            "ZC_OUT_DIR": str(out),
        }
    )
    payload.write(tmp_path / "payload.json")
    argv = [str(tmp_path / "payload.json"), str(tmp_path / "result.json")]
    process = start_warm(AIRFLOW3_PYTHON, argv, env=env, cwd=str(tmp_path), warm=WARM, log=RecordingLog())
    assert process is not None and process.airflow_imported
    _wait_until(lambda: (out / "pids").exists(), 120, "the task did not start")
    task_pid, child_pid = (int(p) for p in (out / "pids").read_text().split())
    process.close()
    _wait_until(lambda: not alive(child_pid) and not alive(task_pid), 15, "the server left the task running")
    assert alive(_server_pid(server))


def test_an_idle_airflow2_server_exits_after_keep_warm_seconds(zero_code_airflow: ZeroCodeAirflow) -> None:
    """Airflow 2.11's runner goes through the same server entry; with nothing to do it leaves on time."""
    zc = zero_code_airflow
    log = RecordingLog()
    work = zc.base / f"warm_idle_{time.monotonic_ns()}"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(work / "home"), "PYTHONPATH": str(REPO)})
    command = [AIRFLOW2_PYTHON, "-m", RUNNER_MODULE, str(work / "missing.json"), str(work / "result.json")]
    warm = WarmRunner(keep_warm_seconds=3)
    code, tail = run_process(command, env=env, cwd=str(work), log=log, secrets=[], warm=warm)
    assert code == 2 and "cannot read the zero-code payload file" in "\n".join(tail)
    _, server, airflow_imported = log.forked()
    assert airflow_imported
    pid = _server_pid(server)
    _wait_until(lambda: not alive(pid), 60, "the idle server is still running")
    assert not (warm_dir() / f"{server}.sock").exists()


def test_a_python_that_cannot_serve_falls_back_to_the_cold_start(tmp_path: Path) -> None:
    """The server's python exits at once: the task is started cold (same command), and the log says why."""
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho not a python with Airflow >&2\nexit 3\n")
    python.chmod(0o755)
    log = RecordingLog()
    command = [str(python), "-m", RUNNER_MODULE, "payload.json", "result.json"]
    code, tail = run_process(
        command,
        env=dict(os.environ),
        cwd=str(tmp_path),
        log=log,
        secrets=[],
        warm=WarmRunner(keep_warm_seconds=60),
    )
    assert code == 3 and tail == ["not a python with Airflow"]
    fallback = [line for line in log.lines if "before serving; starting the runner cold" in line]
    assert fallback and "exited with code 3" in fallback[0] and "not a python with Airflow" in fallback[0]


def test_keep_warm_seconds_defaults_to_600_is_set_from_yaml_and_refuses_negative_values() -> None:
    from pydantic import ValidationError

    from airlift_components.components.airflow_instance.models import ZeroCodeModel
    from airlift_components.core.zero_code import ZeroCode

    assert ZeroCode(dags=["d"]).keep_warm_seconds == 600
    cold = ZeroCodeModel.model_validate({"dags": ["d"], "runner": {"keep_warm_seconds": 0}})
    assert cold.settings("defs.yaml").keep_warm_seconds == 0
    with pytest.raises(ValidationError, match="keep_warm_seconds"):
        ZeroCodeModel.model_validate({"dags": ["d"], "runner": {"keep_warm_seconds": -1}})
    with pytest.raises(ValueError, match="keep_warm_seconds"):
        ZeroCode(dags=["d"], keep_warm_seconds=-1)
