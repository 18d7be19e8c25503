"""Zero-code migration: its overhead per proxied task, and the share of the repository's tasks it takes.

    python -m benchmarks.zero_code --runs 10 --out benchmarks/results/zero_code.json
    python -m benchmarks.zero_code --corpus-only          # the eligibility share alone (no Airflow server)

1. Overhead. Starts its own Airflow 3 (``benchmarks/zero_code_dags``) and a Dagster webserver in the test
   suite's mode (``in_process``: runs start at once, in-process executor; ``tests/in_airflow/harness.py``)
   serving ``benchmarks/zero_code_dagster/definitions.py``, once per runner mode (``cold``:
   ``keep_warm_seconds=0``, a fresh runner process per task; ``warm``: the default, tasks forked by a warm
   server that has imported Airflow). Per kind (a ``PythonOperator`` writing a file,
   a ``BashOperator`` writing a file) the same one-task DAG exists twice: ``zcb_hand_<kind>`` proxied to a
   hand-written asset doing the same work, ``zcb_zero_<kind>`` proxied to its zero-code asset. Each round
   triggers the four DAGs one after the other (``--runs`` rounds after ``--warmup`` kept apart, per mode, so
   each mode's ratio compares with hand-written runs under the same load) and keeps
   the Airflow task's time end to end and the Dagster run's. The zero-code run is split from its event log
   (step start -> runner started -> result observed -> run end), and the runner alone is run ``--runs``
   times on a finished run's payload with its phases timed (interpreter start, imports, DAG-source check,
   DAG parse, task, the rest).
2. Eligibility. Parses every DAG file of the corpus (:data:`CORPUS`) with Airflow 3's ``DagBag``, proxying
   off, in a child process, and classifies each task with the runner's own rules
   (``formats/zero_code_eligibility.classify_task`` on the class, its bases, ``is_mapped``, ``deferrable``).

Writes one JSON with the machine's load before and after (``benchmarks/machine.py``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airlift_components.core.zero_code_warm import WARM_DIR_ENV, stop_warm_servers
from airlift_components.formats.zero_code import (
    ENV_AIRFLOW_PASSWORD,
    ENV_AIRFLOW_URL,
    ENV_AIRFLOW_USERNAME,
    ZeroCodePayload,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow, free_port
from benchmarks.machine import machine_facts
from tests.in_airflow.harness import (
    REPO,
    LocalDagster,
    ProxiedTry,
    airflow_env,
    make_client,
    overhead_sample,
    run_proxied_try,
    task_log,
)

HERE = Path(__file__).resolve().parent
DAGS = HERE / "zero_code_dags"
DEFINITIONS = HERE / "zero_code_dagster" / "definitions.py"
KINDS = ("python", "bash")
MODES = ("hand", "zero")
TASK_ID = "work"
#: The repository's DAG folders (relative to the repository); ``benchmarks/dags`` generates N copies of
#: one template DAG, so it is parsed with ``BENCH_DAG_COUNT=1`` (its task definitions, counted once).
CORPUS = (
    "example_project/airflow_dags",
    "tests/dags",
    "tests/in_airflow/dags",
    "tests/zero_code/dags",
    "benchmarks/dags",
    "benchmarks/zero_code_dags",
)
_LOGS = """
query AirliftBenchRunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message timestamp } } }
  }
}
"""


def _median(values: Iterable[float]) -> float:
    return round(statistics.median(values), 3)


class BenchDagster(LocalDagster):
    """The harness's Dagster webserver serving the benchmark's definitions."""

    def _command(self) -> list[str]:
        command = super()._command()
        command[command.index("-f") + 1] = str(DEFINITIONS)
        return command


# ------------------------------------------------------------------ 1. overhead


def run_phases(dagster: LocalDagster, run_id: str) -> dict[str, float]:
    """Where a zero-code Dagster run's time went, from its event log (seconds, 2 decimals)."""
    data = dagster.client().execute(_LOGS, {"runId": run_id})
    events = (data.get("logsForRun") or {}).get("events") or []
    marks: dict[str, float] = {}
    for event in events:
        at = float(event.get("timestamp") or 0) / 1000
        kind, message = event.get("__typename"), event.get("message") or ""
        if kind == "RunStartEvent":
            marks.setdefault("run_start", at)
        elif kind == "ExecutionStepStartEvent":
            marks.setdefault("step_start", at)
        elif "starting the zero-code runner" in message:
            marks.setdefault("runner_start", at)
        elif "forked by the warm server" in message:
            marks.setdefault("warm_fork", at)
        elif kind == "ObservationEvent":
            marks.setdefault("result_observed", at)
        elif kind == "RunSuccessEvent":
            marks.setdefault("run_end", at)
    order = ("run_start", "step_start", "runner_start", "result_observed", "run_end")
    if any(mark not in marks for mark in order):
        return {}
    names = ("step_process_start_s", "payload_build_s", "runner_process_s", "after_result_s")
    phases: dict[str, float] = {
        name: round(marks[end] - marks[start], 2)
        for name, start, end in zip(names, order[:-1], order[1:], strict=True)
    }
    phases["forked_warm"] = float("warm_fork" in marks)  # 1.0: the runner was forked by a warm server
    return phases


