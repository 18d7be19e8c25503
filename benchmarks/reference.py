"""Scenarios 1-4 and 7 with dagster-airlift 0.29.27 (run in ``.venv-bench-ref``; Airflow 2 only).

    .venv-bench-ref/bin/python -m benchmarks.reference --url http://127.0.0.1:8080 --truth truth.json \
        --repeats 5 --out reference.json

Same measurements as ``benchmarks.ours`` (same request hook, same tick-and-store loop, same identity
check); imports nothing from airlift_components.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import AssetSpec, DagsterInstance, Definitions
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.metadata.metadata_value import CodeLocationReconstructionMetadataValue
from dagster._core.definitions.repository_definition.repository_definition import RepositoryLoadData
from dagster._serdes import deserialize_value, serialize_value
from dagster.components.core.component_tree import ComponentTree
from dagster_airlift.core import (
    AirflowBasicAuthBackend,
    AirflowInstance,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from dagster_airlift.core.components.airflow_instance.component import AirflowInstanceComponent
from dagster_airlift.core.sensor.sensor_builder import AirflowPollingSensorCursor

from benchmarks.harness import (
    RUN_SUCCEEDED,
    TASK_SUCCEEDED_RUN_SUCCEEDED,
    TICKER_MARK,
    RequestCounter,
    catch_up,
    dag_asset_key,
    identity_check,
    mapped_asset_key,
    measure,
    peak_rss_mb,
    resolve,
    stored_identities,
    summary,
    tick,
    timed_tick,
    truth_identities,
)
from benchmarks.machine import machine_facts

NAME = "bench"
SENSOR = f"{NAME}__airflow_dag_status_sensor"
USERNAME = PASSWORD = "admin"
PASSWORD_ENV = "AIRLIFT_BENCH_REF_AIRFLOW_PASSWORD"
# What dagster-airlift 0.29.27 is expected to emit, from its source: its sensor lists DAG runs with
# `states=["success"]` only (AirflowInstance.get_dag_runs_batch) and, per such run, the successful task
# instances of mapped tasks; every event is a materialization. So: successful runs, and mapped tasks
# that succeeded in a successful run. The identity check's by_category measures it.
EMITS = (RUN_SUCCEEDED, TASK_SUCCEEDED_RUN_SUCCEEDED)
# Its events carry the Airflow run id in their metadata, not the DAG or task id.
RUN_ID_METADATA_KEY = "Airflow Run ID"


def instance_for(url: str) -> AirflowInstance:
    """A fresh dagster-airlift AirflowInstance (new session) for the benchmark Airflow."""
    return AirflowInstance(
        auth_backend=AirflowBasicAuthBackend(webserver_url=url, username=USERNAME, password=PASSWORD),
        name=NAME,
    )


def load(url: str, truth: dict[str, Any]) -> Definitions:
    """dagster-airlift's definitions with the same task mappings as ours."""
    mapped = [
        asset
        for dag_id in truth["mapped_dag_ids"]
        for asset in assets_with_task_mappings(
            dag_id=dag_id,
            task_mappings={truth["mapped_task_id"]: [AssetSpec(list(mapped_asset_key(dag_id)))]},
        )
    ]
    return build_defs_from_airflow_instance(
        airflow_instance=instance_for(url), defs=Definitions(assets=mapped)
    )


def check_identities(truth: dict[str, Any]) -> Callable[[DagsterInstance], dict[str, Any]]:
    """The identity check of the stored events. dagster-airlift's events name the Airflow run in their
    metadata; the DAG (and task) is the one the asset key belongs to: each benchmark asset key belongs
    to exactly one DAG (its DAG asset) or one mapped task (``<dag_id>_out``)."""
    owners: dict[tuple[str, ...], tuple[str, str | None]] = {}
    for dag_id, _, _ in truth["run_rows"]:
        owners[dag_asset_key(NAME, dag_id)] = (dag_id, None)
    for dag_id in truth["mapped_dag_ids"]:
        owners[mapped_asset_key(dag_id)] = (dag_id, truth["mapped_task_id"])

    def describe(path: tuple[str, ...], metadata: Mapping[str, Any]) -> tuple[str, str, str | None]:
        dag_id, task_id = owners.get(path, ("?", None))
        return dag_id, metadata[RUN_ID_METADATA_KEY].value, task_id

    return lambda instance: identity_check(
        stored_identities(instance, describe), truth_identities(truth, NAME), EMITS
    )


