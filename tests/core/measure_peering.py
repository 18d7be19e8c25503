"""Measure peering costs against a real Airflow (not a test; prints numbers for the issue's closing note).

.venv/bin/python -m tests.core.measure_peering            # starts its own Airflow 3 with tests/dags
.venv/bin/python -m tests.core.measure_peering http://127.0.0.1:8080   # or measures a running one
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from dagster import AssetSpec, DagsterInstance, Definitions

from airlift_components.core import (
    SensorCursor,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    fetch_snapshot,
)
from airlift_components.testing.local_airflow import LocalAirflow
from tests.conftest import TEST_DAGS, expected_test_dag_ids
from tests.core.helpers import instance_for, run_and_wait, tick, utcnow

REPO = Path(__file__).resolve().parents[2]


def measure(airflow: LocalAirflow) -> None:
    mapped = [
        asset
        for i in range(10)
        for asset in assets_with_task_mappings(f"generated_{i:03d}", {"end": [AssetSpec(f"measure_{i}")]})
    ]
    rows = []

    instance = instance_for(airflow, "measure")
    started = time.perf_counter()
    snapshot = fetch_snapshot(instance)
    rows.append(
        ("snapshot refresh, peering only", instance.client.request_count, time.perf_counter() - started)
    )

    instance = instance_for(airflow, "measure")
    started = time.perf_counter()
    fetch_snapshot(instance, {f"generated_{i:03d}" for i in range(10)})
    rows.append(
        ("snapshot refresh, 10 mapped DAGs", instance.client.request_count, time.perf_counter() - started)
    )

    cache = Path(tempfile.mkdtemp())
    build_defs_from_airflow_instance(
        airflow_instance=instance_for(airflow, "measure"),
        defs=Definitions(assets=mapped),
        snapshot_cache_dir=cache,
    )
    instance = instance_for(airflow, "measure")
    started = time.perf_counter()
    defs = build_defs_from_airflow_instance(
        airflow_instance=instance, defs=Definitions(assets=mapped), snapshot_cache_dir=cache
    )
    rows.append(
        ("cached load (defs from file cache)", instance.client.request_count, time.perf_counter() - started)
    )

    run_and_wait(instance.client, "generated_000")
    with DagsterInstance.ephemeral() as dagster_instance:
        busy = tick(
            defs, dagster_instance, SensorCursor.initial(utcnow(), timedelta(0)).serialize(), "measure"
        )
        instance.client.request_count = 0
        started = time.perf_counter()
        tick(defs, dagster_instance, busy.cursor, "measure")
        rows.append(("idle sensor tick", instance.client.request_count, time.perf_counter() - started))

    print(f"Airflow {snapshot.airflow_version} at {airflow.url}, {len(snapshot.dags)} DAGs")
    for label, requests, seconds in rows:
        print(f"  {label:40s} {requests:3d} requests  {seconds * 1000:7.0f} ms")


class _Running:
    def __init__(self, url: str) -> None:
        self.url = url


def main() -> None:
    args = sys.argv[1:]
    if args and args[0].startswith("http"):
        measure(_Running(args[0]))  # type: ignore[arg-type]
        return
    venv = ".venv-airflow2" if "--airflow2" in args else ".venv"
    base = Path(tempfile.mkdtemp())
    shutil.copytree(TEST_DAGS, base / "dags")
    airflow = LocalAirflow(
        REPO / venv / "bin" / "airflow", base / "dags", base / "home", extra_env={"PYTHONPATH": str(REPO)}
    )
    with airflow:
        airflow.wait_for_dags(expected_test_dag_ids())
        measure(airflow)


if __name__ == "__main__":
    main()