def _successful_try(
    airflow: LocalAirflow, dagster: LocalDagster, dag_id: str, failed: list[dict[str, str]], attempts: int = 3
) -> ProxiedTry:
    """One proxied try of ``dag_id`` that succeeded with one Dagster run; a failed try (a loaded machine
    times requests out) is recorded in ``failed`` with its task log's tail, then tried again."""
    for _ in range(attempts):
        proxied = run_proxied_try(airflow, dagster, dag_id, TASK_ID)
        if proxied.dag_run.state == "success" and len(proxied.dagster_runs) == 1 and proxied.summaries:
            return proxied
        log = task_log(
            airflow, dag_id, proxied.dag_run.run_id, TASK_ID, proxied.task_instance.try_number or 1
        )
        failed.append(
            {
                "dag_id": dag_id,
                "run_id": proxied.dag_run.run_id,
                "state": str(proxied.dag_run.state),
                "dagster_runs": str(len(proxied.dagster_runs)),
                "task_log_tail": log[-2000:],
            }
        )
        print(f"{dag_id} {proxied.dag_run.run_id} failed; task log tail:\n{log[-2000:]}", file=sys.stderr)
    raise RuntimeError(f"{dag_id}: {attempts} proxied tries in a row failed; see {dagster.log}")


def payload_of(airflow: LocalAirflow, dag_id: str, run_id: str) -> ZeroCodePayload:
    """The payload the zero-code asset writes for one finished run (as ``core/zero_code_run`` builds it)."""
    client = make_client(airflow)
    run = client.request("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id, safe='')}")
    details = client.request("GET", f"/api/v2/dags/{quote(dag_id)}/details")
    fileloc = details["fileloc"]
    return ZeroCodePayload.from_json(
        {
            "instance_name": "airflow_test",
            "dag_id": dag_id,
            "task_id": TASK_ID,
            "run_id": run_id,
            "logical_date": run.get("logical_date"),
            "data_interval_start": run.get("data_interval_start"),
            "data_interval_end": run.get("data_interval_end"),
            "run_after": run.get("run_after"),
            "run_type": run.get("run_type") or "manual",
            "conf": run.get("conf") or {},
            "dags_folder": str(Path(fileloc).parent),
            "dag_file": fileloc,
            "env_vars": [],
        }
    )


