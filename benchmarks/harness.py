"""Measurement helpers shared by our scenarios and dagster-airlift's (stdlib, requests and dagster only,
so that both virtual environments can import it)."""

from __future__ import annotations

import resource
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import requests.adapters
from dagster import DagsterEventType, DagsterInstance, Definitions, EventRecordsFilter, build_sensor_context


class RequestCounter:
    """Counts every HTTP request sent through ``requests`` in this process (a hook on the adapter)."""

    def __init__(self) -> None:
        self.count = 0
        original = requests.adapters.HTTPAdapter.send
        counter = self

        def counting_send(adapter: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return original(adapter, request, *args, **kwargs)

        requests.adapters.HTTPAdapter.send = counting_send  # type: ignore[method-assign]


def measure(fn: Callable[[], Any], counter: RequestCounter) -> tuple[Any, float, int]:
    """Call ``fn``; return its result, the wall time in seconds and the HTTP requests it sent."""
    before = counter.count
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, counter.count - before


def summary(seconds: list[float], requests_sent: list[int], **extra: Any) -> dict[str, Any]:
    """Median, min and max of repeated samples, with their request counts."""
    return {
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
        "requests": int(statistics.median(requests_sent)),
        "requests_per_sample": requests_sent,
        "samples": len(seconds),
        **extra,
    }


def tick(
    defs: Definitions,
    sensor_name: str,
    instance: DagsterInstance,
    cursor: str | None,
    timings: dict[str, float] | None = None,
) -> Any:
    """Evaluate a sensor once and store its asset events in the instance, as the sensor daemon does.

    ``timings`` (if given) accumulates ``evaluate_s`` (the sensor's own work, Airflow requests included)
    and ``store_s`` (Dagster writing the events to its storage).
    """
    sensor = defs.resolve_sensor_def(sensor_name)
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    started = time.perf_counter()
    data = sensor.evaluate_tick(context)
    evaluated = time.perf_counter()
    for event in data.asset_events:
        instance.report_runless_asset_event(event)
    if timings is not None:
        timings["evaluate_s"] = timings.get("evaluate_s", 0.0) + evaluated - started
        timings["store_s"] = timings.get("store_s", 0.0) + time.perf_counter() - evaluated
    return data


def resolve(defs: Definitions) -> Definitions:
    """Build the repository (asset graph) once, as a code server has before its first tick."""
    defs.get_repository_def()
    return defs


def count_events(instance: DagsterInstance) -> dict[str, int]:
    """Asset materializations and observations stored in the Dagster instance."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "use fetch_materializations": that API needs one asset key
        return {
            name: len(instance.get_event_records(EventRecordsFilter(event_type=event_type), limit=10**7))
            for name, event_type in (
                ("materializations", DagsterEventType.ASSET_MATERIALIZATION),
                ("observations", DagsterEventType.ASSET_OBSERVATION),
            )
        }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def catch_up(
    defs: Definitions,
    sensor_name: str,
    instance: DagsterInstance,
    cursor: str,
    caught_up: Callable[[str], bool],
    counter: RequestCounter,
    expected: dict[str, int],
    max_ticks: int = 1000,
) -> tuple[dict[str, Any], str]:
    """Scenario 3, the same for both packages: tick from ``cursor`` until ``caught_up(cursor)``, storing
    the events; returns the numbers (events stored against the ground truth, throughput) and the cursor."""
    ticks = 0
    timings: dict[str, float] = {}
    before = counter.count
    started = time.perf_counter()
    while ticks < max_ticks:
        cursor = tick(defs, sensor_name, instance, cursor, timings).cursor
        ticks += 1
        if caught_up(cursor):
            break
    seconds = time.perf_counter() - started
    events = count_events(instance)
    stored = sum(events.values())
    result = {
        "ticks": ticks,
        "requests": counter.count - before,
        "wall_s": round(seconds, 2),
        "events": events,
        "expected_events": expected,
        "events_match_ground_truth": events == expected,
        "sensor_evaluate_s": round(timings.get("evaluate_s", 0.0), 2),
        "dagster_store_s": round(timings.get("store_s", 0.0), 2),
        "events_per_s_sensor_only": round(stored / max(timings.get("evaluate_s", 0.0), 1e-9), 1),
        "events_per_s": round(stored / seconds, 1),
    }
    return result, cursor
