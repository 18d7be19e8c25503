"""``make bench``: seed real Airflows, run every scenario, print a table and write the results JSON.

    python -m benchmarks.run                      # full size on Airflow 3 and 2 (+ dagster-airlift on 2)
    python -m benchmarks.run --size small --airflow 3

Full-size results go to ``benchmarks/results/<airflow-version>.json``; other sizes to
``benchmarks/.work/results/``. dagster-airlift runs from ``.venv-bench-ref`` (``make install-bench-ref``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlift_components.testing.local_airflow import LocalAirflow, LocalAirflowError

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
VENVS = {3: REPO / ".venv", 2: REPO / ".venv-airflow2"}
REFERENCE_VENV = REPO / ".venv-bench-ref"
LATENCY_DAG = "bench_latency"


@dataclass(frozen=True)
class Size:
    """One benchmark size: N DAGs x T tasks, finished runs (task instances = runs x T)."""

    dags: int
    tasks: int
    runs: int
    mapped_dags: int
    repeats: int
    latency_samples: int


SIZES = {
    "smoke": Size(dags=12, tasks=3, runs=60, mapped_dags=3, repeats=2, latency_samples=0),
    "small": Size(dags=100, tasks=10, runs=500, mapped_dags=10, repeats=5, latency_samples=5),
    "full": Size(dags=1000, tasks=10, runs=5000, mapped_dags=10, repeats=5, latency_samples=20),
}


def bench_dag_ids(size: Size) -> list[str]:
    """Every DAG id the benchmark DAG file defines at this size."""
    return [f"bench_{i:04d}" for i in range(size.dags)] + [LATENCY_DAG]


def start_airflow(major: int, size: Size, base: Path) -> LocalAirflow:
    """A benchmark Airflow (3 or 2) whose DAGs folder holds only the benchmark DAG file."""
    dags = base / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    shutil.copy(BENCH / "dags" / "bench_dags.py", dags / "bench_dags.py")
    # One file defines all DAGs: give it time to parse, then stop re-parsing it during the measurements.
    slow_parse = {
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "1800",
        "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "1800",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "1800",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        # Airflow 2 on a loaded machine: its gunicorn watchdog and scheduler health check give up too early.
        "AIRFLOW__WEBSERVER__WEB_SERVER_MASTER_TIMEOUT": "900",
        "AIRFLOW__WEBSERVER__WEB_SERVER_WORKER_TIMEOUT": "900",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "600",
        # SQLite's default 5 s busy timeout: Airflow 3's scheduler died of "database is locked" while
        # the DAG processor wrote 1000 serialized DAGs in one transaction.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{(base / 'home').resolve()}/airflow.db?timeout=300",
    }
    airflow = LocalAirflow(
        VENVS[major] / "bin" / "airflow",
        dags,
        base / "home",
        major_version=major,
        extra_env={"BENCH_DAG_COUNT": str(size.dags), "BENCH_TASK_COUNT": str(size.tasks), **slow_parse},
    )
    airflow.start(timeout=1800)
    try:
        airflow.wait_for_dags(bench_dag_ids(size), timeout=3600)
    except BaseException:
        airflow.stop()
        raise
    return airflow


def run_json(command: list[str], out: Path, **kwargs: Any) -> dict[str, Any]:
    """Run a scenario process that writes JSON to ``out``; fail with its output tail if it fails."""
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, **kwargs)
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"{' '.join(command[:3])} failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
        )
    return json.loads(out.read_text())


def seed(airflow: LocalAirflow, major: int, size: Size, work: Path) -> dict[str, Any]:
    """Seed the history through Airflow's ORM (in Airflow's own environment); returns the ground truth."""
    out = work / "truth.json"
    command = [str(VENVS[major] / "bin" / "python"), str(BENCH / "seed.py"), "--runs", str(size.runs)]
    command += ["--mapped-dags", str(size.mapped_dags), "--out", str(out)]
    return run_json(command, out, env=airflow.env, timeout=7200)


def scenarios(module: str, venv: Path, airflow: LocalAirflow, size: Size, work: Path, latency: bool) -> dict:
    """Run ``benchmarks.ours`` or ``benchmarks.reference`` in its own process (its own peak RSS)."""
    out = work / f"{module}.json"
    command = [str(venv / "bin" / "python"), "-m", f"benchmarks.{module}", "--url", airflow.url]
    command += ["--truth", str(work / "truth.json"), "--repeats", str(size.repeats), "--out", str(out)]
    if latency and size.latency_samples:
        command += ["--latency-samples", str(size.latency_samples)]
    return run_json(command, out, timeout=7200)


def proxied_overhead(work: Path) -> dict[str, Any]:
    """6. The proxied-task overhead measurement of the test suite (real Airflow 3 + Dagster webserver), median of 10."""
    out = work / "proxy_overhead.json"
    command = [str(VENVS[3] / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["tests/in_airflow/test_proxy_overhead.py"]
    env = {**os.environ, "AIRLIFT_BENCH_OUT": str(out), "AIRLIFT_BENCH_PROXY_RUNS": "10"}
    return run_json(command, out, env=env, timeout=3600)


def ratio(ours: float | int | None, theirs: float | int | None) -> float | None:
    """ours / theirs, or None when either is missing or theirs is 0."""
    if ours is None or not theirs:
        return None
    return round(ours / theirs, 3)


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Ratios ours/theirs for scenarios 1-4 (time and requests; < 1 means we are cheaper)."""
    pairs = {
        "refresh (uncached defs load)": (ours["uncached_defs_load"], theirs["uncached_defs_load"]),
        "cached_load": (ours["cached_load"], theirs["cached_load"]),
        "idle_tick": (ours["idle_tick"], theirs["idle_tick"]),
    }
    result = {
        name: {
            "time": ratio(a.get("median_s"), b.get("median_s")),
            "requests": ratio(a["requests"], b["requests"]),
        }
        for name, (a, b) in pairs.items()
    }
    a, b = ours["catch_up"], theirs["catch_up"]
    result["catch_up"] = {
        "time": ratio(a["wall_s"], b["wall_s"]),
        "requests": ratio(a["requests"], b["requests"]),
        "events_per_s": ratio(a["events_per_s"], b["events_per_s"]),
    }
    return result


