"""Proxied-task overhead: how much longer an Airflow task takes than the Dagster run it proxies to.

    python -m benchmarks.proxied_overhead --runs 10 --out benchmarks/results/proxied_overhead.json

Starts its own Airflow 3 (the proxy test DAGs) and, one after the other on the same port, Dagster in two
modes (``tests/in_airflow/harness.py``), with definitions built by core's builder from that Airflow:

- ``in_process``: ``dagster-webserver`` alone, ``DefaultRunCoordinator`` (a launched run starts at once)
  and the in-process executor; the setup of the test suite.
- ``dagster_dev_defaults``: ``dagster dev`` with Dagster's default instance config (``QueuedRunCoordinator``
  dequeued by the daemon every 5 s) and the default multiprocess executor; what a user runs.
- ``dagster_dev_dequeue_1s``: the same with one setting a user can change, ``run_coordinator`` config
  ``dequeue_interval_seconds: 1`` (its measured effect).

Then, with the ``dagster_dev_defaults`` instance's snapshot cache, ``--runs`` loads of the definitions in a
fresh interpreter (what a run worker, and each step process of the multiprocess executor, does before the
run starts): import dagster, import our package, run the definitions file, resolve the repository.

Per mode it triggers ``proxy_bench`` (one proxied task mapped to one asset) ``--runs`` times in sequence
after ``--warmup`` tries kept apart (default 1: the first try in a fresh Dagster pays one-off start-up
costs), and keeps, per sample, the operator's own breakdown (lookup, launch, waiting beyond the run) and the rest
(Airflow starting and finishing the task). Prints a table and writes JSON with the machine's load before
and after (``benchmarks/machine.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from unittest.mock import patch

from airlift_components.testing.local_airflow import LocalAirflow, free_port
from benchmarks.machine import machine_facts
from tests.in_airflow.harness import (
    DAGSTER_DEFINITIONS,
    DAGSTER_MODES,
    REPO,
    DagsterMode,
    LocalDagster,
    airflow_env,
    make_client,
    overhead_sample,
    proxy_dags_copy,
    run_proxied_try,
    task_log,
)

DAG_ID, TASK_ID = "proxy_bench", "work"
MODES = ("in_process", "dagster_dev_defaults", "dagster_dev_dequeue_1s")
#: A mode that is not the harness's: (the harness mode it starts like, its dagster.yaml).
TUNED_MODES: dict[str, tuple[DagsterMode, str]] = {
    "dagster_dev_dequeue_1s": (
        "dagster_dev_defaults",
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "  config:\n    dequeue_interval_seconds: 1\ntelemetry:\n  enabled: false\n",
    ),
}
BREAKDOWN = (
    "task_s",
    "dagster_run_s",
    "graphql_requests",
    "lookup_s",
    "launch_s",
    "dagster_created_to_started_s",
    "wait_minus_run_s",
    "polling_after_run_end_s",
    "airflow_task_start_and_finish_s",
)


def _median(values: Iterable[float]) -> float:
    return round(statistics.median(values), 3)


# What a run worker does before the run starts, timed in a fresh interpreter: import dagster, import our
# package, run the definitions file (the snapshot from the cache, no Airflow call) and resolve the repository.
_DEFS_LOAD_CHILD = """
import json, runpy, sys, time
t_main = time.time()
import dagster
t_dagster = time.time()
import airlift_components.core
t_ours = time.time()
defs = runpy.run_path(sys.argv[1])["defs"]
t_defs = time.time()
repository = defs.get_repository_def()
repository.get_all_jobs()
t_repo = time.time()
print(json.dumps({"t_main": t_main, "t_dagster": t_dagster, "t_ours": t_ours, "t_defs": t_defs,
                  "t_repo": t_repo, "assets": len(repository.assets_defs_by_key)}), flush=True)
"""


def definitions_load(dagster: LocalDagster, airflow_url: str, runs: int) -> dict[str, Any]:
    """``runs`` loads of the test definitions from the snapshot cache in fresh interpreters, as a run worker
    (or a step process of the multiprocess executor) loads them. Medians and samples of each phase, in
    seconds."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster.home),
        "AIRLIFT_TEST_AIRFLOW_URL": airflow_url,  # the cache is keyed by it
        "AIRLIFT_SNAPSHOT_CACHE_DIR": str(dagster.snapshot_cache_dir),
        "AIRLIFT_TEST_EXECUTOR": "default",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    samples = []
    for _ in range(runs):
        spawned, started = time.time(), time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-c", _DEFS_LOAD_CHILD, str(DAGSTER_DEFINITIONS)],
            env=env,
            cwd=dagster.home,
            capture_output=True,
            text=True,
            timeout=300,
        )
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError(f"loading the definitions from the cache failed:\n{proc.stderr[-3000:]}")
        t = json.loads(proc.stdout.strip().splitlines()[-1])
        samples.append(
            {
                "wall_s": round(wall, 3),
                "interpreter_start_s": round(t["t_main"] - spawned, 3),
                "import_dagster_s": round(t["t_dagster"] - t["t_main"], 3),
                "import_airlift_components_core_s": round(t["t_ours"] - t["t_dagster"], 3),
                "definitions_file_s": round(t["t_defs"] - t["t_ours"], 3),
                "resolve_repository_s": round(t["t_repo"] - t["t_defs"], 3),
                "assets": t["assets"],
            }
        )
    keys = [key for key in samples[0] if key != "assets"]
    return {**{f"median_{key}": _median(s[key] for s in samples) for key in keys}, "samples": samples}