def cached_load(url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int) -> dict[str, Any]:
    """2. A reconstruction load (what run workers do) from the state of one initial load."""
    initial = DefinitionsLoadContext(load_type=DefinitionsLoadType.INITIALIZATION)
    with DefinitionsLoadContext.scoped(initial):
        load(url, truth)
    pending: Mapping[str, Any] = initial.get_pending_reconstruction_metadata()
    data = RepositoryLoadData(
        reconstruction_metadata={k: CodeLocationReconstructionMetadataValue(v) for k, v in pending.items()}
    )

    def reconstruct() -> Definitions:
        with DefinitionsLoadContext.scoped(DefinitionsLoadContext(DefinitionsLoadType.RECONSTRUCTION, data)):
            return load(url, truth)

    samples = [measure(reconstruct, counter) for _ in range(repeats)]
    return summary(
        [s[1] for s in samples],
        [s[2] for s in samples],
        mechanism="Python API: reconstruction metadata of an initial load (DefinitionsLoadType.RECONSTRUCTION)",
    )


def component(url: str, truth: dict[str, Any]) -> AirflowInstanceComponent:
    """dagster-airlift's YAML component (as its ``defs.yaml`` would declare it, the password from an env
    var as its docs show) with the same task mappings as ours."""
    os.environ[PASSWORD_ENV] = PASSWORD
    return AirflowInstanceComponent.resolve_from_dict(
        {
            "name": NAME,
            "auth": {
                "type": "basic_auth",
                "webserver_url": url,
                "username": USERNAME,
                "password": "{{ env." + PASSWORD_ENV + " }}",
            },
            "mappings": [
                {
                    "dag_id": dag_id,
                    "task_mappings": [
                        {
                            "task_id": truth["mapped_task_id"],
                            "assets": [{"spec": {"key": "/".join(mapped_asset_key(dag_id))}}],
                        }
                    ],
                }
                for dag_id in truth["mapped_dag_ids"]
            ],
        }
    )


def cached_load_component(
    url: str, truth: dict[str, Any], counter: RequestCounter, repeats: int, state: Path
) -> dict[str, Any]:
    """2a. The component's definitions from its defs state (written once, as ``dg utils
    refresh-defs-state`` does; not timed), each load building from that state alone: what
    ``benchmarks.ours`` measures for our component."""
    _, write_s, write_requests = measure(
        lambda: asyncio.run(component(url, truth).write_state_to_path(state)), counter
    )
    # Its build_defs_from_state also loads the components in its folder (the test tree's folder is the
    # working directory): an empty folder, as a defs.yaml alone in its own would be.
    folder = state.parent / "component_folder"
    folder.mkdir()
    before = Path.cwd()
    os.chdir(folder)
    try:
        context = ComponentTree.for_test().load_context

        def load_from_state() -> Definitions:
            return component(url, truth).build_defs_from_state(context, state)

        samples = [measure(load_from_state, counter) for _ in range(repeats)]
    finally:
        os.chdir(before)
    return summary(
        [s[1] for s in samples],
        [s[2] for s in samples],
        mechanism="YAML component: defs state written once (write_state_to_path), loads from it "
        "(build_defs_from_state)",
        state_write_s=round(write_s, 4),
        state_write_requests=write_requests,
    )


def scenario_catch_up(
    truth: dict[str, Any], counter: RequestCounter, instance: DagsterInstance, defs: Definitions
) -> tuple[dict[str, Any], str]:
    """3. Tick from the start of the history until a tick completes its range."""
    start = datetime.fromisoformat(truth["history_start"]) - timedelta(minutes=10)
    cursor = serialize_value(AirflowPollingSensorCursor(end_date_gte=start.timestamp()))

    def caught_up(text: str) -> bool:
        return deserialize_value(text, AirflowPollingSensorCursor).end_date_lte is None

    return catch_up(defs, SENSOR, instance, cursor, caught_up, counter, check_identities(truth))


