"""A tiny Dagster GraphQL client for the proxy operators: find assets, launch a run, poll, terminate.

Plain ``requests`` (never dagster). One session per client, a timeout on every call, bounded retries
with backoff for connection failures and 502/503/504 (urllib3's ``Retry``, the policy of the Airflow
client too: :mod:`airlift_components.http_retry`), and named exceptions that never carry the session's
headers (tokens stay out of logs and exception text).

Example::

    client = DagsterGraphQLClient("http://localhost:3000", requests.Session())
    node = client.get_asset_node(["my_airflow", "dag", "rebuild_customers_list"])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from airlift_components.conventions import DAG_ID_METADATA_KEY
from airlift_components.http_retry import mount_retrying_adapter, problem_name, retry_policy, retrying
from airlift_components.in_airflow.dagster_queries import (
    ALL_ASSET_NODES_QUERY,
    ASSET_NODE_AND_RUNS_QUERY,
    LAUNCH_RUN_MUTATION,
    RUN_FAILURE_QUERY,
    RUN_QUERY,
    RUNS_QUERY,
    TERMINATE_RUN_MUTATION,
    ZERO_CODE_RESULT_QUERY,
)

#: Dagster run statuses after which a run never changes again.
FINISHED_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
#: A run not executing yet: in the run queue, or launched while its run worker starts.
WAITING_RUN_STATUSES = frozenset({"QUEUED", "NOT_STARTED", "STARTING"})
#: The implicit job that can run any selection of assets of a repository.
IMPLICIT_ASSET_JOB = "__ASSET_JOB"

_RETRIED_STATUS_CODES = frozenset({502, 503, 504})


class DagsterGraphQLError(RuntimeError):
    """Base class: a call to Dagster's GraphQL API failed."""


class DagsterUnavailableError(DagsterGraphQLError):
    """Dagster did not answer (connection refused, timeout, 5xx) within the bounded retries."""


class DagsterAuthenticationError(DagsterGraphQLError):
    """Dagster (or the proxy in front of it) refused the credentials (HTTP 401/403)."""


class DagsterQueryError(DagsterGraphQLError):
    """Dagster answered with GraphQL errors or an error result (a ``PythonError``, ``InvalidSubsetError``...)."""


class DagsterAssetNotFoundError(DagsterGraphQLError):
    """No asset with the given key (or, in the fallback lookup, no DAG asset for the DAG id)."""


@dataclass(frozen=True)
class AssetNode:
    """What the operator needs from one asset node: its key, where it lives and its metadata."""

    key: tuple[str, ...]
    repository_name: str
    location_name: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class RunObservation:
    """One ``AssetObservation`` a run logged: the observed asset's key and its metadata (JSON entries
    decoded, text entries as text)."""

    asset_key: tuple[str, ...]
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class RunObservations:
    """What a finished run reported through observations, and why its failed steps failed."""

    observations: tuple[RunObservation, ...] = ()
    step_failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class DagsterRun:
    """A Dagster run's id, status and tags; times are epoch seconds (None until known)."""

    run_id: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None

    @property
    def finished(self) -> bool:
        """True once the status can no longer change."""
        return self.status in FINISHED_RUN_STATUSES


