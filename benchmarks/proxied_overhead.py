"""Proxied-task overhead: how much longer an Airflow task takes than the Dagster run it proxies to.

    python -m benchmarks.proxied_overhead --runs 10 --out benchmarks/results/proxied_overhead.json

Starts its own Airflow 3 (the proxy test DAGs) and, one after the other on the same port, Dagster in two
modes (``tests/in_airflow/harness.py``), with definitions built by core's builder from that Airflow:

- ``in_process``: ``dagster-webserver`` alone, ``DefaultRunCoordinator`` (a launched run starts at once)
  and the in-process executor; the setup of the test suite.
- ``dagster_dev_defaults``: ``dagster dev`` with Dagster's default instance config (``QueuedRunCoordinator``
  dequeued by the daemon) and the default multiprocess executor; what a user runs.

Per mode it triggers ``proxy_bench`` (one proxied task mapped to one asset) ``--runs`` times in sequence
after ``--warmup`` tries kept apart (default 1: the first try in a fresh Dagster pays one-off start-up
costs), and keeps, per sample, the operator's own breakdown (lookup, launch, waiting beyond the run) and the rest
(Airflow starting and finishing the task). Prints a table and writes JSON with the machine's load before
and after (``benchmarks/machine.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airlift_components.testing.local_airflow import LocalAirflow, free_port
from benchmarks.machine import machine_facts
from tests.in_airflow.harness import (
    REPO,
    DagsterMode,
    LocalDagster,
    airflow_env,
    make_client,
    overhead_sample,
    proxy_dags_copy,
    run_proxied_try,
)

DAG_ID, TASK_ID = "proxy_bench", "work"
MODES: tuple[DagsterMode, ...] = ("in_process", "dagster_dev_defaults")
BREAKDOWN = (
    "task_s",
    "dagster_run_s",
    "graphql_requests",
    "lookup_s",
    "launch_s",
    "dagster_created_to_started_s",
    "wait_minus_run_s",
    "airflow_task_start_and_finish_s",
)


def _median(values: Iterable[float]) -> float:
    return round(statistics.median(values), 3)


def measure_mode(airflow: LocalAirflow, dagster: LocalDagster, runs: int, warmup: int) -> dict[str, Any]:
    """``warmup`` tries kept apart (the first run pays one-off start-up costs), then ``runs`` proxied
    tries against one Dagster mode: the samples and the median of each column."""
    samples = []
    for _ in range(warmup + runs):
        proxied = run_proxied_try(airflow, dagster, DAG_ID, TASK_ID)
        if (
            proxied.dag_run.state != "success"
            or len(proxied.dagster_runs) != 1
            or len(proxied.summaries) != 1
        ):
            raise RuntimeError(
                f"{DAG_ID} run {proxied.dag_run.run_id} ended {proxied.dag_run.state} with "
                f"{len(proxied.dagster_runs)} Dagster run(s) and {len(proxied.summaries)} request summary(ies); "
                f"see {dagster.log} and the Airflow task log"
            )
        samples.append(overhead_sample(proxied))
    warmup_samples, samples = samples[:warmup], samples[warmup:]
    return {
        "median_overhead_s": _median(s["overhead_s"] for s in samples),
        **{f"median_{key}": _median(s[key] for s in samples) for key in BREAKDOWN},
        "samples": samples,
        "warmup_samples": warmup_samples,
    }


def measure(runs: int, warmup: int, work: Path) -> dict[str, Any]:
    """Start Airflow 3 once, then each Dagster mode in turn on the same port (Airflow's operators read
    ``AIRLIFT_DAGSTER_URL`` from the environment Airflow started with)."""
    port = free_port()
    airflow = LocalAirflow(
        REPO / ".venv" / "bin" / "airflow",
        proxy_dags_copy(work / "airflow"),
        work / "airflow" / "home",
        extra_env=airflow_env(f"http://127.0.0.1:{port}"),
    )
    modes: dict[str, Any] = {}
    with airflow:  # starts it; stops it on exit
        airflow.wait_for_dags([DAG_ID])
        version = make_client(airflow).version_info.version
        for mode in MODES:
            dagster = LocalDagster(work / f"dagster_{mode}", mode=mode, port=port)
            try:
                dagster.start(airflow.url)
                modes[mode] = measure_mode(airflow, dagster, runs, warmup)
            finally:
                dagster.stop()
    return {"airflow_version": version, "modes": modes}


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
    return "\n".join([header, *lines, f"load average (1/5/15 min) before {load[0]}, after {load[1]}"])


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table and write the JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="proxied tries per Dagster mode")
    parser.add_argument("--warmup", type=int, default=1, help="untimed tries per mode first (kept apart)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "proxied_overhead.json")
    args = parser.parse_args(argv)
    before = machine_facts()
    with tempfile.TemporaryDirectory(prefix="proxied_overhead_") as work:
        measured = measure(args.runs, args.warmup, Path(work))
    result = {
        "airflow_version": measured["airflow_version"],
        "machine": {"before": before, "after": machine_facts()},
    }
    result["modes"] = measured["modes"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
