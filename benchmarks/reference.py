"""Scenarios 1-4 and 7 with dagster-airlift 0.29.27 (run in ``.venv-bench-ref``; Airflow 2 only).

    .venv-bench-ref/bin/python -m benchmarks.reference --url http://127.0.0.1:8080 --truth truth.json \
        --repeats 5 --out reference.json

Same measurements as ``benchmarks.ours`` (same request hook, same tick-and-store loop); imports
nothing from airlift_components.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import AssetSpec, DagsterInstance, Definitions
from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext, DefinitionsLoadType
from dagster._core.definitions.metadata.metadata_value import CodeLocationReconstructionMetadataValue
from dagster._core.definitions.repository_definition.repository_definition import RepositoryLoadData
from dagster._serdes import deserialize_value, serialize_value
from dagster_airlift.core import (
    AirflowBasicAuthBackend,
    AirflowInstance,
    assets_with_task_mappings,
    build_defs_from_airflow_instance,
)
from dagster_airlift.core.sensor.sensor_builder import AirflowPollingSensorCursor

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
SENSOR = f"{NAME}__airflow_dag_status_sensor"
USERNAME = PASSWORD = "admin"


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
            dag_id=dag_id, task_mappings={truth["mapped_task_id"]: [AssetSpec(f"{dag_id}_out")]}
        )
    ]
    return build_defs_from_airflow_instance(
        airflow_instance=instance_for(url), defs=Definitions(assets=mapped)
    )


def expected_events(truth: dict[str, Any]) -> dict[str, int]:
    """dagster-airlift materializes successful runs and every successful mapped task (in any run)."""
    return {
        "materializations": truth["runs_by_state"].get("success", 0)
        + sum(truth["mapped_successes_by_run_state"].values()),
        "observations": 0,
    }


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
    return summary([s[1] for s in samples], [s[2] for s in samples])


def scenario_catch_up(
    truth: dict[str, Any], counter: RequestCounter, instance: DagsterInstance, defs: Definitions
) -> tuple[dict[str, Any], str]:
    """3. Tick from the start of the history until a tick completes its range."""
    start = datetime.fromisoformat(truth["history_start"]) - timedelta(minutes=10)
    cursor = serialize_value(AirflowPollingSensorCursor(end_date_gte=start.timestamp()))

    def caught_up(text: str) -> bool:
        return deserialize_value(text, AirflowPollingSensorCursor).end_date_lte is None

    return catch_up(defs, SENSOR, instance, cursor, caught_up, counter, expected_events(truth))


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


def main() -> None:
    """Run the scenarios and print/write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True)
    parser.add_argument("--latency-samples", type=int, default=0, help="not measured for dagster-airlift")
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    counter = RequestCounter()
    result: dict[str, Any] = {"implementation": "dagster-airlift 0.29.27"}
    samples = [measure(lambda: load(args.url, truth), counter) for _ in range(args.repeats)]
    result["uncached_defs_load"] = summary([s[1] for s in samples], [s[2] for s in samples])
    result["cached_load"] = cached_load(args.url, truth, counter, args.repeats)
    defs = resolve(load(args.url, truth))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dagster_home").mkdir()
        with DagsterInstance.local_temp(str(Path(tmp) / "dagster_home")) as instance:
            result["catch_up"], cursor = scenario_catch_up(truth, counter, instance, defs)
            result["peak_rss_mb_scenarios_1_3"] = peak_rss_mb()
            result["idle_tick"] = idle_tick(defs, instance, cursor, counter, args.repeats)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
