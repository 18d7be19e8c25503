"""``make bench``: seed real Airflows, run every scenario, print a table and write the results JSON.

    python -m benchmarks.run                      # full size on Airflow 3 and 2 (+ dagster-airlift on 2)
    python -m benchmarks.run --size small --airflow 3
    python -m benchmarks.run --catch-up-repeats 2 # + our catch-up twice more on fresh Airflows

Per Airflow version: start a fresh Airflow, seed it, run our scenarios 1-4, dagster-airlift's (Airflow 2),
and only then our latency scenario, whose triggered runs would otherwise be part of the history that the
second catch-up reads: both packages catch up on the same, identical Airflow state.

Full-size results go to ``benchmarks/results/<airflow-version>.json`` (``proxied_overhead.json``, ``zero_code.json``,
``catch_up_repeats.json``); other sizes to ``benchmarks/results/<size>/`` (in the README too). dagster-airlift runs
from ``.venv-bench-ref`` (``make install-bench-ref``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from airlift_components.testing.local_airflow import LocalAirflow, LocalAirflowError
from benchmarks.machine import machine_facts

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


def start_airflow(
    major: int,
    size: Size,
    base: Path,
    extra_env: Mapping[str, str] | None = None,
    timings: dict[str, float] | None = None,
) -> LocalAirflow:
    """A benchmark Airflow (3 or 2) whose DAGs folder holds only the benchmark DAG file.

    ``extra_env`` overrides its settings (e.g. another database); ``timings`` (if given) receives
    ``start_s`` (migrate and start the processes) and ``parse_s`` (until every benchmark DAG is listed).
    """
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
        extra_env={
            "BENCH_DAG_COUNT": str(size.dags),
            "BENCH_TASK_COUNT": str(size.tasks),
            **slow_parse,
            **(extra_env or {}),
        },
    )
    timings = {} if timings is None else timings
    started = time.perf_counter()
    airflow.start(timeout=1800)
    try:
        timings["start_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        airflow.wait_for_dags(bench_dag_ids(size), timeout=3600)
        timings["parse_s"] = round(time.perf_counter() - started, 1)
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


def scenarios(
    module: str, venv: Path, airflow: LocalAirflow, size: Size, work: Path, only: str | None = None
) -> dict:
    """Run ``benchmarks.ours`` or ``benchmarks.reference`` in its own process (its own peak RSS);
    ``only``: "latency" or "catch_up" (ours)."""
    out = work / f"{module}{'_' + only if only else ''}.json"
    command = [str(venv / "bin" / "python"), "-m", f"benchmarks.{module}", "--url", airflow.url]
    command += ["--truth", str(work / "truth.json"), "--repeats", str(size.repeats), "--out", str(out)]
    if only:
        command += ["--only", only]
    if only == "latency":
        command += ["--latency-samples", str(size.latency_samples)]
    return run_json(command, out, timeout=14400)


def proxied_overhead(out: Path, runs: int = 10) -> dict[str, Any]:
    """6. ``benchmarks.proxied_overhead``: the proxied-task overhead on a real Airflow 3 and Dagster, in
    both Dagster setups it measures; writes ``out``."""
    command = [str(VENVS[3] / "bin" / "python"), "-m", "benchmarks.proxied_overhead"]
    command += ["--runs", str(runs), "--out", str(out)]
    return run_json(command, out, timeout=7200)


def zero_code(out: Path, runs: int = 10) -> dict[str, Any]:
    """``benchmarks.zero_code``: zero-code against hand-written assets on a real Airflow 3 and Dagster, and
    the share of the repository's tasks eligible for zero-code; writes ``out``."""
    command = [str(VENVS[3] / "bin" / "python"), "-m", "benchmarks.zero_code"]
    command += ["--runs", str(runs), "--out", str(out)]
    return run_json(command, out, timeout=7200)


def ratio(ours: float | int | None, theirs: float | int | None) -> float | None:
    """ours / theirs, or None when either is missing or theirs is 0."""
    if ours is None or not theirs:
        return None
    return round(ours / theirs, 3)