class DagsterGraphQLClient:
    """Calls Dagster's GraphQL endpoint at ``{url}/graphql`` through ``session``.

    Args:
        url: the Dagster webserver (or Dagster+ deployment) URL, e.g. ``http://localhost:3000``.
        session: carries auth headers; reused for every call (keep-alive).
        timeout: seconds per HTTP request (connect and read).
        max_attempts: attempts per call when Dagster is unreachable or answers 502/503/504.
        backoff: seconds before the second attempt; doubles each time (±20 % jitter), capped at 10s.
        launch_timeout: seconds to wait for the launch mutation, which is not retried once sent (a
            busy code server can take long to build the run's job).
    """

    def __init__(
        self,
        url: str,
        session: requests.Session,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff: float = 1.0,
        launch_timeout: float = 120.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session
        if _plain_adapter(session, self.url):  # a transport adapter the caller mounted stays
            mount_retrying_adapter(session)
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.launch_timeout = launch_timeout
        #: Number of HTTP requests sent (retries included), for measurements.
        self.request_count = 0

    @property
    def safe_url(self) -> str:
        """The URL without any ``user:password@`` part, for messages."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc)) if parts.netloc else self.url

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    @property
    def graphql_url(self) -> str:
        """The GraphQL endpoint."""
        return f"{self.url}/graphql"

    def run_url(self, run_id: str) -> str:
        """The Dagster UI page of a run."""
        return f"{self.url}/runs/{run_id}"

    # ------------------------------------------------------------------ transport

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        retry_unsent_only: bool = False,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one GraphQL document and return its ``data``.

        ``retry_unsent_only`` (for mutations that must not run twice) retries only when the request
        surely did not reach Dagster (connection refused), not after a read timeout or a 5xx.
        """
        payload = {"query": query, "variables": dict(variables or {})}
        timeout = timeout or self.timeout
        attempts = 1

        def on_retry(problem: str) -> None:
            nonlocal attempts
            attempts += 1
            self.request_count += 1

        policy = retry_policy(
            self.max_attempts - 1,
            self.backoff,
            on_retry=on_retry,
            statuses=_RETRIED_STATUS_CODES,
            unsent_only=retry_unsent_only,
        )
        self.request_count += 1
        try:
            with retrying(policy):
                response = self.session.post(self.graphql_url, json=payload, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:  # ConnectTimeout is a ConnectionError
            problem = problem_name(exc)
            # A read timeout: Dagster may have acted on the request. Anything else never reached it.
            reason = (
                f"no answer within {timeout:.0f}s"
                if problem == "ReadTimeout"
                else f"cannot connect ({problem})"
            )
            raise self._unavailable(reason, attempts) from None
        except requests.RequestException as exc:
            raise DagsterGraphQLError(
                f"request to {self.safe_url}/graphql failed: {type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            raise DagsterAuthenticationError(
                f"Dagster at {self.safe_url}/graphql refused the credentials (HTTP {response.status_code}); "
                "check the token or override get_dagster_session()"
            )
        if response.status_code in _RETRIED_STATUS_CODES:
            raise self._unavailable(f"HTTP {response.status_code}", attempts)
        return self._data(response)

    def _unavailable(self, problem: str, attempts: int) -> DagsterUnavailableError:
        return DagsterUnavailableError(
            f"Dagster at {self.safe_url}/graphql is unavailable: {problem} "
            f"(after {attempts} attempt{'s' if attempts > 1 else ''})"
        )

    def _data(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise DagsterQueryError(
                f"Dagster at {self.safe_url}/graphql answered HTTP {response.status_code}: {response.text[:300]}"
            )
        try:
            body = response.json()
        except ValueError:
            raise DagsterQueryError(
                f"Dagster at {self.safe_url}/graphql answered with non-JSON content: {response.text[:200]!r}"
            ) from None
        if body.get("errors"):
            messages = "; ".join(str(error.get("message", error)) for error in body["errors"])
            raise DagsterQueryError(f"GraphQL errors from {self.safe_url}/graphql: {messages}")
        return body.get("data") or {}

    # ------------------------------------------------------------------ queries

    def get_asset_node_and_runs(
        self, asset_key: Sequence[str], run_tags: Mapping[str, str]
    ) -> tuple[AssetNode, list[DagsterRun]]:
        """One request: the asset node with key ``asset_key`` and the runs carrying all ``run_tags``."""
        data = self.execute(
            ASSET_NODE_AND_RUNS_QUERY, {"assetKey": {"path": list(asset_key)}, "runTags": _tags(run_tags)}
        )
        node = data.get("assetNodeOrError") or {}
        if node.get("__typename") == "AssetNotFoundError":
            raise DagsterAssetNotFoundError(f"Dagster at {self.safe_url} has no asset {list(asset_key)}")
        if node.get("__typename") != "AssetNode":
            raise DagsterQueryError(f"looking up asset {list(asset_key)} failed: {_message(node)}")
        return _asset_node(node), self._runs(data)

    def find_dag_asset_node(self, dag_id: str) -> AssetNode:
        """Fallback when the Airflow instance name is unknown: scan asset keys and metadata once.

        Picks the asset whose ``airlift/dag_id`` metadata is ``dag_id``; fails if none or several do.
        """
        data = self.execute(ALL_ASSET_NODES_QUERY)
        matches = [
            _asset_node(node)
            for node in data.get("assetNodes") or []
            if _metadata(node).get(DAG_ID_METADATA_KEY) == dag_id
        ]
        if not matches:
            raise DagsterAssetNotFoundError(
                f"Dagster at {self.safe_url} has no DAG asset with metadata {DAG_ID_METADATA_KEY}={dag_id!r}"
            )
        if len(matches) > 1:
            keys = sorted("/".join(m.key) for m in matches)
            raise DagsterAssetNotFoundError(
                f"several DAG assets in Dagster at {self.safe_url} map DAG {dag_id!r} ({keys}); "
                "set AIRLIFT_INSTANCE_NAME to pick one"
            )
        return matches[0]

    def find_runs(self, run_tags: Mapping[str, str]) -> list[DagsterRun]:
        """Runs carrying all ``run_tags``, newest first."""
        return self._runs(self.execute(RUNS_QUERY, {"runTags": _tags(run_tags)}))

    def get_run(self, run_id: str) -> DagsterRun:
        """The current state of one run."""
        result = self.execute(RUN_QUERY, {"runId": run_id}).get("runOrError") or {}
        if result.get("__typename") != "Run":
            raise DagsterQueryError(f"reading run {run_id} failed: {_message(result)}")
        return _run(result)

    def run_failure_message(self, run_id: str) -> str:
        """The error messages of a failed run's failed steps (or the run failure message)."""
        result = self.execute(RUN_FAILURE_QUERY, {"runId": run_id}).get("logsForRun") or {}
        messages: list[str] = []
        for event in result.get("events") or []:
            if event.get("__typename") == "ExecutionStepFailureEvent":
                messages.append(f"{event.get('stepKey')}: {_innermost_error(event.get('error') or {})}")
            elif event.get("__typename") == "RunFailureEvent" and not messages:
                messages.append(str(event.get("message") or "").strip())
        return "\n".join(m for m in messages if m) or "no failure message recorded"

    def get_run_observations(self, run_id: str, *, max_pages: int = 20) -> RunObservations:
        """The asset observations and step failure messages of a run, in log order.

        Cost: one request (``logsForRun``); more only when the webserver caps events per request
        (``hasMore``), up to ``max_pages``.
        """
        observations: list[RunObservation] = []
        failures: list[str] = []
        cursor: str | None = None
        for _ in range(max_pages):
            variables = {"runId": run_id, "afterCursor": cursor}
            result = self.execute(ZERO_CODE_RESULT_QUERY, variables).get("logsForRun") or {}
            if result.get("__typename") != "EventConnection":
                raise DagsterQueryError(f"reading the events of run {run_id} failed: {_message(result)}")
            for event in result.get("events") or []:
                if event.get("__typename") == "ObservationEvent" and event.get("assetKey"):
                    key = tuple(event["assetKey"]["path"])
                    observations.append(RunObservation(key, _metadata(event, strict=False)))
                elif event.get("__typename") == "ExecutionStepFailureEvent":
                    failures.append(f"{event.get('stepKey')}: {_innermost_error(event.get('error') or {})}")
            cursor = result.get("cursor")
            if not result.get("hasMore") or not cursor:
                break
        return RunObservations(tuple(observations), tuple(failures))

    # ------------------------------------------------------------------ mutations

    def launch_asset_run(
        self,
        *,
        repository_location_name: str,
        repository_name: str,
        asset_keys: Sequence[Sequence[str]],
        tags: Mapping[str, str],
    ) -> DagsterRun:
        """Launch a run of exactly ``asset_keys`` on the repository's implicit asset job."""
        params = {
            "selector": {
                "repositoryLocationName": repository_location_name,
                "repositoryName": repository_name,
                "pipelineName": IMPLICIT_ASSET_JOB,
                "assetSelection": [{"path": list(key)} for key in asset_keys],
            },
            "executionMetadata": {"tags": _tags(tags)},
        }
        data = self.execute(
            LAUNCH_RUN_MUTATION,
            {"executionParams": params},
            retry_unsent_only=True,
            timeout=self.launch_timeout,
        )
        result = data.get("launchPipelineExecution") or {}
        if result.get("__typename") != "LaunchRunSuccess":
            errors = "; ".join(e.get("message", "") for e in result.get("errors") or [])
            raise DagsterQueryError(
                f"launching a run of {['/'.join(k) for k in asset_keys]} failed: "
                f"{result.get('__typename')}: {errors or _message(result)}"
            )
        return _run(result["run"])

    def terminate_run(self, run_id: str) -> None:
        """Ask Dagster to terminate a run."""
        data = self.execute(TERMINATE_RUN_MUTATION, {"runId": run_id})
        result = data.get("terminateRun") or {}
        if result.get("__typename") != "TerminateRunSuccess":
            raise DagsterQueryError(f"terminating run {run_id} failed: {_message(result)}")

    def _runs(self, data: Mapping[str, Any]) -> list[DagsterRun]:
        result = data.get("runsOrError") or {}
        if result.get("__typename") != "Runs":
            raise DagsterQueryError(f"listing runs failed: {_message(result)}")
        return [_run(row) for row in result.get("results") or []]

    def __repr__(self) -> str:
        return f"DagsterGraphQLClient(url={self.url!r})"


def _plain_adapter(session: requests.Session, url: str) -> bool:
    try:
        return type(session.get_adapter(url)) is HTTPAdapter
    except requests.exceptions.InvalidSchema:
        return False  # not http(s): the first call says so


def _innermost_error(error: Mapping[str, Any]) -> str:
    # Dagster wraps user errors ("Error occurred while executing op ..."); the cause says what happened.
    chain = [link.get("error") or {} for link in error.get("errorChain") or []]
    message = (chain[-1] if chain else error).get("message") or "step failed"
    return message.strip()


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": str(value)} for key, value in tags.items()]


def _message(result: Mapping[str, Any]) -> str:
    return f"{result.get('__typename', 'no result')}: {result.get('message', '')}".strip()


def _metadata(node: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for entry in node.get("metadataEntries") or []:
        if "jsonString" in entry:
            try:
                entries[entry["label"]] = json.loads(entry["jsonString"])
            except ValueError:
                if strict:
                    raise
                entries[entry["label"]] = entry["jsonString"]  # the reader names what is malformed
        elif "text" in entry:
            entries[entry["label"]] = entry["text"]
    return entries


def _asset_node(node: Mapping[str, Any]) -> AssetNode:
    repository = node.get("repository") or {}
    return AssetNode(
        key=tuple(node["assetKey"]["path"]),
        repository_name=repository.get("name", ""),
        location_name=(repository.get("location") or {}).get("name", ""),
        metadata=_metadata(node),
    )


def _run(row: Mapping[str, Any]) -> DagsterRun:
    return DagsterRun(
        run_id=row["runId"],
        status=row["status"],
        tags={tag["key"]: tag["value"] for tag in row.get("tags") or []},
        start_time=row.get("startTime"),
        end_time=row.get("endTime"),
    )