# Runs in the runner's interpreter: times run_task's phases by wrapping the runner module's functions.
_PHASES_CHILD = """
import json, sys, time
t_main = time.time()
import airlift_components.in_airflow.zero_code.runner as runner
from airlift_components.formats.zero_code import ZeroCodePayload
t_imported = time.time()
phases = {}
def timed(name, fn):
    def wrapper(*args, **kwargs):
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = time.monotonic() - started
    return wrapper
runner.check_dag_source = timed("dag_source_check_s", runner.check_dag_source)
runner.load_task = timed("dag_parse_s", runner.load_task)
started = time.monotonic()
result = runner.run_task(ZeroCodePayload.read(sys.argv[1]))
phases["run_task_s"] = time.monotonic() - started
phases["task_s"] = result.duration_seconds
print(json.dumps({"t_main": t_main, "t_imported": t_imported, "state": result.state, **phases}), flush=True)
if sys.argv[2] == "fast_exit":
    from airlift_components.in_airflow.zero_code.__main__ import exit_now
    exit_now(0)
"""


def profile_runner(
    airflow: LocalAirflow, payload: ZeroCodePayload, work: Path, *, fast_exit: bool
) -> dict[str, float]:
    """One run of the runner's steps in a fresh interpreter and ``AIRFLOW_HOME``, as the asset starts it;
    ``fast_exit``: leave as the runner's ``__main__`` does (``exit_now``), else by a normal interpreter exit."""
    run_dir = Path(tempfile.mkdtemp(prefix="runner_", dir=work))
    payload_file = run_dir / "payload.json"
    payload.write(payload_file)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(run_dir / "airflow_home"),
            "PYTHONPATH": str(REPO),
            ENV_AIRFLOW_URL: airflow.url,
            ENV_AIRFLOW_USERNAME: ADMIN_USERNAME,
            ENV_AIRFLOW_PASSWORD: ADMIN_PASSWORD,
        }
    )
    spawned, started = time.time(), time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _PHASES_CHILD, str(payload_file), "fast_exit" if fast_exit else "normal_exit"],
        env=env,
        cwd=run_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the runner's phase profile failed:\n{proc.stderr[-3000:]}")
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    if child["state"] != "success":
        raise RuntimeError(f"the profiled task ended {child['state']}:\n{proc.stderr[-3000:]}")
    run_task_s = child["run_task_s"]
    measured = {
        "wall_s": wall,
        "interpreter_start_s": child["t_main"] - spawned,
        "runner_imports_s": child["t_imported"] - child["t_main"],
        "dag_source_check_s": child.get("dag_source_check_s", 0.0),
        "dag_parse_s": child["dag_parse_s"],
        "task_s": child["task_s"],
    }
    # Task SDK imports, the supervisor's set-up and the result's collection.
    measured["task_runner_setup_s"] = (
        run_task_s - measured["dag_source_check_s"] - measured["dag_parse_s"] - measured["task_s"]
    )
    measured["interpreter_exit_s"] = wall - (child["t_imported"] - spawned) - run_task_s
    return {key: round(value, 3) for key, value in measured.items()}


RUNNER_MODES = {"cold": "0", "warm": "600"}  # mode -> ZCB_KEEP_WARM_SECONDS


def _rounds(
    airflow: LocalAirflow,
    dagster: LocalDagster,
    dag_ids: Sequence[str],
    rounds: int,
    failed: list[dict[str, str]],
) -> dict[str, list[dict[str, Any]]]:
    samples: dict[str, list[dict[str, Any]]] = {dag_id: [] for dag_id in dag_ids}
    for _ in range(rounds):
        for dag_id in dag_ids:
            proxied = _successful_try(airflow, dagster, dag_id, failed)
            sample: dict[str, Any] = dict(overhead_sample(proxied))
            if dag_id.startswith("zcb_zero_"):
                sample.update(run_phases(dagster, proxied.dagster_runs[0].run_id))
            sample["airflow_run_id"] = proxied.dag_run.run_id
            samples[dag_id].append(sample)
    return samples