def measure_mode(airflow: LocalAirflow, dagster: LocalDagster, runs: int, warmup: int) -> dict[str, Any]:
    """``warmup`` tries kept apart (the first run pays one-off start-up costs), then ``runs`` proxied
    tries against one Dagster mode: the samples and the median of each column."""
    samples, failed = [], []
    while len(samples) < warmup + runs:
        proxied = run_proxied_try(airflow, dagster, DAG_ID, TASK_ID)
        if (
            proxied.dag_run.state != "success"
            or len(proxied.dagster_runs) != 1
            or len(proxied.summaries) != 1
        ):
            # A loaded machine can time a request out: keep the failed try (and its log) and go on, 3 at most.
            log = task_log(
                airflow, DAG_ID, proxied.dag_run.run_id, TASK_ID, proxied.task_instance.try_number or 1
            )
            failed.append(
                {"run_id": proxied.dag_run.run_id, "state": str(proxied.dag_run.state), "log": log[-2000:]}
            )
            print(f"{DAG_ID} {proxied.dag_run.run_id} failed; task log tail:\n{log[-2000:]}", file=sys.stderr)
            if len(failed) >= 3:
                raise RuntimeError(
                    f"{DAG_ID} run {proxied.dag_run.run_id} ended {proxied.dag_run.state} with "
                    f"{len(proxied.dagster_runs)} Dagster run(s) and {len(proxied.summaries)} request "
                    f"summary(ies), the third failed try; see {dagster.log} and the Airflow task log"
                )
            continue
        samples.append(overhead_sample(proxied))
    warmup_samples, samples = samples[:warmup], samples[warmup:]
    return {
        "median_overhead_s": _median(s["overhead_s"] for s in samples),
        **{f"median_{key}": _median(s[key] for s in samples) for key in BREAKDOWN},
        "samples": samples,
        "warmup_samples": warmup_samples,
        "failed_tries": failed,
    }


def measure(
    runs: int,
    warmup: int,
    work: Path,
    modes_to_run: Iterable[str] = MODES,
    save: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Start Airflow 3 once, then each Dagster mode in turn on the same port (Airflow's operators read
    ``AIRLIFT_DAGSTER_URL`` from the environment Airflow started with); ``save`` gets the result so far
    after each mode."""
    port = free_port()
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        proxy_dags_copy(work / "airflow"),
        work / "airflow" / "home",
        extra_env=airflow_env(f"http://127.0.0.1:{port}"),
    )
    modes: dict[str, Any] = {}
    defs_load: dict[str, Any] | None = None
    with airflow:  # starts it; stops it on exit
        airflow.wait_for_dags([DAG_ID])
        version = make_client(airflow).version_info.version
        for mode in modes_to_run:
            harness_mode, instance_yaml = (
                TUNED_MODES[mode] if mode in TUNED_MODES else (mode, DAGSTER_MODES[mode])  # type: ignore[index]
            )
            dagster = LocalDagster(work / f"dagster_{mode}", mode=harness_mode, port=port)
            try:
                # The harness writes DAGSTER_MODES[mode] as dagster.yaml when it starts Dagster.
                with patch.dict(DAGSTER_MODES, {harness_mode: instance_yaml}):
                    dagster.start(airflow.url)
                modes[mode] = measure_mode(airflow, dagster, runs, warmup)
                if mode == "dagster_dev_defaults":
                    defs_load = definitions_load(dagster, airflow.url, runs)
            finally:
                dagster.stop()
            if save is not None:
                partial = {"airflow_version": version, "modes": modes}
                save({**partial, "definitions_load": defs_load} if defs_load else partial)
    result: dict[str, Any] = {"airflow_version": version, "modes": modes}
    if defs_load is not None:
        result["definitions_load"] = defs_load
    return result


def table(result: dict[str, Any]) -> str:
    """The medians per mode, one row per column of the breakdown."""
    modes = list(result["modes"])
    rows = [("median of", *modes)]
    for key in ("overhead_s", *BREAKDOWN):
        rows.append((key, *(str(result["modes"][m][f"median_{key}"]) for m in modes)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    load = result["machine"]["before"]["load_avg_1_5_15"], result["machine"]["after"]["load_avg_1_5_15"]
    runs = len(result["modes"][modes[0]]["samples"])
    header = f"Proxied overhead, Airflow {result['airflow_version']}, {runs} runs per mode"
    defs_load = result.get("definitions_load")
    if defs_load:
        lines.append(
            "definitions load in a fresh interpreter (medians): "
            + ", ".join(f"{key[7:]} {value}" for key, value in defs_load.items() if key.startswith("median_"))
        )
    return "\n".join([header, *lines, f"load average (1/5/15 min) before {load[0]}, after {load[1]}"])


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and write the JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="proxied tries per Dagster mode")
    parser.add_argument("--warmup", type=int, default=1, help="untimed tries per mode first (kept apart)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="Dagster modes to run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "proxied_overhead.json")
    args = parser.parse_args(argv)
    before = machine_facts()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(measured: dict[str, Any]) -> dict[str, Any]:
        result = {
            "airflow_version": measured["airflow_version"],
            "machine": {"before": before, "after": machine_facts()},
            **{key: value for key, value in measured.items() if key != "airflow_version"},
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        return result

    with tempfile.TemporaryDirectory(prefix="proxied_overhead_") as work:
        measured = measure(args.runs, args.warmup, Path(work), args.modes, save)
    print(table(save(measured)))


if __name__ == "__main__":
    main()
