"""Measurement helpers shared by our scenarios and dagster-airlift's (stdlib, requests and dagster only,
so that both virtual environments can import it)."""

from __future__ import annotations

import resource
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

import requests
import urllib3.connectionpool
from dagster import DagsterEventType, DagsterInstance, Definitions, EventRecordsFilter, build_sensor_context

# Each answer of dagster-airlift's side-by-side server (``benchmarks.reference --serve``) is one stdout line
# starting with this marker (Dagster may print too).
TICKER_MARK = "IDLE_TICK "


class RequestCounter:
    """Counts every HTTP request sent through ``requests`` in this process, retries included, and logs each
    as ``"METHOD /path"`` (``sent``) so a scenario can say which requests it made.

    The hook sits on urllib3's connection pool, below ``requests``' adapter: urllib3 sends each retry
    from there (``urlopen`` calls itself), so a retried request is counted once per attempt.
    """

    def __init__(self) -> None:
        self.sent: list[str] = []
        # Each request as sent: (method, path with its query, body text or None), to replay it.
        self.details: list[tuple[str, str, Optional[str]]] = []
        # Seconds spent inside urllib3 (connect, send, the server's work, reading the answer).
        self.http_s = 0.0
        original = urllib3.connectionpool.HTTPConnectionPool.urlopen
        counter = self
        depth = [0]

        def counting_urlopen(pool: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            counter.sent.append(f"{method} {urlsplit(url).path}")
            body = kwargs.get("body")
            counter.details.append((method, url, body.decode() if isinstance(body, bytes) else body))
            depth[0] += 1
            started = time.perf_counter()
            try:
                return original(pool, method, url, *args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:  # a retry calls urlopen from inside urlopen: time the outer call only
                    counter.http_s += time.perf_counter() - started

        urllib3.connectionpool.HTTPConnectionPool.urlopen = counting_urlopen  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        """Requests sent since this counter was made."""
        return len(self.sent)


def measure(fn: Callable[[], Any], counter: RequestCounter) -> tuple[Any, float, int]:
    """Call ``fn``; return its result, the wall time in seconds and the HTTP requests it sent."""
    before = counter.count
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started, counter.count - before


def timed_tick(
    defs: Definitions, sensor_name: str, instance: DagsterInstance, cursor: str, counter: RequestCounter
) -> tuple[Any, dict[str, Any]]:
    """One tick (as :func:`tick`), split into wall time, time inside HTTP requests and the rest (the
    client: sensor, cursor, parsing, Dagster's sensor machinery); with the requests it sent."""
    before, http_before = counter.count, counter.http_s
    started = time.perf_counter()
    data = tick(defs, sensor_name, instance, cursor)
    wall = time.perf_counter() - started
    http = counter.http_s - http_before
    return data, {
        "wall_s": wall,
        "http_s": http,
        "client_s": wall - http,
        "requests": counter.count - before,
        "sent": counter.details[before:],
        "events": len(data.asset_events),
    }


def replay_times(
    base_url: str,
    variants: Mapping[str, Callable[[], requests.Session]],
    sent: Mapping[str, Any],
    rounds: int,
) -> dict[str, Any]:
    """Server time of recorded requests, each replayed with plain ``requests`` from a fresh session
    (``variants``: name -> session factory; ``sent``: name -> (method, path with query, body)), the
    variants alternating round by round so that the machine's load hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, session_for in variants.items():
            method, path, body = sent[name]
            with session_for() as session:
                headers = {"Content-Type": "application/json"} if body else None
                started = time.perf_counter()
                response = session.request(method, base_url + path, data=body, headers=headers, timeout=60)
                samples[name].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"replaying {name}: {method} {path} answered {response.status_code}")
    return {
        name: {"request": request_text(*sent[name]), **milliseconds(values)}
        for name, values in samples.items()
    }


def request_text(method: str, path: str, body: Optional[str], limit: int = 240) -> str:
    """One request as ``METHOD path?query body``, the body cut at ``limit`` characters (its length said)."""
    if not body:
        return f"{method} {path}"
    shown = body if len(body) <= limit else f"{body[:limit]}... ({len(body)} characters)"
    return f"{method} {path} {shown}"


def milliseconds(seconds: list[float]) -> dict[str, Any]:
    """Median, min and max of samples in milliseconds."""
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "min_ms": round(min(seconds) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "samples": len(seconds),
    }


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
    return {kind: len(records) for kind, records in _event_records(instance).items()}


def _event_records(instance: DagsterInstance) -> dict[str, list[Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "use fetch_materializations": that API needs one asset key
        return {
            name: list(instance.get_event_records(EventRecordsFilter(event_type=event_type), limit=10**7))
            for name, event_type in (
                ("materializations", DagsterEventType.ASSET_MATERIALIZATION),
                ("observations", DagsterEventType.ASSET_OBSERVATION),
            )
        }


# One asset event, identified by what happened in Airflow:
# (kind, asset key path, dag_id, run_id, task_id or None for a DAG-run event, partition or None).
Identity = tuple[str, tuple[str, ...], str, str, Optional[str], Optional[str]]
# Given an event's asset key path and metadata: its (dag_id, run_id, task_id). Each package writes
# different metadata, so each benchmark module passes its own.
Describe = Callable[[tuple[str, ...], Mapping[str, Any]], tuple[str, str, Optional[str]]]

# What Airflow's database says happened, one category per kind of Airflow record (see truth_identities).
RUN_SUCCEEDED = "successful run: DAG asset materialization"
RUN_FAILED = "failed run: DAG asset observation"
TASK_SUCCEEDED_RUN_SUCCEEDED = "mapped task succeeded in a successful run: task asset materialization"
TASK_SUCCEEDED_RUN_FAILED = "mapped task succeeded in a failed run: task asset materialization"
TASK_FAILED = "mapped task failed: task asset observation"
OTHER_STATE = "run or mapped task in another state: no event"


def mapped_asset_key(dag_id: str) -> tuple[str, ...]:
    """The asset both packages map to the mapped task of a mapped benchmark DAG."""
    return (f"{dag_id}_out",)


def dag_asset_key(instance_name: str, dag_id: str) -> tuple[str, ...]:
    """The DAG asset key of both packages for the benchmark DAG ids (no character needs cleaning)."""
    return (instance_name, "dag", dag_id)


def truth_identities(truth: Mapping[str, Any], instance_name: str) -> dict[str, list[Identity]]:
    """Every asset event that Airflow's database (the seed's ``run_rows`` and ``mapped_task_rows``)
    calls for, by category: a finished run is an event of its DAG asset, a finished mapped task an event
    of its asset; success is a materialization, failure an observation. No partitions in the benchmark."""
    categories: dict[str, list[Identity]] = {
        name: []
        for name in (
            RUN_SUCCEEDED,
            RUN_FAILED,
            TASK_SUCCEEDED_RUN_SUCCEEDED,
            TASK_SUCCEEDED_RUN_FAILED,
            TASK_FAILED,
            OTHER_STATE,
        )
    }
    for dag_id, run_id, state in truth["run_rows"]:
        key = dag_asset_key(instance_name, dag_id)
        if state == "success":
            categories[RUN_SUCCEEDED].append(("materialization", key, dag_id, run_id, None, None))
        elif state == "failed":
            categories[RUN_FAILED].append(("observation", key, dag_id, run_id, None, None))
        else:
            categories[OTHER_STATE].append(("none", key, dag_id, run_id, None, None))
    for dag_id, run_id, task_id, state, run_state in truth["mapped_task_rows"]:
        key = mapped_asset_key(dag_id)
        if state == "success":
            category = TASK_SUCCEEDED_RUN_SUCCEEDED if run_state == "success" else TASK_SUCCEEDED_RUN_FAILED
            categories[category].append(("materialization", key, dag_id, run_id, task_id, None))
        elif state == "failed":
            categories[TASK_FAILED].append(("observation", key, dag_id, run_id, task_id, None))
        else:
            categories[OTHER_STATE].append(("none", key, dag_id, run_id, task_id, None))
    return categories


def stored_identities(instance: DagsterInstance, describe: Describe) -> Counter[Identity]:
    """The identity of every asset event stored in the instance, counted (a count > 1 is a duplicate)."""
    stored: Counter[Identity] = Counter()
    for name, records in _event_records(instance).items():
        kind = name[: -len("s")]
        for record in records:
            entry = record.event_log_entry
            event = entry.asset_materialization if kind == "materialization" else entry.asset_observation
            path = tuple(event.asset_key.path)
            dag_id, run_id, task_id = describe(path, event.metadata)
            stored[(kind, path, dag_id, run_id, task_id, event.partition)] += 1
    return stored


def _examples(identities: Iterable[Identity], limit: int = 5) -> list[list[Any]]:
    return [[kind, "/".join(key), *rest] for kind, key, *rest in sorted(identities, key=str)[:limit]]


def identity_check(
    stored: Counter[Identity],
    truth_by_category: Mapping[str, list[Identity]],
    expected_categories: Iterable[str],
) -> dict[str, Any]:
    """Compare stored events with the expected ones identity by identity (not totals: a lost run and a
    duplicated run do not cancel out).

    ``expected_categories``: the categories of Airflow records this package is expected to turn into
    events. ``lost``: expected identities never stored; ``duplicated``: extra copies of a stored
    identity; ``unexpected``: stored identities that are not expected. ``by_category`` counts, for every
    category of Airflow's database (expected or not), how many of its identities were stored: what a
    package does not emit shows up there as measured numbers.
    """
    expected_categories = list(expected_categories)
    expected: Counter[Identity] = Counter(
        identity for name in expected_categories for identity in truth_by_category[name]
    )
    lost = expected - stored
    unexpected = {identity for identity in stored if identity not in expected}
    duplicated = {identity: count - 1 for identity, count in stored.items() if count > 1}
    truth_keys = {identity for identities in truth_by_category.values() for identity in identities}
    return {
        "expected_categories": expected_categories,
        "expected": sum(expected.values()),
        "stored": sum(stored.values()),
        "lost": sum(lost.values()),
        "duplicated": sum(duplicated.values()),
        "unexpected": len(unexpected),
        "equal": not lost and not duplicated and not unexpected,
        "examples": {
            "lost": _examples(lost),
            "duplicated": _examples(duplicated),
            "unexpected": _examples(unexpected),
        },
        "by_category": {
            name: {
                "in_airflow": len(identities),
                "expected": name in expected_categories,
                "stored": sum(1 for identity in identities if stored[identity]),
            }
            for name, identities in truth_by_category.items()
        },
        "stored_outside_airflow_truth": sum(1 for identity in stored if identity not in truth_keys),
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
    check: Callable[[DagsterInstance], dict[str, Any]],
    max_ticks: int = 1000,
) -> tuple[dict[str, Any], str]:
    """Scenario 3, the same for both packages: tick from ``cursor`` until ``caught_up(cursor)``, storing
    the events; returns the numbers (throughput, ``check(instance)``: the identity check of the stored
    events) and the cursor. ``caught_up`` in the result is False when ``max_ticks`` ended the loop."""
    ticks = 0
    timings: dict[str, float] = {}
    tick_seconds: list[float] = []
    before = counter.count
    started = time.perf_counter()
    done = False
    while ticks < max_ticks and not done:
        evaluated_before = timings.get("evaluate_s", 0.0)
        cursor = tick(defs, sensor_name, instance, cursor, timings).cursor
        tick_seconds.append(round(timings["evaluate_s"] - evaluated_before, 2))
        ticks += 1
        done = caught_up(cursor)
    seconds = time.perf_counter() - started
    events = count_events(instance)
    stored = sum(events.values())
    result = {
        "caught_up": done,
        "ticks": ticks,
        "requests": counter.count - before,
        "wall_s": round(seconds, 2),
        "events": events,
        "identity_check": check(instance),
        "sensor_evaluate_s": round(timings.get("evaluate_s", 0.0), 2),
        # Each tick's sensor evaluation: under the sensor daemon, one evaluation must end within the
        # sensor gRPC timeout (60 s unless DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS says otherwise).
        "sensor_evaluate_s_per_tick": tick_seconds,
        "dagster_store_s": round(timings.get("store_s", 0.0), 2),
        "events_per_s_sensor_only": round(stored / max(timings.get("evaluate_s", 0.0), 1e-9), 1),
        "events_per_s": round(stored / seconds, 1),
    }
    return result, cursor