def uncached_load_pair(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The uncached loads to compare: the alternating side-by-side measurement when there is one (both in
    the same minutes), else each package's own scenario 1 (run minutes apart)."""
    side_by_side = ours.get("uncached_defs_load_side_by_side")
    if side_by_side:
        return side_by_side["ours"], side_by_side["theirs"]
    return ours["uncached_defs_load"], theirs["uncached_defs_load"]


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Ratios ours/theirs for scenarios 1-4 (time and requests; < 1 means we are cheaper). The uncached
    load from :func:`uncached_load_pair`. Cached loads:
    by reconstruction metadata (Python API), and each YAML component from its defs state."""
    pairs = {
        "refresh (uncached defs load)": uncached_load_pair(ours, theirs),
        "cached_load_reconstruction": (
            ours["cached_load_reconstruction"],
            theirs["cached_load_reconstruction"],
        ),
        "cached_load_component_defs_state": (
            ours["cached_load_component_defs_state"],
            theirs["cached_load_component_defs_state"],
        ),
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


def ground_truth_summary(truth: dict[str, Any]) -> dict[str, Any]:
    """The ground truth's counts (the identity rows stay in the work directory's truth.json)."""
    return {key: value for key, value in truth.items() if key not in ("run_rows", "mapped_task_rows")}


def bench_airflow(
    major: int, size: Size, work: Path, reference: bool, save: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Everything for one Airflow version: start, seed, our scenarios 1-4, dagster-airlift's (Airflow 2),
    then our latency scenario (it adds runs, so it comes after every catch-up). ``save`` is called with
    the results so far after each step (a late failure keeps the earlier numbers)."""
    work.mkdir(parents=True, exist_ok=True)
    machine_before = machine_facts()
    print(f"[bench] Airflow {major}: starting with {size.dags} DAGs x {size.tasks} tasks", flush=True)
    airflow = start_airflow(major, size, work / "airflow")
    try:
        truth = seed(airflow, major, size, work)
        print(f"[bench] seeded {truth['runs']} runs, {truth['task_instances']} task instances", flush=True)
        result: dict[str, Any] = {"airflow_version": truth["airflow_version"], "size": size.__dict__}
        result["ground_truth"] = ground_truth_summary(truth)
        result["order"] = ["ours: scenarios 1-4", "dagster-airlift: scenarios 1-4", "ours: latency"]
        result["ours"] = scenarios("ours", VENVS[3], airflow, size, work)
        save(result)
        print(f"[bench] ours done on Airflow {major}", flush=True)
        if reference:
            result["dagster_airlift"] = scenarios("reference", REFERENCE_VENV, airflow, size, work)
            result["ratios_ours_over_dagster_airlift"] = compare(result["ours"], result["dagster_airlift"])
            save(result)
            print(f"[bench] dagster-airlift done on Airflow {major}", flush=True)
        if size.latency_samples:
            try:
                airflow.check_alive()
                latency = scenarios("ours", VENVS[3], airflow, size, work, only="latency")
            except (LocalAirflowError, RuntimeError) as exc:  # e.g. a scheduler died of "database is locked"
                result["latency_error"] = str(exc)[-2000:]
            else:
                result["ours"].update({k: v for k, v in latency.items() if k != "implementation"})
        result["machine"] = {"before": machine_before, "after": machine_facts()}
        return result
    finally:
        airflow.stop()


def catch_up_sample(major: int, size: Size, work: Path) -> dict[str, Any]:
    """Our catch-up alone on a freshly started and seeded Airflow."""
    work.mkdir(parents=True, exist_ok=True)
    airflow = start_airflow(major, size, work / "airflow")
    try:
        seed(airflow, major, size, work)
        return scenarios("ours", VENVS[3], airflow, size, work, only="catch_up")["catch_up"]
    finally:
        airflow.stop()


def catch_up_repeats(
    first: dict[str, dict[str, Any]], size: Size, work: Path, repeats: int
) -> dict[str, Any]:
    """``--catch-up-repeats``: the catch-up of each version's main run, then ``repeats`` more samples."""
    keep = (
        "wall_s",
        "requests",
        "ticks",
        "caught_up",
        "sensor_evaluate_s",
        "dagster_store_s",
        "events_per_s",
    )
    result: dict[str, Any] = {
        "note": "Scenario 3 (ours): the first sample is the main run's catch-up, each further one a fresh "
        "Airflow started and seeded for it (python -m benchmarks.run --catch-up-repeats K).",
        "size": size.__dict__,
    }
    for version, catch in first.items():
        major = int(version.split(".")[0])
        samples = [catch]
        for k in range(repeats):
            print(f"[bench] catch-up repeat {k + 1}/{repeats} on Airflow {major}", flush=True)
            samples.append(catch_up_sample(major, size, work / f"repeat{major}_{k}"))
        rows = [
            {
                **{key: sample[key] for key in keep},
                "identity_check_equal": sample["identity_check"]["equal"],
                "machine": sample["machine"],
            }
            for sample in samples
        ]
        result[version] = {"samples": rows, "median_wall_s": statistics.median(r["wall_s"] for r in rows)}
    return result


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
            "cached_load_component_defs_state",
            "cached_load_reconstruction",
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
        check = catch["identity_check"]
        lines.append(
            f"  {'catch_up':34s} {impl:15s} {catch['wall_s']:9.2f} {'':9s} {'':9s} {catch['requests']:9d}"
            f"  ticks={catch['ticks']} caught_up={catch['caught_up']} events/s={catch['events_per_s']}"
            f" identities: expected={check['expected']} stored={check['stored']} lost={check['lost']}"
            f" duplicated={check['duplicated']} unexpected={check['unexpected']}"
        )
        for category, counts in check["by_category"].items():
            if counts["in_airflow"]:
                lines.append(f"      {category}: {counts['stored']} of {counts['in_airflow']} stored")
        if "peak_rss_mb_scenarios_1_3" in data:
            lines.append(
                f"  {'peak RSS (scenarios 1-3), MiB':34s} {impl:15s} {data['peak_rss_mb_scenarios_1_3']:9.1f}"
            )
    if "ratios_ours_over_dagster_airlift" in result:
        lines.append(
            f"  ratios ours/dagster-airlift: {json.dumps(result['ratios_ours_over_dagster_airlift'])}"
        )
    machine = result.get("machine", {})
    if machine:
        lines.append(
            f"  load average (1/5/15 min) before {machine['before']['load_avg_1_5_15']}, "
            f"after {machine['after']['load_avg_1_5_15']} on {machine['before']['cpus']} CPUs"
        )
    return "\n".join(lines)


