"""``make soak``: our sensor against 1000 DAGs while finished runs land in Airflow continuously.

    python -m benchmarks.soak                       # 10 minutes, 2 runs/s, Airflow 3
    python -m benchmarks.soak --minutes 3 --dags 200

Each DAG has 3 tasks. A writer process (Airflow's environment, its ORM) writes runs that end *now* while this process ticks
the sensor every ``--interval`` seconds into a SQLite-backed Dagster instance and samples its RSS.
Afterwards it ticks until caught up and asserts that every written run produced exactly one DAG-asset
event (none lost, none duplicated). Writes ``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, Definitions, EventRecordsFilter

from airlift_components.core import SensorCursor, build_defs_from_airflow_instance, sensor_name
from benchmarks.harness import RequestCounter, tick
from benchmarks.machine import machine_facts
from benchmarks.ours import NAME, caught_up, instance_for
from benchmarks.run import BENCH, SIZES, VENVS, start_airflow


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("VmRSS not found in /proc/self/status")


def soak_run_ids(instance: DagsterInstance) -> Counter[tuple[str, str]]:
    """(dag_id, run_id) of every soak run's DAG-asset event stored in Dagster, with multiplicity."""
    seen: Counter[tuple[str, str]] = Counter()
    for event_type in (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_OBSERVATION):
        for record in instance.get_event_records(EventRecordsFilter(event_type=event_type), limit=10**7):
            event = record.event_log_entry.asset_materialization or record.event_log_entry.asset_observation
            run_id = event.metadata["airflow/run_id"].value
            if run_id.startswith("soak__"):
                seen[(event.metadata["airflow/dag_id"].value, run_id)] += 1
    return seen


def soak(minutes: float, dags: int, rate: float, interval: float, work: Path) -> dict[str, Any]:
    """Start Airflow, write runs continuously while ticking, then check events against what was written."""
    size = replace(SIZES["full"], dags=dags, tasks=3)
    machine_before = machine_facts()
    airflow = start_airflow(3, size, work / "airflow")
    try:
        defs = build_defs_from_airflow_instance(
            airflow_instance=instance_for(airflow.url), defs=Definitions(), sensor_minimum_interval_seconds=1
        )
        counter = RequestCounter()
        written_file = work / "written.json"
        writer = subprocess.Popen(
            [str(VENVS[3] / "bin" / "python"), str(BENCH / "seed.py"), "--out", str(written_file)]
            + ["--continuous-seconds", str(minutes * 60), "--runs-per-second", str(rate)],
            env=airflow.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        memory: list[dict[str, float]] = []
        ticks: list[dict[str, float]] = []
        started = time.monotonic()
        (work / "dagster_home").mkdir(parents=True, exist_ok=True)
        with DagsterInstance.local_temp(str(work / "dagster_home")) as instance:
            cursor = SensorCursor.initial(datetime.now(timezone.utc), timedelta(0)).serialize()
            next_sample = 0.0
            try:
                while writer.poll() is None:
                    tick_started = time.monotonic()
                    before = counter.count
                    data = tick(defs, sensor_name(NAME), instance, cursor)
                    cursor = data.cursor
                    ticks.append(
                        {
                            "s": round(time.monotonic() - tick_started, 3),
                            "requests": counter.count - before,
                            "events": len(data.asset_events),
                        }
                    )
                    elapsed = time.monotonic() - started
                    if elapsed >= next_sample:
                        memory.append({"t_s": round(elapsed), "rss_mb": current_rss_mb()})
                        next_sample += 30
                    time.sleep(max(0.0, interval - (time.monotonic() - tick_started)))
            finally:
                if writer.poll() is None:
                    writer.terminate()
            _, stderr = writer.communicate()
            if writer.returncode != 0:
                raise RuntimeError(f"the run writer failed:\n{stderr[-3000:]}")
            written = json.loads(written_file.read_text())
            # Drain: tick until caught up and past the newest run's end.
            drain_deadline = time.monotonic() + 300
            drained = False
            while not drained and time.monotonic() <= drain_deadline:
                cursor = tick(defs, sensor_name(NAME), instance, cursor).cursor
                drained = caught_up(cursor)
                if not drained:
                    time.sleep(interval)
            memory.append({"t_s": round(time.monotonic() - started), "rss_mb": current_rss_mb()})
            seen = soak_run_ids(instance)
        duplicates = sum(count - 1 for count in seen.values() if count > 1)
        # By identity, not totals: the run ids the writer wrote (soak__<k>) against those with an event.
        expected_run_ids = {f"soak__{k:07d}" for k in range(written["runs_written"])}
        seen_run_ids = {run_id for _, run_id in seen}
        durations = sorted(t["s"] for t in ticks)
        result = {
            "airflow": airflow.major_version,
            "dags": dags,
            "minutes": minutes,
            "runs_per_second": rate,
            "sensor_interval_s": interval,
            "runs_written": written["runs_written"],
            "runs_written_by_state": written["runs_written_by_state"],
            "runs_with_events": len(seen),
            "lost": len(expected_run_ids - seen_run_ids),
            "duplicates": duplicates,
            "unexpected": len(seen_run_ids - expected_run_ids),
            "drained": drained,
            "ticks": len(ticks),
            "tick_median_s": durations[len(durations) // 2] if durations else None,
            "tick_max_s": durations[-1] if durations else None,
            "requests_per_tick_max": max((t["requests"] for t in ticks), default=0),
            "memory": memory,
            "machine": {"before": machine_before, "after": machine_facts()},
        }
        assert result["lost"] == 0, f"{result['lost']} runs produced no event"
        assert duplicates == 0, f"{duplicates} duplicate events"
        assert result["unexpected"] == 0, f"{result['unexpected']} events for runs that were not written"
        return result
    finally:
        airflow.stop()


def main() -> None:
    """Run the soak and write ``benchmarks/results/soak.json``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs-per-second", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=2.0, help="sensor interval in seconds")
    parser.add_argument("--out", default=str(BENCH / "results" / "soak.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="airlift-soak-") as tmp:
        result = soak(args.minutes, args.dags, args.runs_per_second, args.interval, Path(tmp))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