def bench_airflow(major: int, size: Size, work: Path, reference: bool) -> dict[str, Any]:
    """Everything for one Airflow version: start, seed, our scenarios, then dagster-airlift's (Airflow 2)."""
    work.mkdir(parents=True, exist_ok=True)
    print(f"[bench] Airflow {major}: starting with {size.dags} DAGs x {size.tasks} tasks", flush=True)
    airflow = start_airflow(major, size, work / "airflow")
    try:
        truth = seed(airflow, major, size, work)
        print(f"[bench] seeded {truth['runs']} runs, {truth['task_instances']} task instances", flush=True)
        result: dict[str, Any] = {"airflow_version": truth["airflow_version"], "size": size.__dict__}
        result["ground_truth"] = truth
        try:
            airflow.check_alive()
            alive = True
        except (
            LocalAirflowError
        ) as exc:  # e.g. Airflow 3's scheduler dies of "database is locked" while parsing
            result["latency_skipped"] = f"an Airflow process died, nothing would run: {str(exc)[:300]}"
            alive = False
        result["ours"] = scenarios("ours", VENVS[3], airflow, size, work, latency=alive)
        print(f"[bench] ours done on Airflow {major}", flush=True)
        if reference:
            result["dagster_airlift"] = scenarios(
                "reference", REFERENCE_VENV, airflow, size, work, latency=False
            )
            result["ratios_ours_over_dagster_airlift"] = compare(result["ours"], result["dagster_airlift"])
            print(f"[bench] dagster-airlift done on Airflow {major}", flush=True)
        return result
    finally:
        airflow.stop()


def table(result: dict[str, Any]) -> str:
    """The human-readable table of one Airflow version's results."""
    lines = [f"Airflow {result['airflow_version']}  (size {result['size']})"]
    lines.append(f"  {'scenario':34s} {'impl':15s} {'median':>9s} {'min':>9s} {'max':>9s} {'requests':>9s}")
    for impl in ("ours", "dagster_airlift"):
        data = result.get(impl)
        if not data:
            continue
        for name in (
            "refresh",
            "refresh_peering_only",
            "uncached_defs_load",
            "cached_load",
            "idle_tick",
            "latency",
        ):
            row = data.get(name)
            if row:
                lines.append(
                    f"  {name:34s} {impl:15s} {row['median_s']:9.3f} {row['min_s']:9.3f} {row['max_s']:9.3f} "
                    f"{row['requests']:9d}"
                )
        catch = data["catch_up"]
        lines.append(
            f"  {'catch_up':34s} {impl:15s} {catch['wall_s']:9.2f} {'':9s} {'':9s} {catch['requests']:9d}"
            f"  ticks={catch['ticks']} events/s={catch['events_per_s']} match={catch['events_match_ground_truth']}"
        )
        if "peak_rss_mb_scenarios_1_3" in data:
            lines.append(
                f"  {'peak RSS (scenarios 1-3), MiB':34s} {impl:15s} {data['peak_rss_mb_scenarios_1_3']:9.1f}"
            )
    if "ratios_ours_over_dagster_airlift" in result:
        lines.append(
            f"  ratios ours/dagster-airlift: {json.dumps(result['ratios_ours_over_dagster_airlift'])}"
        )
    if "proxied_overhead" in result:
        lines.append(f"  proxied overhead median: {result['proxied_overhead']['median_overhead_s']} s")
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the benchmark per Airflow version, print and write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--airflow", default="3,2", help="comma-separated major versions: 3, 2 or 3,2")
    parser.add_argument("--no-reference", action="store_true", help="skip dagster-airlift on Airflow 2")
    parser.add_argument("--no-proxied-overhead", action="store_true", help="skip scenario 6 (Airflow 3)")
    parser.add_argument("--work", default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    size = SIZES[args.size]
    majors = [int(v) for v in args.airflow.split(",")]
    reference = 2 in majors and not args.no_reference
    if reference and not (REFERENCE_VENV / "bin" / "python").exists():
        sys.exit(f"{REFERENCE_VENV} is missing: run `make install-bench-ref` (or pass --no-reference)")
    results_dir = BENCH / "results" if args.size == "full" else BENCH / ".work" / "results" / args.size
    results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="airlift-bench-"))
    for major in majors:
        result = bench_airflow(major, size, work / f"airflow{major}", reference and major == 2)
        if major == 3 and not args.no_proxied_overhead and args.size != "smoke":
            result["proxied_overhead"] = proxied_overhead(work / "airflow3")
        path = results_dir / f"{result['airflow_version']}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(table(result), flush=True)
        print(f"[bench] wrote {path.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    main()
