"""Scenarios 1-5 and 7 with airlift_components against a seeded benchmark Airflow (run in ``.venv``).

    python -m benchmarks.ours --url http://127.0.0.1:8080 --truth truth.json --repeats 5 --out ours.json

Prints and writes one JSON object. ``benchmarks.run`` starts the Airflow, seeds it and calls this.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dagster import AssetKey, AssetSpec, DagsterInstance, Definitions

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    SensorCursor,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    fetch_snapshot,
    sensor_name,
)
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME
from benchmarks.harness import (
    RequestCounter,
    catch_up,
    measure,
    peak_rss_mb,
    resolve,
    summary,
    tick,
)

NAME = "bench"
LATENCY_DAG = "bench_latency"
LATENCY_ASSET = AssetKey("bench_latency_out")


def instance_for(url: str) -> AirflowInstance:
    """A fresh AirflowInstance (new client, nothing cached) for the benchmark Airflow."""
    return AirflowInstance(auth_backend=BasicAuthBackend(url, ADMIN_USERNAME, ADMIN_PASSWORD), name=NAME)


def mapped_assets(truth: dict[str, Any]) -> list[Any]:
    """One asset mapped to the first task of each mapped DAG."""
    return [
        asset
        for dag_id in truth["mapped_dag_ids"]
        for asset in assets_with_task_mappings(
            dag_id, {truth["mapped_task_id"]: [AssetSpec(f"{dag_id}_out")]}
        )
    ]


def expected_events(truth: dict[str, Any]) -> dict[str, int]:
    """What our sensor must store: success -> materialization, failure -> observation (run and task)."""
    runs = truth["runs_by_state"]
    mapped = truth["mapped_successes_by_run_state"]
    return {
        "materializations": runs.get("success", 0) + sum(mapped.values()),
        "observations": runs.get("failed", 0),
    }


def scenario_refresh(
    url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int
) -> dict[str, Any]:
    """1. Snapshot refresh with the mapped DAGs, peering alone, and a full uncached definitions load."""
    mapped_ids = set(truth["mapped_dag_ids"])
    results = {}
    for label, fn in (
        ("refresh", lambda: fetch_snapshot(instance_for(url), mapped_ids)),
        ("refresh_peering_only", lambda: fetch_snapshot(instance_for(url))),
        (
            "uncached_defs_load",
            lambda: build_defs_from_airflow_instance(
                airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
            ),
        ),
    ):
        samples = [measure(fn, counter) for _ in range(repeats)]
        results[label] = summary([s[1] for s in samples], [s[2] for s in samples])
    snapshot = fetch_snapshot(instance_for(url), mapped_ids)
    results["refresh"]["dags"] = len(snapshot.dags)
    results["refresh"]["dags_with_tasks_fetched"] = len(snapshot.tasks)
    return results


def scenario_cached_load(
    url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int, cache: Path
) -> dict[str, Any]:
    """2. Definitions from the snapshot cache file (written by one uncached load first)."""

    def load() -> Definitions:
        return build_defs_from_airflow_instance(
            airflow_instance=instance_for(url),
            defs=Definitions(assets=mapped_assets(truth)),
            snapshot_cache_dir=cache,
        )

    load()
    samples = [measure(load, counter) for _ in range(repeats)]
    return summary([s[1] for s in samples], [s[2] for s in samples])


def caught_up(cursor_text: str | None) -> bool:
    """The last tick scanned to its upper bound and no run waits for its end."""
    cursor = SensorCursor.parse(cursor_text)
    return cursor is not None and cursor.scan_upper is None and not cursor.open_runs


def scenario_catch_up(
    truth: dict[str, Any], counter: RequestCounter, instance: DagsterInstance, defs: Definitions
) -> tuple[dict[str, Any], str]:
    """3. Tick from the start of the history until caught up; events stored vs Airflow's database."""
    start = datetime.fromisoformat(truth["history_start"]) - timedelta(minutes=10)
    now = datetime.now(timezone.utc)
    cursor = SensorCursor.initial(now, now - start).serialize()
    return catch_up(defs, sensor_name(NAME), instance, cursor, caught_up, counter, expected_events(truth))


