"""Scenarios 1-5 and 7 with airlift_components against a seeded benchmark Airflow (run in ``.venv``).

    python -m benchmarks.ours --url http://127.0.0.1:8080 --truth truth.json --repeats 5 --out ours.json
    python -m benchmarks.ours --url ... --truth truth.json --only latency --latency-samples 20 --out l.json
    python -m benchmarks.ours --url ... --truth truth.json --only catch_up --out c.json

Prints and writes one JSON object. ``benchmarks.run`` starts the Airflow, seeds it and calls this: the
scenarios 1-4 first, the latency scenario (which triggers runs of ``bench_latency``) only after every
package's catch-up, so each catch-up sees the same Airflow history.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
from dagster import AssetKey, AssetSpec, DagsterInstance, Definitions
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.repository_definition import RepositoryLoadData
from dagster.components.core.component_tree import ComponentTree

from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    SensorCursor,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
    fetch_snapshot,
    sensor_name,
)
from airlift_components.core.naming import reconstruction_key
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME
from benchmarks.harness import (
    RUN_FAILED,
    RUN_SUCCEEDED,
    TASK_FAILED,
    TASK_SUCCEEDED_RUN_FAILED,
    TASK_SUCCEEDED_RUN_SUCCEEDED,
    TICKER_MARK,
    RequestCounter,
    catch_up,
    identity_check,
    mapped_asset_key,
    measure,
    milliseconds,
    peak_rss_mb,
    replay_times,
    request_text,
    resolve,
    stored_identities,
    summary,
    tick,
    timed_tick,
    truth_identities,
)
from benchmarks.machine import machine_facts

NAME = "bench"
LATENCY_DAG = "bench_latency"
LATENCY_ASSET = AssetKey("bench_latency_out")


def instance_for(url: str) -> AirflowInstance:
    """A fresh AirflowInstance (new client, nothing cached) for the benchmark Airflow."""
    return AirflowInstance(auth_backend=BasicAuthBackend(url, ADMIN_USERNAME, ADMIN_PASSWORD), name=NAME)


PASSWORD_ENV = "AIRLIFT_BENCH_AIRFLOW_PASSWORD"
# Our rule, as the README states it: a finished run is an event of its DAG asset, a finished mapped
# task an event of its assets (as soon as the task ends, whatever its run does); success ->
# materialization, failure -> observation.
EMITS = (RUN_SUCCEEDED, RUN_FAILED, TASK_SUCCEEDED_RUN_SUCCEEDED, TASK_SUCCEEDED_RUN_FAILED, TASK_FAILED)


def mapped_assets(truth: dict[str, Any]) -> list[Any]:
    """One asset mapped to the first task of each mapped DAG."""
    return [
        asset
        for dag_id in truth["mapped_dag_ids"]
        for asset in assets_with_task_mappings(
            dag_id, {truth["mapped_task_id"]: [AssetSpec(list(mapped_asset_key(dag_id)))]}
        )
    ]


def describe(path: tuple[str, ...], metadata: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(dag_id, run_id, task_id) of one of our events, read from the metadata it carries."""
    task = metadata.get("airflow/task_id")
    return metadata["airflow/dag_id"].value, metadata["airflow/run_id"].value, task.value if task else None


def check_identities(truth: dict[str, Any]) -> Callable[[DagsterInstance], dict[str, Any]]:
    """The identity check of the stored events against everything Airflow's database calls for."""
    return lambda instance: identity_check(
        stored_identities(instance, describe), truth_identities(truth, NAME), EMITS
    )


