"""Peering cost at a given DAG count: requests (each one named by method and path) and time of a snapshot
refresh with no mappings, on a real Airflow 3 and 2. Writes ``benchmarks/results/peering.json``.

python -m benchmarks.peering                          # 301 benchmark DAGs + bench_latency = 302 DAGs
python -m benchmarks.peering --dags 999 --airflow 3   # another size, one version
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from airlift_components.core import fetch_snapshot
from benchmarks.harness import RequestCounter
from benchmarks.machine import machine_facts
from benchmarks.ours import instance_for
from benchmarks.run import Size, start_airflow

RESULTS = Path(__file__).resolve().parent / "results"


def measure_peering(url: str, repeats: int, log: RequestCounter) -> dict[str, Any]:
    """Peer ``repeats`` times, each with a fresh instance (new client: dialect detection and login included)."""
    seconds, requests_sent, dag_counts = [], [], []
    for _ in range(repeats):
        before = len(log.sent)
        started = time.perf_counter()
        snapshot = fetch_snapshot(instance_for(url))
        seconds.append(time.perf_counter() - started)
        requests_sent.append(len(log.sent) - before)
        dag_counts.append(len(snapshot.dags))
        first = log.sent[before:]
    return {
        "dags": dag_counts[0],
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
        "requests": int(statistics.median(requests_sent)),
        "requests_per_sample": requests_sent,
        "samples": repeats,
        "requests_of_last_sample": first,
    }


def main() -> None:
    """Start each Airflow with the benchmark DAG file at ``--dags`` DAGs, measure peering, write the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dags", type=int, default=301, help="benchmark DAGs (bench_latency is one more)")
    parser.add_argument("--airflow", default="3,2", help="comma-separated major versions")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS / "peering.json")
    args = parser.parse_args()
    size = Size(dags=args.dags, tasks=1, runs=0, mapped_dags=0, repeats=args.repeats, latency_samples=0)
    log = RequestCounter()
    result: dict[str, Any] = {"benchmark_dags": args.dags, "versions": {}}
    for major in (int(v) for v in args.airflow.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"peering-af{major}-") as work:
            airflow = start_airflow(major, size, Path(work))
            try:
                before = machine_facts()
                measured = measure_peering(airflow.url, args.repeats, log)
                measured["machine"] = {"before": before, "after": machine_facts()}
                version = instance_for(airflow.url).client.version_info.version
            finally:
                airflow.stop()
        result["versions"][version] = measured
        print(
            f"Airflow {version}: {measured['dags']} DAGs peered in {measured['requests']} requests, "
            f"median {measured['median_s']:.2f} s: {', '.join(measured['requests_of_last_sample'])}"
        )
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