def _summary(samples: dict[str, list[dict[str, Any]]], warmup: int) -> dict[str, Any]:
    per_dag = {}
    for dag_id, rows in samples.items():
        kept = rows[warmup:]
        numeric = [key for key, value in kept[0].items() if isinstance(value, int | float)]
        per_dag[dag_id] = {
            **{f"median_{key}": _median(row[key] for row in kept) for key in numeric},
            "samples": kept,
            "warmup_samples": rows[:warmup],
        }
    ratios = {
        kind: {
            "task_s": round(
                per_dag[f"zcb_zero_{kind}"]["median_task_s"] / per_dag[f"zcb_hand_{kind}"]["median_task_s"], 2
            ),
            "dagster_run_s": round(
                per_dag[f"zcb_zero_{kind}"]["median_dagster_run_s"]
                / per_dag[f"zcb_hand_{kind}"]["median_dagster_run_s"],
                2,
            ),
        }
        for kind in KINDS
    }
    return {"dags": per_dag, "ratio_zero_over_hand": ratios}


def measure_overhead(runs: int, warmup: int, work: Path, *, profile: bool = True) -> dict[str, Any]:
    """Airflow 3; per runner mode (cold, warm) one Dagster webserver and ``warmup + runs`` rounds of the
    four DAGs; then the cold runner's phases ``runs`` times. Returns the samples and medians per mode and DAG."""
    port = free_port()
    out_dir = work / "out"
    out_dir.mkdir(parents=True)
    os.environ["ZCB_OUT_DIR"] = str(out_dir)  # Dagster and its runner inherit it
    warm_servers = work / "warm"
    warm_servers.mkdir(mode=0o700)
    os.environ[WARM_DIR_ENV] = str(warm_servers)  # the benchmark's servers only, stopped at its end
    dags = work / "dags"
    shutil.copytree(DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        dags,
        work / "airflow_home",
        extra_env={**airflow_env(f"http://127.0.0.1:{port}"), "ZCB_OUT_DIR": str(out_dir)},
    )
    dag_ids = [f"zcb_{mode}_{kind}" for kind in KINDS for mode in MODES]
    failed: list[dict[str, str]] = []
    modes: dict[str, Any] = {}
    try:
        with airflow:
            airflow.wait_for_dags(dag_ids)
            version = make_client(airflow).version_info.version
            for mode, keep_warm in RUNNER_MODES.items():
                os.environ["ZCB_KEEP_WARM_SECONDS"] = keep_warm
                dagster = BenchDagster(work / f"dagster_{mode}", mode="in_process", port=port)
                try:
                    dagster.start(airflow.url)
                    modes[mode] = _summary(_rounds(airflow, dagster, dag_ids, warmup + runs, failed), warmup)
                finally:
                    dagster.stop()
            last_run = modes["cold"]["dags"]["zcb_zero_python"]["samples"][-1]["airflow_run_id"]
            payload = payload_of(airflow, "zcb_zero_python", last_run)
            # Alternated, so both exits see the same load: the cut in the runner's __main__, before and after.
            profiles: dict[str, list[dict[str, float]]] = {"normal_exit": [], "fast_exit": []}
            for _ in range(runs if profile else 0):
                for fast_exit in (False, True):
                    measured = profile_runner(airflow, payload, work, fast_exit=fast_exit)
                    profiles["fast_exit" if fast_exit else "normal_exit"].append(measured)
    finally:
        stop_warm_servers(warm_servers)
    warm, cold = modes["warm"]["dags"], modes["cold"]["dags"]
    modes["warm"]["ratio_warm_over_cold_zero_code"] = {
        kind: round(warm[f"zcb_zero_{kind}"]["median_task_s"] / cold[f"zcb_zero_{kind}"]["median_task_s"], 2)
        for kind in KINDS
    }
    runner = {
        exit_kind: {
            **{f"median_{key}": _median(row[key] for row in rows) for key in rows[0]},
            "samples": rows,
        }
        for exit_kind, rows in profiles.items()
        if rows
    }
    return {
        "airflow_version": version,
        "dagster_mode": "in_process",
        "modes": modes,
        "runner_phases": runner,
        "failed_tries": failed,
    }