def with_machine(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one scenario; its result with the machine's load before and after."""
    before = machine_facts()
    result = fn()
    return {**result, "machine": {"before": before, "after": machine_facts()}}


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


def component(url: str, truth: dict[str, Any]) -> AirflowInstanceComponent:
    """The YAML component (as ``defs.yaml`` would declare it) with the same task mappings."""
    os.environ[PASSWORD_ENV] = ADMIN_PASSWORD
    return AirflowInstanceComponent.resolve_from_dict(
        {
            "name": NAME,
            "auth": {
                "type": "basic",
                "webserver_url": url,
                "username": ADMIN_USERNAME,
                "password_env": PASSWORD_ENV,
            },
            "mappings": [
                {
                    "dag_id": dag_id,
                    "task_mappings": [
                        {
                            "task_id": truth["mapped_task_id"],
                            "assets": [{"key": "/".join(mapped_asset_key(dag_id))}],
                        }
                    ],
                }
                for dag_id in truth["mapped_dag_ids"]
            ],
        }
    )


def scenario_cached_load_component(
    url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int, state: Path
) -> dict[str, Any]:
    """2a. The component's definitions from its defs state (written once, as ``dg utils
    refresh-defs-state`` does; not timed), each load building from that state alone."""
    _, write_s, write_requests = measure(lambda: component(url, truth).write_state_to_path(state), counter)
    context = ComponentTree.for_test().load_context

    def load() -> Definitions:
        return component(url, truth).build_defs_from_state(context, state)

    samples = [measure(load, counter) for _ in range(repeats)]
    return summary(
        [s[1] for s in samples],
        [s[2] for s in samples],
        mechanism="YAML component: defs state written once (write_state_to_path), loads from it "
        "(build_defs_from_state)",
        state_write_s=round(write_s, 4),
        state_write_requests=write_requests,
    )


def scenario_cached_load_reconstruction(
    url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int
) -> dict[str, Any]:
    """2b. The Python API's reconstruction load (what a run worker does) from the reconstruction
    metadata of one initial load, the same mechanism as dagster-airlift's cached load."""
    initial = build_defs_from_airflow_instance(
        airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
    )
    data = RepositoryLoadData(cacheable_asset_data={}, reconstruction_metadata=initial.metadata)
    stored = initial.metadata[reconstruction_key(NAME)].data

    def reconstruct() -> Definitions:
        context = DefinitionsLoadContext(
            load_type=DefinitionsLoadType.RECONSTRUCTION, repository_load_data=data
        )
        with DefinitionsLoadContext.scoped(context):
            defs = build_defs_from_airflow_instance(
                airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
            )
        if defs.metadata[reconstruction_key(NAME)].data != stored:
            raise RuntimeError("the reconstructed definitions do not carry the initial load's snapshot")
        return defs

    samples = [measure(reconstruct, counter) for _ in range(repeats)]
    return summary(
        [s[1] for s in samples],
        [s[2] for s in samples],
        mechanism="Python API: reconstruction metadata of an initial load (DefinitionsLoadType.RECONSTRUCTION)",
    )


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
    return catch_up(defs, sensor_name(NAME), instance, cursor, caught_up, counter, check_identities(truth))


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


REFERENCE_PYTHON = Path(__file__).resolve().parent.parent / ".venv-bench-ref" / "bin" / "python"


def scenario_idle_tick_profile(
    url: str,
    truth: dict[str, Any],
    defs: Definitions,
    instance: DagsterInstance,
    cursor: str,
    counter: RequestCounter,
    rounds: int = 15,
) -> dict[str, Any]:
    """4, profiled (Airflow 2, both packages): where an idle tick's time goes.

    Ticks alternate ours, theirs, ours, ... (theirs in a :func:`reference_server`),
    each split into time inside HTTP and the rest (client). Then the request each tick sent is replayed
    with plain ``requests`` from a fresh session, alternating: ours and theirs with basic auth, ours with
    the login cookie our sensor uses on Airflow 2, and Airflow's version endpoint (no auth, no database)
    as the floor of any request.
    """
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    with reference_server(url, truth) as ask:
        for _ in range(rounds):
            data, timings = timed_tick(defs, sensor_name(NAME), instance, cursor, counter)
            cursor = data.cursor
            ours.append(timings)
            theirs.append(ask("tick"))
    sent = {"ours_basic_auth": ours[-1]["sent"][-1], "theirs_basic_auth": theirs[-1]["sent"][-1]}
    sent["ours_login_cookie"] = sent["ours_basic_auth"]
    sent["floor_version_endpoint"] = ("GET", "/api/v1/version", None)
    backend = BasicAuthBackend(url, ADMIN_USERNAME, ADMIN_PASSWORD)
    cookie_session = backend.get_session()
    if not backend.start_login_session(cookie_session, "v1", 60.0, True):
        raise RuntimeError("the Airflow 2 login form did not give a session cookie")

    def basic() -> requests.Session:
        session = requests.Session()
        session.auth = (ADMIN_USERNAME, ADMIN_PASSWORD)
        return session

    def with_cookie() -> requests.Session:
        session = requests.Session()
        session.cookies.update(cookie_session.cookies)
        return session

    variants = {
        "ours_basic_auth": basic,
        "theirs_basic_auth": basic,
        "ours_login_cookie": with_cookie,
        "floor_version_endpoint": requests.Session,
    }

    def split(ticks: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "wall": milliseconds([t["wall_s"] for t in ticks]),
            "inside_http": milliseconds([t["http_s"] for t in ticks]),
            "client": milliseconds([t["client_s"] for t in ticks]),
            "requests_per_tick": [t["requests"] for t in ticks],
            "events": sum(t["events"] for t in ticks),
            "request": request_text(*ticks[-1]["sent"][-1]),
        }

    return {
        "note": "Idle ticks alternating ours/theirs on one Airflow 2 (each split into time inside HTTP "
        "and client time), then the request each sent replayed alternately with plain requests from a "
        "fresh session (server time, ms).",
        "ticks": {"ours": split(ours), "theirs": split(theirs)},
        "server_ms": replay_times(url, variants, sent, rounds),
    }


def defs_client_is_airflow2(url: str) -> bool:
    """Whether the benchmark Airflow speaks Airflow 2's API (dagster-airlift 0.29.27 runs on it only)."""
    return instance_for(url).client.api_version == "v1"


@contextmanager
def reference_server(url: str, truth: dict[str, Any]) -> Iterator[Callable[[str], Any]]:
    """dagster-airlift in its own venv and process (``benchmarks.reference --serve``), loaded and ready;
    yields ``ask(command)``: send ``tick`` or ``load``, get the measurement it answers."""
    with tempfile.TemporaryDirectory() as tmp:
        truth_path = Path(tmp) / "truth.json"
        truth_path.write_text(json.dumps({k: truth[k] for k in ("mapped_dag_ids", "mapped_task_id")}))
        command = [str(REFERENCE_PYTHON), "-m", "benchmarks.reference", "--serve"]
        command += ["--url", url, "--truth", str(truth_path)]
        server = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert server.stdin is not None and server.stdout is not None

        def answer() -> Any:
            for line in server.stdout:
                if line.startswith(TICKER_MARK):
                    return json.loads(line[len(TICKER_MARK) :])
            raise RuntimeError(f"the dagster-airlift server stopped (exit code {server.wait(timeout=60)})")

        def ask(command: str) -> Any:
            server.stdin.write(command + "\n")
            server.stdin.flush()
            return answer()

        try:
            answer()  # "ready"
            yield ask
        finally:
            server.stdin.close()
            server.wait(timeout=120)


def scenario_uncached_load_side_by_side(
    url: str, truth: dict[str, Any], counter: RequestCounter, rounds: int = 10
) -> dict[str, Any]:
    """1, side by side (Airflow 2, both packages): uncached definitions loads alternating ours, theirs,
    theirs, ours, ... (theirs in a :func:`reference_server`), so that the Airflow's and the machine's
    state hits both alike; each package's scenario 1 runs in its own process minutes apart."""
    ours: list[tuple[float, int]] = []
    theirs: list[tuple[float, int]] = []

    def load_ours() -> None:
        _, seconds, sent = measure(
            lambda: build_defs_from_airflow_instance(
                airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
            ),
            counter,
        )
        ours.append((seconds, sent))

    def load_theirs() -> None:
        answer = ask("load")
        theirs.append((answer["wall_s"], answer["requests"]))

    with reference_server(url, truth) as ask:
        for round_ in range(rounds):
            for load in (load_ours, load_theirs) if round_ % 2 == 0 else (load_theirs, load_ours):
                load()
    return {
        "note": "Uncached definitions loads (Python API) alternating ours/theirs on one Airflow 2, the order "
        "swapped every round.",
        "ours": summary([s[0] for s in ours], [s[1] for s in ours]),
        "theirs": summary([s[0] for s in theirs], [s[1] for s in theirs]),
    }


def scenario_latency(url: str, samples: int, counter: RequestCounter) -> dict[str, Any]:
    """5. Task end in Airflow -> materialization stored in Dagster, the sensor ticking every second.

    Requests per sample: those the sensor's ticks sent from the trigger until the event was stored
    (the benchmark's own trigger and task-instance lookup are not counted)."""
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
    requests_per_sample = []
    ticks_per_sample = []
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        cursor = SensorCursor.initial(datetime.now(timezone.utc), timedelta(0)).serialize()
        for _ in range(samples):
            run = client.trigger_dag_run(LATENCY_DAG)
            deadline = time.monotonic() + 300
            stored_at = None
            sensor_requests = ticks = 0
            while stored_at is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run {run.run_id} of {LATENCY_DAG} not materialized within 300 s")
                tick_started = time.monotonic()
                before = counter.count
                cursor = tick(defs, sensor_name(NAME), instance, cursor).cursor
                sensor_requests += counter.count - before
                ticks += 1
                event = instance.get_latest_materialization_event(LATENCY_ASSET)
                if (
                    event is not None
                    and event.asset_materialization.metadata["airflow/run_id"].value == run.run_id
                ):
                    stored_at = event.timestamp
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick_started)))
            (ti,) = client.list_task_instances(dag_ids=[LATENCY_DAG], run_ids=[run.run_id])
            latencies.append(stored_at - ti.end_date.timestamp())
            requests_per_sample.append(sensor_requests)
            ticks_per_sample.append(ticks)
    return summary(
        latencies,
        requests_per_sample,
        unit="seconds from task end to stored materialization; requests: the sensor's, trigger to stored",
        ticks_per_sample=ticks_per_sample,
    )