def scenario_idle_tick(
    defs: Definitions, instance: DagsterInstance, cursor: str, counter: RequestCounter, repeats: int
) -> dict[str, Any]:
    """4. Ticks when nothing changed; asserts they emit nothing."""
    samples = []
    emitted = 0
    for _ in range(repeats):
        data, seconds, sent = measure(lambda c=cursor: tick(defs, sensor_name(NAME), instance, c), counter)
        emitted += len(data.asset_events)
        cursor = data.cursor
        samples.append((seconds, sent))
    return summary([s[0] for s in samples], [s[1] for s in samples], events_emitted=emitted)


def scenario_latency(url: str, samples: int) -> dict[str, Any]:
    """5. Task end in Airflow -> materialization stored in Dagster, the sensor ticking every second."""
    airflow = instance_for(url)
    defs = resolve(
        build_defs_from_airflow_instance(
            airflow_instance=airflow,
            defs=Definitions(
                assets=assets_with_task_mappings(LATENCY_DAG, {"done": [AssetSpec(LATENCY_ASSET)]})
            ),
            sensor_minimum_interval_seconds=1,
            dag_selector_fn=lambda dag: dag.dag_id == LATENCY_DAG,
        )
    )
    client = airflow.client
    latencies = []
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        cursor = SensorCursor.initial(datetime.now(timezone.utc), timedelta(0)).serialize()
        for _ in range(samples):
            run = client.trigger_dag_run(LATENCY_DAG)
            deadline = time.monotonic() + 300
            stored_at = None
            while stored_at is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run {run.run_id} of {LATENCY_DAG} not materialized within 300 s")
                tick_started = time.monotonic()
                cursor = tick(defs, sensor_name(NAME), instance, cursor).cursor
                event = instance.get_latest_materialization_event(LATENCY_ASSET)
                if (
                    event is not None
                    and event.asset_materialization.metadata["airflow/run_id"].value == run.run_id
                ):
                    stored_at = event.timestamp
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick_started)))
            (ti,) = client.list_task_instances(dag_ids=[LATENCY_DAG], run_ids=[run.run_id])
            latencies.append(stored_at - ti.end_date.timestamp())
    return summary(latencies, [0] * len(latencies), unit="seconds from task end to stored materialization")


def run_scenarios(
    url: str, truth: dict[str, Any], repeats: int, latency_samples: int = 0, out: Path | None = None
) -> dict[str, Any]:
    """Scenarios 1-4 and 7 (and 5 when ``latency_samples``) against a seeded Airflow.

    With ``out``, the results so far are written there after each scenario (a late failure keeps them).
    """
    counter = RequestCounter()
    result: dict[str, Any] = {"implementation": "airlift-components"}

    def save() -> None:
        if out is not None:
            out.write_text(json.dumps(result, indent=2))

    result.update(scenario_refresh(url, truth, counter, repeats))
    save()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        result["cached_load"] = scenario_cached_load(url, truth, counter, repeats, cache)
        defs = resolve(
            build_defs_from_airflow_instance(
                airflow_instance=instance_for(url),
                defs=Definitions(assets=mapped_assets(truth)),
                snapshot_cache_dir=cache,
            )
        )
        (Path(tmp) / "dagster_home").mkdir()
        with DagsterInstance.local_temp(str(Path(tmp) / "dagster_home")) as instance:
            result["catch_up"], cursor = scenario_catch_up(truth, counter, instance, defs)
            result["peak_rss_mb_scenarios_1_3"] = peak_rss_mb()
            save()
            result["idle_tick"] = scenario_idle_tick(defs, instance, cursor, counter, repeats)
            save()
    if latency_samples:
        try:
            result["latency"] = scenario_latency(url, latency_samples)
        except RuntimeError as exc:  # e.g. Airflow's scheduler died: keep the other scenarios' numbers
            result["latency_error"] = str(exc)
        save()
    return result


def main() -> None:
    """Run the scenarios and print/write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    result = run_scenarios(args.url, truth, args.repeats, args.latency_samples, out=Path(args.out))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