# ------------------------------------------------------------------ 2. eligibility


# Runs in Airflow 3's interpreter with a throwaway AIRFLOW_HOME: one JSON line per task.
_CORPUS_CHILD = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
from airlift_components.formats.zero_code_eligibility import classify_task
from airlift_components.in_airflow.zero_code.dag_file import is_mapped as _is_mapped, proxying_disabled
rows, errors = [], {}
for folder in sys.argv[1:]:
    sys.path.insert(0, folder)  # as Airflow does for its DAGs folder: helper modules next to DAG files
    for path in sorted(Path(folder).rglob("*.py")):
        with proxying_disabled():
            bag = DagBag(dag_folder=str(path), safe_mode=False, load_op_links=False)
        for file, text in bag.import_errors.items():
            errors[file] = text.strip().splitlines()[-1]
        for dag_id, dag in sorted(bag.dags.items()):
            for task in dag.tasks:
                cls = type(task)
                verdict = classify_task(
                    operator_class=cls.__name__,
                    operator_module=cls.__module__,
                    is_mapped=_is_mapped(task),
                    deferrable=bool(getattr(task, "deferrable", False)),
                    base_classes=[f"{b.__module__}.{b.__name__}" for b in cls.__mro__[1:]],
                )
                rows.append({"file": str(path), "dag_id": dag_id, "task_id": task.task_id,
                             "operator": getattr(task, "task_type", cls.__name__), "kind": verdict.kind,
                             "reason": verdict.reason})
print(json.dumps({"tasks": rows, "import_errors": errors}))
"""


def classify_corpus(folders: Sequence[str] = CORPUS, repo: Path = REPO) -> dict[str, Any]:
    """Parse every DAG file under ``folders`` (relative to ``repo``) with Airflow 3 and classify each task.

    Returns per-kind counts, the eligible share, the refused tasks with their reasons, and import errors.
    """
    with tempfile.TemporaryDirectory(prefix="zero_code_corpus_") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": home,
                "PYTHONPATH": str(repo),
                "BENCH_DAG_COUNT": "1",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            }
        )
        proc = subprocess.run(
            [str(repo / ".venv" / "bin" / "python"), "-c", _CORPUS_CHILD, *(str(repo / f) for f in folders)],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"parsing the DAG corpus failed:\n{proc.stderr[-3000:]}")
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    return summarize_corpus(parsed["tasks"], parsed["import_errors"], folders, repo)


def summarize_corpus(
    tasks: Sequence[dict[str, Any]], import_errors: dict[str, str], folders: Sequence[str], repo: Path
) -> dict[str, Any]:
    """Counts per kind (overall and per folder), the eligible share, and the refused tasks with reasons."""

    def rel(path: str) -> str:
        return str(Path(path).relative_to(repo)) if Path(path).is_relative_to(repo) else path

    eligible = [t for t in tasks if t["kind"] != "refused"]
    # EmptyOperator and the like are eligible (kind "empty": nothing runs), but they are placeholders
    # (most are generated test fixtures): the share of tasks that do work leaves them out.
    working = [t for t in tasks if t["kind"] != "empty"]
    eligible_working = [t for t in working if t["kind"] != "refused"]
    per_folder: dict[str, dict[str, int]] = {}
    for folder in folders:
        inside = [t for t in tasks if rel(t["file"]).startswith(folder + "/")]
        per_folder[folder] = dict(sorted(Counter(t["kind"] for t in inside).items()))
    return {
        "folders": list(folders),
        "tasks": len(tasks),
        "eligible": len(eligible),
        "eligible_share": round(len(eligible) / len(tasks), 3) if tasks else 0.0,
        "tasks_doing_work": len(working),
        "eligible_share_of_tasks_doing_work": (
            round(len(eligible_working) / len(working), 3) if working else 0.0
        ),
        "by_kind": dict(sorted(Counter(t["kind"] for t in tasks).items())),
        "by_folder": per_folder,
        "refused_by_reason": dict(
            Counter((t["reason"] or "").split(";")[0] for t in tasks if t["kind"] == "refused").most_common()
        ),
        "refused": [
            {k: (rel(v) if k == "file" else v) for k, v in t.items()} for t in tasks if t["kind"] == "refused"
        ],
        "import_errors": {rel(file): text for file, text in import_errors.items()},
    }


# ------------------------------------------------------------------ output


def table(result: dict[str, Any]) -> str:
    """The medians per DAG, the ratios, the runner's phases and the corpus share, as text."""
    lines = []
    overhead = result.get("overhead")
    if overhead:
        lines.append(
            f"Zero-code vs hand-written asset, Airflow {overhead['airflow_version']}, "
            f"Dagster {overhead['dagster_mode']}, medians"
        )
        for mode, measured in overhead.get("modes", {}).items():
            lines.extend(_mode_lines(mode, measured))
        for exit_kind, profile in overhead["runner_phases"].items():
            phases = {k: v for k, v in profile.items() if k.startswith("median_")}
            lines.append(
                f"  cold runner phases ({exit_kind}): " + ", ".join(f"{k[7:]} {v}" for k, v in phases.items())
            )
    corpus = result["corpus"]
    lines.append(
        f"Eligible for zero-code: {corpus['eligible']} of {corpus['tasks']} tasks "
        f"({corpus['eligible_share']:.0%}); of the {corpus['tasks_doing_work']} that do work (not "
        f"EmptyOperator and the like): {corpus['eligible_share_of_tasks_doing_work']:.0%}; by kind {corpus['by_kind']}"
    )
    for reason, count in corpus["refused_by_reason"].items():
        lines.append(f"  refused {count}: {reason}")
    load = result["machine"]["before"]["load_avg_1_5_15"], result["machine"]["after"]["load_avg_1_5_15"]
    lines.append(f"load average (1/5/15 min) before {load[0]}, after {load[1]}")
    return "\n".join(lines)


