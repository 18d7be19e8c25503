"""Run ``dagster dev`` for the demo and talk to it over GraphQL.

One :class:`DagsterDev` is one ``dagster dev`` process group (webserver, daemon, code server) with its
own ``DAGSTER_HOME``; :meth:`DagsterDev.stop` signals the whole group. The GraphQL helpers are the
handful of queries the demo and its tests need: location status and reload, asset materializations,
runs, sensors and launching a job.

Example::

    dagster = DagsterDev(REPO / ".venv/bin/dagster", defs_file, home, port=3000, env=env).start()
    dagster.wait_until_loaded()
    print(dagster.latest_materializations([("customers",)]))
    dagster.stop()
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from airlift_components.testing.local_airflow import stop_process_group

AssetKeyPath = tuple[str, ...]


class DagsterDevError(RuntimeError):
    """``dagster dev`` did not start, its code location failed to load, or a GraphQL call failed."""


@dataclass(frozen=True)
class Materialization:
    """The latest materialization of one asset as Dagster's GraphQL API returns it."""

    asset_key: AssetKeyPath
    run_id: str  # "" for runless events (what the Airflow sensor reports)
    timestamp: float  # seconds since the epoch
    partition: str | None
    metadata: dict[str, str] = field(default_factory=dict)  # label -> url/text/json, as strings


@dataclass(frozen=True)
class RunInfo:
    """A Dagster run's id, status and tags."""

    run_id: str
    status: str
    tags: dict[str, str]


_LOCATIONS = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation {
            repositories {
              name
              sensors { name sensorState { status } }
              schedules { name scheduleState { status } }
            }
          }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

_RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry { name loadStatus }
    ... on PythonError { message }
    ... on RepositoryLocationNotFound { message }
  }
}
"""

_ASSET_NODES = """
query {
  assetNodes {
    assetKey { path }
    metadataEntries {
      label
      __typename
      ... on JsonMetadataEntry { jsonString }
      ... on TextMetadataEntry { text }
    }
  }
}
"""

_MATERIALIZATIONS = """
query Latest($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(limit: 1) {
      runId
      timestamp
      partition
      metadataEntries {
        label
        __typename
        ... on UrlMetadataEntry { url }
        ... on TextMetadataEntry { text }
        ... on JsonMetadataEntry { jsonString }
      }
    }
  }
}
"""

_RUNS = """
query Runs($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""

_CHECK_EXECUTIONS = """
query Check($key: AssetKeyInput!, $name: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $name, limit: 1) { runId status timestamp }
}
"""

_START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) { __typename ... on PythonError { message } }
}
"""

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


class DagsterDev:
    """``dagster dev -f <defs_file>`` on 127.0.0.1, in its own process group.

    Args:
        dagster_bin: the ``dagster`` executable.
        defs_file: the Python file with the ``Definitions``.
        home: ``DAGSTER_HOME`` (created if missing).
        port: webserver port.
        env: the full environment of the process (``DAGSTER_HOME`` is added).
        working_directory: the directory imports resolve from.
        log_path: where the process's output goes.
    """

    def __init__(
        self,
        dagster_bin: str | os.PathLike[str],
        defs_file: str | os.PathLike[str],
        home: str | os.PathLike[str],
        *,
        port: int,
        env: Mapping[str, str],
        working_directory: str | os.PathLike[str],
        log_path: str | os.PathLike[str],
    ) -> None:
        self.dagster_bin = str(dagster_bin)
        self.defs_file = Path(defs_file)
        self.home = Path(home)
        self.port = port
        self.env = dict(env)
        self.working_directory = Path(working_directory)
        self.log_path = Path(log_path)
        self._process: subprocess.Popen[bytes] | None = None
        self._session = requests.Session()

    @property
    def url(self) -> str:
        """Base URL of the webserver."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DagsterDev:
        """Spawn ``dagster dev``; returns immediately (see :meth:`wait_until_loaded`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        # No telemetry; on a busy 2-core machine loading a stage (Airflow snapshot, dbt parse) can take
        # minutes, longer than the code server's default startup/reload timeouts.
        (self.home / "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\ncode_servers:\n  local_startup_timeout: 900\n  reload_timeout: 900\n"
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # kept open for the child's lifetime
        command = [
            self.dagster_bin,
            "dev",
            "-f",
            str(self.defs_file),
            "--working-directory",
            str(self.working_directory),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        self._process = subprocess.Popen(
            command,
            cwd=self.working_directory,
            env={**self.env, "DAGSTER_HOME": str(self.home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left."""
        process, self._process = self._process, None
        if process is not None:
            # Children (code server, daemon, run workers) may outlive the leader: the whole group goes.
            stop_process_group(process, grace)

    def check_alive(self) -> None:
        """Raise :class:`DagsterDevError` with the log tail if ``dagster dev`` has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise DagsterDevError(f"dagster dev exited with {self._process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of the process's output, for error messages."""
        if not self.log_path.exists():
            return "[no dagster log]"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------------ GraphQL

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60.0) -> Any:
        """POST one GraphQL query and return ``data``; raises :class:`DagsterDevError` on errors."""
        response = self._session.post(
            f"{self.url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=timeout
        )
        if response.status_code != 200:
            raise DagsterDevError(
                f"Dagster GraphQL at {self.url} answered {response.status_code}: {response.text[:500]}"
            )
        body = response.json()
        if body.get("errors"):
            raise DagsterDevError(f"Dagster GraphQL error: {json.dumps(body['errors'])[:1000]}")
        return body["data"]

    def locations(self) -> list[dict[str, Any]]:
        """The workspace's location entries (name, loadStatus, repositories or load error)."""
        workspace = self.graphql(_LOCATIONS)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise DagsterDevError(f"Dagster workspace error: {workspace.get('message')}")
        return workspace["locationEntries"]

    def wait_until_loaded(self, timeout: float = 300.0) -> list[dict[str, Any]]:
        """Block until the webserver answers and every code location is loaded; fail on a load error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise DagsterDevError(
                    f"dagster dev exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                entries = self.locations()
            except (requests.RequestException, ValueError, DagsterDevError):
                time.sleep(1)
                continue
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                for entry in entries:
                    loaded = entry["locationOrLoadError"] or {}
                    if loaded.get("__typename") == "PythonError":
                        raise DagsterDevError(
                            f"Code location {entry['name']} failed to load: {loaded['message']}\n"
                            + "".join(loaded.get("stack") or [])[-3000:]
                        )
                return entries
            time.sleep(1)
        raise DagsterDevError(
            f"dagster dev at {self.url} not loaded after {timeout:.0f}s:\n{self.log_tail()}"
        )

    def reload_locations(self, timeout: float = 300.0) -> None:
        """Reload every code location (the UI's "Reload") and wait until they are loaded again."""
        for entry in self.locations():
            result = self.graphql(_RELOAD, {"name": entry["name"]}, timeout=timeout)[
                "reloadRepositoryLocation"
            ]
            if result["__typename"] != "WorkspaceLocationEntry":
                raise DagsterDevError(f"Reloading {entry['name']} failed: {result.get('message')}")
        self.wait_until_loaded(timeout=timeout)

    def repositories(self) -> list[tuple[str, dict[str, Any]]]:
        """(location name, repository) pairs of every loaded location."""
        pairs = []
        for entry in self.locations():
            loaded = entry["locationOrLoadError"] or {}
            for repository in loaded.get("repositories") or ():
                pairs.append((entry["name"], repository))
        return pairs

    def ensure_sensors_running(self) -> list[str]:
        """Start every stopped sensor; return the names of all sensors."""
        names = []
        for location, repository in self.repositories():
            for sensor in repository["sensors"]:
                names.append(sensor["name"])
                if sensor["sensorState"]["status"] != "RUNNING":
                    selector = {
                        "repositoryLocationName": location,
                        "repositoryName": repository["name"],
                        "sensorName": sensor["name"],
                    }
                    self.graphql(_START_SENSOR, {"selector": selector})
        return names

    def asset_metadata(self) -> dict[AssetKeyPath, dict[str, str]]:
        """Every asset's key and definition metadata (label -> text or JSON string)."""
        nodes = self.graphql(_ASSET_NODES)["assetNodes"]
        return {tuple(node["assetKey"]["path"]): _metadata(node["metadataEntries"]) for node in nodes}

    def latest_materializations(self, keys: Sequence[AssetKeyPath]) -> dict[AssetKeyPath, Materialization]:
        """The latest materialization of each key that has one."""
        variables = {"keys": [{"path": list(key)} for key in keys]}
        latest = {}
        for node in self.graphql(_MATERIALIZATIONS, variables)["assetNodes"]:
            events = node["assetMaterializations"]
            if not events:
                continue
            event = events[0]
            key = tuple(node["assetKey"]["path"])
            latest[key] = Materialization(
                asset_key=key,
                run_id=event.get("runId") or "",
                timestamp=float(event["timestamp"]) / 1000.0,
                partition=event.get("partition"),
                metadata=_metadata(event["metadataEntries"]),
            )
        return latest

    def runs(self, run_ids: Sequence[str]) -> dict[str, RunInfo]:
        """Runs by id (unknown ids are left out)."""
        ids = [run_id for run_id in run_ids if run_id]
        if not ids:
            return {}
        body = self.graphql(_RUNS, {"ids": ids})["runsOrError"]
        if body["__typename"] != "Runs":
            raise DagsterDevError(f"Listing runs failed: {body.get('message')}")
        return {
            row["runId"]: RunInfo(
                row["runId"], row["status"], {tag["key"]: tag["value"] for tag in row["tags"]}
            )
            for row in body["results"]
        }

    def latest_check_execution(self, asset_key: AssetKeyPath, check_name: str) -> tuple[str, str] | None:
        """``(status, run_id)`` of the latest execution of an asset check, or None if it never ran.

        Status is Dagster's: ``IN_PROGRESS``, ``SUCCEEDED``, ``FAILED``, ``EXECUTION_FAILED`` or ``SKIPPED``.
        """
        variables = {"key": {"path": list(asset_key)}, "name": check_name}
        executions = self.graphql(_CHECK_EXECUTIONS, variables)["assetCheckExecutions"]
        return (executions[0]["status"], executions[0]["runId"]) if executions else None

    def launch_job(self, job_name: str) -> str:
        """Launch a run of a job in the (first) repository that has it; return the run id."""
        for location, repository in self.repositories():
            params = {
                "selector": {
                    "repositoryLocationName": location,
                    "repositoryName": repository["name"],
                    "jobName": job_name,
                },
                "runConfigData": {},
            }
            result = self.graphql(_LAUNCH, {"params": params})["launchRun"]
            if result["__typename"] == "LaunchRunSuccess":
                return result["run"]["runId"]
            raise DagsterDevError(f"Launching {job_name} failed: {json.dumps(result)[:1000]}")
        raise DagsterDevError(f"No repository is loaded to launch {job_name}")

    def wait_for_run(self, run_id: str, timeout: float = 600.0) -> RunInfo:
        """Poll a run until it succeeds, fails or is canceled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.runs([run_id]).get(run_id)
            if run and run.status in {"SUCCESS", "FAILURE", "CANCELED"}:
                return run
            time.sleep(1)
        raise TimeoutError(f"Dagster run {run_id} not finished after {timeout:.0f}s")


def _metadata(entries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    values = {}
    for entry in entries:
        value = entry.get("url") or entry.get("text") or entry.get("jsonString")
        if value is not None:
            values[entry["label"]] = value
    return values