def zero_code_task_ratios(measured: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Zero-code over hand-written Airflow task time, per runner mode and task kind, from the JSON
    ``benchmarks.zero_code`` writes (the line ``make bench`` prints after it)."""
    return {
        mode: {kind: ratio["task_s"] for kind, ratio in data["ratio_zero_over_hand"].items()}
        for mode, data in measured["overhead"]["modes"].items()
    }


def main() -> None:
    """Parse arguments, run the benchmark per Airflow version, print and write the results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--airflow", default="3,2", help="comma-separated major versions: 3, 2 or 3,2")
    parser.add_argument("--no-reference", action="store_true", help="skip dagster-airlift on Airflow 2")
    parser.add_argument("--no-proxied-overhead", action="store_true", help="skip scenario 6 (Airflow 3)")
    parser.add_argument(
        "--no-zero-code", action="store_true", help="skip the zero-code benchmark (Airflow 3)"
    )
    parser.add_argument(
        "--catch-up-repeats",
        type=int,
        default=0,
        metavar="K",
        help="repeat our catch-up K more times per version on fresh Airflows; writes catch_up_repeats.json",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="a shorter (or longer) history at the size's DAG count; results go to <version>-runs<N>.json",
    )
    parser.add_argument("--work", default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    size = SIZES[args.size] if args.runs is None else replace(SIZES[args.size], runs=args.runs)
    suffix = "" if args.runs is None else f"-runs{args.runs}"
    majors = [int(v) for v in args.airflow.split(",")]
    reference = 2 in majors and not args.no_reference
    if reference and not (REFERENCE_VENV / "bin" / "python").exists():
        sys.exit(f"{REFERENCE_VENV} is missing: run `make install-bench-ref` (or pass --no-reference)")
    results_dir = BENCH / "results" if args.size == "full" else BENCH / "results" / args.size
    results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="airlift-bench-"))
    catch_ups: dict[str, dict[str, Any]] = {}

    def save(result: dict[str, Any]) -> None:
        (results_dir / f"{result['airflow_version']}{suffix}.json").write_text(
            json.dumps(result, indent=2) + "\n"
        )

    for major in majors:
        result = bench_airflow(major, size, work / f"airflow{major}", reference and major == 2, save)
        catch_ups[result["airflow_version"]] = result["ours"]["catch_up"]
        save(result)
        path = results_dir / f"{result['airflow_version']}{suffix}.json"
        print(table(result), flush=True)
        print(f"[bench] wrote {path.relative_to(REPO)}", flush=True)
        if major == 3 and not args.no_proxied_overhead and args.size != "smoke":
            out = results_dir / "proxied_overhead.json"
            overhead = proxied_overhead(out)
            modes = {name: mode["median_overhead_s"] for name, mode in overhead["modes"].items()}
            print(f"[bench] proxied overhead medians: {modes}; wrote {out.relative_to(REPO)}", flush=True)
        if major == 3 and not args.no_zero_code and args.size != "smoke":
            out = results_dir / "zero_code.json"
            measured = zero_code(out)
            ratios = zero_code_task_ratios(measured)
            print(
                f"[bench] zero-code/hand-written ratios: {ratios}; wrote {out.relative_to(REPO)}", flush=True
            )
    if args.catch_up_repeats:
        repeats = catch_up_repeats(catch_ups, size, work, args.catch_up_repeats)
        path = results_dir / f"catch_up_repeats{suffix}.json"
        path.write_text(json.dumps(repeats, indent=2) + "\n")
        print(f"[bench] wrote {path.relative_to(REPO)}", flush=True)


if __name__ == "__main__":
    main()