def run_scenarios(
    url: str,
    truth: dict[str, Any],
    repeats: int,
    latency_samples: int = 0,
    out: Path | None = None,
    only: str | None = None,
    profile_idle_tick: bool | None = None,
) -> dict[str, Any]:
    """Scenarios 1-4 and 7, or ``only`` one of "catch_up" (3 alone) and "latency" (5, ``latency_samples``).

    ``profile_idle_tick`` (default: on Airflow 2 when dagster-airlift's venv exists): scenario 4 profiled
    side by side with dagster-airlift (:func:`scenario_idle_tick_profile`), then scenario 1's uncached load
    alternating with dagster-airlift's (:func:`scenario_uncached_load_side_by_side`).

    With ``out``, the results so far are written there after each scenario (a late failure keeps them).
    Every scenario's result carries the machine's load before and after it.
    """
    counter = RequestCounter()
    result: dict[str, Any] = {"implementation": "airlift-components"}

    def save() -> None:
        if out is not None:
            out.write_text(json.dumps(result, indent=2))

    if only == "latency":
        try:
            result["latency"] = with_machine(lambda: scenario_latency(url, latency_samples, counter))
        except RuntimeError as exc:  # e.g. Airflow's scheduler died: say so in the results
            result["latency_error"] = str(exc)
        save()
        return result
    if only is None:
        before = machine_facts()
        result.update(scenario_refresh(url, truth, counter, repeats))
        result["machine_refresh"] = {"before": before, "after": machine_facts()}
        save()
    with tempfile.TemporaryDirectory() as tmp:
        if only is None:
            result["cached_load_component_defs_state"] = with_machine(
                lambda: scenario_cached_load_component(url, truth, counter, repeats, Path(tmp) / "state")
            )
            result["cached_load_reconstruction"] = with_machine(
                lambda: scenario_cached_load_reconstruction(url, truth, counter, repeats)
            )
            save()
        defs = resolve(
            build_defs_from_airflow_instance(
                airflow_instance=instance_for(url), defs=Definitions(assets=mapped_assets(truth))
            )
        )
        (Path(tmp) / "dagster_home").mkdir()
        with DagsterInstance.local_temp(str(Path(tmp) / "dagster_home")) as instance:
            before = machine_facts()
            result["catch_up"], cursor = scenario_catch_up(truth, counter, instance, defs)
            result["catch_up"]["machine"] = {"before": before, "after": machine_facts()}
            result["peak_rss_mb_scenarios_1_3"] = peak_rss_mb()
            save()
            if only is None:
                result["idle_tick"] = with_machine(
                    lambda: scenario_idle_tick(defs, instance, cursor, counter, repeats)
                )
                save()
            if only is None and profile_idle_tick is None:
                profile_idle_tick = REFERENCE_PYTHON.exists() and defs_client_is_airflow2(url)
            if only is None and profile_idle_tick:
                result["idle_tick_profile"] = with_machine(
                    lambda: scenario_idle_tick_profile(url, truth, defs, instance, cursor, counter)
                )
                save()
                result["uncached_defs_load_side_by_side"] = with_machine(
                    lambda: scenario_uncached_load_side_by_side(url, truth, counter)
                )
                save()
    return result


def main() -> None:
    """Run the scenarios and print/write the JSON result."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=0)
    parser.add_argument("--only", choices=["catch_up", "latency"], default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    result = run_scenarios(
        args.url, truth, args.repeats, args.latency_samples, out=Path(args.out), only=args.only
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