def _mode_lines(mode: str, measured: dict[str, Any]) -> list[str]:
    lines = [f" runner mode {mode}:"]
    for dag_id, row in measured["dags"].items():
        extra = ""
        if "median_runner_process_s" in row:
            extra = (
                f"  (payload {row['median_payload_build_s']} s, runner {row['median_runner_process_s']} s, "
                f"after result {row['median_after_result_s']} s)"
            )
        lines.append(
            f"  {dag_id:<16} task {row['median_task_s']} s, Dagster run {row['median_dagster_run_s']} s{extra}"
        )
    for kind, ratio in measured["ratio_zero_over_hand"].items():
        lines.append(
            f"  ratio zero/hand, {kind}: task {ratio['task_s']}x, Dagster run {ratio['dagster_run_s']}x"
        )
    for kind, ratio in measured.get("ratio_warm_over_cold_zero_code", {}).items():
        lines.append(f"  ratio warm/cold zero-code task, {kind}: {ratio}x")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and write the JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds (each DAG once) and runner profiles")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (kept apart)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cold runner's phase profile")
    parser.add_argument(
        "--corpus-only",
        action="store_true",
        help="only the eligibility share (untimed: an existing --out keeps its measured sections)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "zero_code.json")
    args = parser.parse_args(argv)
    before = machine_facts()
    if args.corpus_only and args.out.exists():
        # The share is a count, not a timing: refresh it without dropping the last measured overhead.
        result = json.loads(args.out.read_text())
        result["corpus"] = classify_corpus()
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(table(result))
        return
    result: dict[str, Any] = {"corpus": classify_corpus()}
    if not args.corpus_only:
        with tempfile.TemporaryDirectory(prefix="zero_code_bench_") as work:
            result["overhead"] = measure_overhead(
                args.runs, args.warmup, Path(work), profile=not args.no_profile
            )
    result["machine"] = {"before": before, "after": machine_facts()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