def idle_tick(
    defs: Definitions, instance: DagsterInstance, cursor: str, counter: RequestCounter, repeats: int
) -> dict[str, Any]:
    """4. Ticks when nothing changed."""
    samples = []
    emitted = 0
    for _ in range(repeats):
        data, seconds, sent = measure(lambda c=cursor: tick(defs, SENSOR, instance, c), counter)
        emitted += len(data.asset_events)
        cursor = data.cursor
        samples.append((seconds, sent))
    return summary([s[0] for s in samples], [s[1] for s in samples], events_emitted=emitted)


def serve_side_by_side(url: str, truth: dict[str, Any]) -> None:
    """Serve the interleaved measurements of ``benchmarks.ours``: after one definitions load, answer
    ``ready``; then per stdin line ``tick`` one idle tick, answered with its timings as JSON
    (``benchmarks.harness.timed_tick``), and per ``load`` one uncached definitions load, answered with
    its wall time and requests; stop at anything else or end of input. The cursor starts at now:
    dagster-airlift's cursor is only a time window, so this is its idle tick after any catch-up."""
    counter = RequestCounter()
    defs = resolve(load(url, truth))
    cursor = serialize_value(AirflowPollingSensorCursor(end_date_gte=datetime.now().timestamp()))
    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.local_temp(tmp) as instance:
        print(TICKER_MARK + json.dumps("ready"), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "tick":
                data, timings = timed_tick(defs, SENSOR, instance, cursor, counter)
                cursor = data.cursor
                print(TICKER_MARK + json.dumps(timings), flush=True)
            elif command == "load":
                _, seconds, sent = measure(lambda: load(url, truth), counter)
                print(TICKER_MARK + json.dumps({"wall_s": seconds, "requests": sent}), flush=True)
            else:
                break


def main() -> None:
    """Run the scenarios and print/write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    parser.add_argument("--latency-samples", type=int, default=0, help="not measured for dagster-airlift")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve idle ticks and uncached loads on stdin/stdout (benchmarks.ours)",
    )
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    if args.serve:
        serve_side_by_side(args.url, truth)
        return
    if args.out is None:
        parser.error("--out is required")
    counter = RequestCounter()
    result: dict[str, Any] = {"implementation": "dagster-airlift 0.29.27"}

    def save() -> None:
        Path(args.out).write_text(json.dumps(result, indent=2))

    def with_machine(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        before = machine_facts()
        row = fn()
        return {**row, "machine": {"before": before, "after": machine_facts()}}

    def uncached() -> dict[str, Any]:
        samples = [measure(lambda: load(args.url, truth), counter) for _ in range(args.repeats)]
        return summary([s[1] for s in samples], [s[2] for s in samples])

    result["uncached_defs_load"] = with_machine(uncached)
    result["cached_load_reconstruction"] = with_machine(
        lambda: cached_load(args.url, truth, counter, args.repeats)
    )
    with tempfile.TemporaryDirectory() as tmp:
        result["cached_load_component_defs_state"] = with_machine(
            lambda: cached_load_component(args.url, truth, counter, args.repeats, Path(tmp) / "state")
        )
    save()
    defs = resolve(load(args.url, truth))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dagster_home").mkdir()
        with DagsterInstance.local_temp(str(Path(tmp) / "dagster_home")) as instance:
            before = machine_facts()
            result["catch_up"], cursor = scenario_catch_up(truth, counter, instance, defs)
            result["catch_up"]["machine"] = {"before": before, "after": machine_facts()}
            result["peak_rss_mb_scenarios_1_3"] = peak_rss_mb()
            save()
            result["idle_tick"] = with_machine(
                lambda: idle_tick(defs, instance, cursor, counter, args.repeats)
            )
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
