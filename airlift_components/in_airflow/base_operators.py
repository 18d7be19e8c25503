"""Proxy operators: run the Dagster assets mapped to an Airflow task (or DAG) instead of its own code.

A proxy operator's ``execute`` reads as the steps a user may override, each a short method:

1. :meth:`~BaseProxyToDagsterOperator.get_graphql_client` (from :meth:`get_dagster_url` and
   :meth:`get_dagster_session`),
2. :meth:`~BaseProxyToDagsterOperator.find_targets`: one GraphQL request reads the DAG asset
   ``[instance_name, "dag", dag_id]`` (its ``airlift/proxy_targets`` metadata and its code location)
   together with the Dagster runs already launched for this Airflow task instance,
3. :meth:`~BaseProxyToDagsterOperator.launch_or_reattach`: reattach to this try's run (or to a still
   running run of an earlier try), otherwise launch a run of exactly the mapped assets, tagged with
   the Airflow dag_id, run_id, task_id and try number (and the partition of the logical date),
4. :meth:`~BaseProxyToDagsterOperator.wait_for_run`: adaptive polling until the run ends,
5. :meth:`~BaseProxyToDagsterOperator.report`: fail with the run's URL and error when it did not succeed;
   for a zero-code task (listed in the targets' ``zero_code``),
   :meth:`~BaseProxyToDagsterOperator.relay_zero_code_result` instead: one GraphQL request reads the
   run's ``conventions.ZERO_CODE_RESULT_METADATA_KEY`` observation and mirrors it in Airflow (XComs
   pushed and the return value returned, skipped, failed with or without retry).

Every proxy operator carries the template field ``conventions.PROXY_MARKER_FIELD``, so Airflow's REST API
shows in each task's ``template_fields`` and each task instance's ``rendered_fields`` that the work ran
in Dagster; the Dagster sensor skips those task instances (the Dagster run materialized the assets).
A task-level proxy built by :meth:`BaseProxyTaskToDagsterOperator.build_from_task` also records the
operator it replaced as the last line of its ``doc_md`` (``conventions.ORIGINAL_OPERATOR_DOC_PREFIX``).
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import requests

from airlift_components.conventions import (
    ENV_INSTANCE_NAME,
    PROXY_MARKER_DAG,
    PROXY_MARKER_FIELD,
    PROXY_MARKER_TASK,
    RUN_TAG_DAG_ID,
    RUN_TAG_DAG_RUN_ID,
    RUN_TAG_MAP_INDEX,
    RUN_TAG_TASK_ID,
    RUN_TAG_TRY_NUMBER,
)
from airlift_components.formats.proxy_targets import AssetKeyPath, ProxyTargets, ProxyTargetsError
from airlift_components.formats.zero_code import ZeroCodeResult
from airlift_components.in_airflow._compat import (
    DAG,
    AirflowFailException,
    BaseOperator,
    Context,
    operator_kwargs_of,
)
from airlift_components.in_airflow.dagster_graphql import (
    FINISHED_RUN_STATUSES,
    WAITING_RUN_STATUSES,
    AssetNode,
    DagsterAssetNotFoundError,
    DagsterAuthenticationError,
    DagsterGraphQLClient,
    DagsterGraphQLError,
    DagsterQueryError,
    DagsterRun,
    RunObservations,
)
from airlift_components.in_airflow.zero_code_relay import (
    DagsterRunFailedError,
    doc_md_with_original_operator,
    raise_for_outcome,
    read_zero_code_result,
    relayed_xcoms,
)

#: Dagster's run tag for the partition of a run.
PARTITION_TAG = "dagster/partition"


class RunPollSchedule:
    """How long the proxy operator waits before asking for a run's status again: 0.5 s at first, then a
    quarter of the time waited so far, capped at ``max_interval``. The count starts again when the run
    leaves the queue (:data:`WAITING_RUN_STATUSES`) and starts executing, so a short run that waited for
    the run queue and its worker's start-up is still seen within about 0.5 s of its end.

    >>> schedule = RunPollSchedule(max_interval=10.0, status="QUEUED", now=0.0)
    >>> schedule.next_delay("QUEUED", now=8.0)
    2.0
    >>> schedule.next_delay("STARTED", now=8.5)
    0.5
    """

    def __init__(self, max_interval: float, status: str, now: float) -> None:
        self.max_interval = max_interval
        self.executing = status not in WAITING_RUN_STATUSES
        self.since = now

    def next_delay(self, status: str, now: float) -> float:
        """Seconds to sleep before the next status request, given the last status seen at ``now``."""
        if not self.executing and status not in WAITING_RUN_STATUSES:
            self.executing, self.since = True, now
        return min(max(0.5, (now - self.since) / 4), self.max_interval)


class BaseProxyToDagsterOperator(BaseOperator):
    """Shared by the task- and DAG-level proxy operators. Subclass one of those, not this.

    Args:
        airflow_instance_name: the Dagster-side name of this Airflow instance (the first part of the
            DAG asset key). Defaults to the ``AIRLIFT_INSTANCE_NAME`` environment variable; when neither
            is set, the operator falls back to one scan of asset keys and metadata for the DAG asset
            whose ``airlift/dag_id`` metadata is this DAG's id.
        max_poll_interval: longest wait between two status polls, in seconds.
        **kwargs: passed to Airflow's ``BaseOperator``.
    """

    template_fields: Sequence[str] = (PROXY_MARKER_FIELD,)
    ui_color = "#d9c8f5"
    #: Value of the marker field (``conventions.PROXY_MARKER_TASK`` or ``PROXY_MARKER_DAG``).
    proxy_marker: ClassVar[str] = PROXY_MARKER_TASK

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that sets its own template_fields keeps the marker the Dagster side relies on.
        if PROXY_MARKER_FIELD not in cls.template_fields:
            cls.template_fields = (*cls.template_fields, PROXY_MARKER_FIELD)

    def __init__(
        self,
        *,
        airflow_instance_name: str | None = None,
        max_poll_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        setattr(self, PROXY_MARKER_FIELD, self.proxy_marker)
        self.airflow_instance_name = airflow_instance_name
        self.max_poll_interval = max_poll_interval
        self._dagster_client: DagsterGraphQLClient | None = None
        self._dagster_run_id: str | None = None
        self._launch_tags: dict[str, str] | None = None

    # ------------------------------------------------------------------ override points

    @abstractmethod
    def get_dagster_session(self, context: Context) -> requests.Session:
        """A session that carries whatever auth Dagster needs (headers, cookies, certificates)."""

    @abstractmethod
    def get_dagster_url(self, context: Context) -> str:
        """The Dagster webserver (or Dagster+ deployment) URL, e.g. ``http://localhost:3000``."""

    def get_airflow_instance_name(self, context: Context) -> str | None:
        """The Dagster-side name of this Airflow instance, or None to look the DAG asset up by DAG id."""
        return self.airflow_instance_name or os.environ.get(ENV_INSTANCE_NAME) or None

    def get_graphql_client(self, context: Context) -> DagsterGraphQLClient:
        """The client used for every call of this execution (timeouts and retries live there)."""
        return DagsterGraphQLClient(self.get_dagster_url(context), self.get_dagster_session(context))

    @abstractmethod
    def get_asset_keys(self, targets: ProxyTargets) -> list[AssetKeyPath]:
        """The asset keys this operator materializes, from the DAG asset's proxy targets."""

    @abstractmethod
    def identity_tags(self, context: Context) -> dict[str, str]:
        """Tags naming this Airflow task instance (without the try number) on the Dagster run."""

    # ------------------------------------------------------------------ execution

    def execute(self, context: Context) -> Any:
        """Launch (or reattach to) the Dagster run for this task instance and wait for it to finish.

        Returns the task's return value for a zero-code task (so Airflow pushes it as it would have),
        otherwise None.
        """
        client = self.get_graphql_client(context)
        self._dagster_client = client
        timings: dict[str, float] = {}
        clock = time.monotonic()
        try:
            try:
                node, targets, earlier_runs = self.find_targets(client, context)
                timings["lookup"], clock = time.monotonic() - clock, time.monotonic()
                asset_keys = self.get_asset_keys(targets)
                run = self.launch_or_reattach(client, context, node, targets, asset_keys, earlier_runs)
                self._dagster_run_id = run.run_id
                timings["launch"], clock = time.monotonic() - clock, time.monotonic()
                run = self.wait_for_run(client, run)
                timings["wait"] = time.monotonic() - clock
            except (DagsterAssetNotFoundError, DagsterAuthenticationError, ProxyTargetsError) as exc:
                # Retrying cannot fix a missing mapping, bad credentials or a run without a logical date.
                raise AirflowFailException(str(exc)) from None
            if self.runs_zero_code(targets):
                return self.relay_zero_code_result(client, context, run, asset_keys)
            self.report(client, run)
            return None
        finally:
            self.log.info(
                "Dagster GraphQL requests for this task: %d (%s)",
                client.request_count,
                ", ".join(f"{step} {seconds:.2f}s" for step, seconds in timings.items()),
            )
            client.close()

    def find_targets(
        self, client: DagsterGraphQLClient, context: Context
    ) -> tuple[AssetNode, ProxyTargets, list[DagsterRun]]:
        """The DAG asset, its parsed proxy targets and this task instance's earlier Dagster runs."""
        dag_id = self.dag_id
        instance_name = self.get_airflow_instance_name(context)
        tags = self.identity_tags(context)
        if instance_name:
            node, runs = client.get_asset_node_and_runs([instance_name, "dag", dag_id], tags)
        else:
            self.log.info(
                "No Airflow instance name (%s): looking the DAG asset up by dag_id", ENV_INSTANCE_NAME
            )
            node = client.find_dag_asset_node(dag_id)
            runs = client.find_runs(tags)
        targets = ProxyTargets.from_metadata(node.metadata, dag_asset="/".join(node.key))
        return node, targets, [run for run in runs if self._is_own_run(run)]

    def _is_own_run(self, run: DagsterRun) -> bool:
        # DAG-level runs carry no task id; the tag filter alone would also match task-level runs.
        return (RUN_TAG_TASK_ID in run.tags) == (self.proxy_marker == PROXY_MARKER_TASK)

    def launch_or_reattach(
        self,
        client: DagsterGraphQLClient,
        context: Context,
        node: AssetNode,
        targets: ProxyTargets,
        asset_keys: Sequence[AssetKeyPath],
        earlier_runs: Sequence[DagsterRun],
    ) -> DagsterRun:
        """Reattach to this try's run or to a still running run of an earlier try; otherwise launch."""
        try_number = str(_try_number(context))
        same_try = [run for run in earlier_runs if run.tags.get(RUN_TAG_TRY_NUMBER) == try_number]
        if same_try:
            run = same_try[0]
            self.log.info(
                "Reattaching to Dagster run %s of this try: %s", run.run_id, client.run_url(run.run_id)
            )
            return run
        running = [run for run in earlier_runs if not run.finished]
        if running:
            run = running[0]
            self.log.info(
                "Dagster run %s of an earlier try (%s) is still running; waiting for it instead of launching "
                "a second run: %s",
                run.run_id,
                run.tags.get(RUN_TAG_TRY_NUMBER),
                client.run_url(run.run_id),
            )
            return run
        if not asset_keys:
            raise ProxyTargetsError(
                f"no Dagster assets are mapped to {self._what()} (DAG asset {'/'.join(node.key)})"
            )
        tags = {**self.identity_tags(context), RUN_TAG_TRY_NUMBER: try_number}
        partition_key = targets.partition_key(asset_keys, _logical_date(context))
        if partition_key is not None:
            tags[PARTITION_TAG] = partition_key
        self._launch_tags = tags
        try:
            run = client.launch_asset_run(
                repository_location_name=node.location_name,
                repository_name=node.repository_name,
                asset_keys=asset_keys,
                tags=tags,
            )
        except DagsterGraphQLError:
            # The launch may have reached Dagster before the connection dropped: look before failing.
            launched = [run for run in client.find_runs(tags) if self._is_own_run(run)]
            if not launched:
                raise
            run = launched[0]
        self.log.info(
            "Launched Dagster run %s of %s%s: %s",
            run.run_id,
            ", ".join("/".join(key) for key in asset_keys),
            f" (partition {partition_key})" if partition_key else "",
            client.run_url(run.run_id),
        )
        return run

    def wait_for_run(self, client: DagsterGraphQLClient, run: DagsterRun) -> DagsterRun:
        """Poll until the run ends, as :class:`RunPollSchedule` spaces the requests (short runs are seen
        promptly after a queue wait, long runs cost few requests)."""
        schedule = RunPollSchedule(self.max_poll_interval, run.status, time.monotonic())
        while not run.finished:
            time.sleep(schedule.next_delay(run.status, time.monotonic()))
            run = client.get_run(run.run_id)
        return run

    def report(self, client: DagsterGraphQLClient, run: DagsterRun) -> None:
        """Succeed quietly, or raise :class:`DagsterRunFailedError` with the run's URL and error."""
        url = client.run_url(run.run_id)
        if run.status == "SUCCESS":
            self.log.info("Dagster run %s succeeded: %s", run.run_id, url)
            return
        detail = client.run_failure_message(run.run_id) if run.status == "FAILURE" else "the run was canceled"
        raise DagsterRunFailedError(f"Dagster run {run.run_id} ended {run.status}: {url}\n{detail}")

    def runs_zero_code(self, targets: ProxyTargets) -> bool:
        """Whether this operator's target is a zero-code asset (the task's own code run in Dagster)."""
        return False

    def relay_zero_code_result(
        self,
        client: DagsterGraphQLClient,
        context: Context,
        run: DagsterRun,
        asset_keys: Sequence[AssetKeyPath],
    ) -> Any:
        """Mirror the zero-code run's result in Airflow, as if the task had run here.

        One GraphQL request reads the run's result observation. Success: push the relayed XComs other
        than ``return_value`` and return the return value (Airflow then pushes it, its
        ``multiple_outputs`` keys and the length a mapped downstream task expands over). Skipped: raise
        ``AirflowSkipException``. Failed: raise ``AirflowFailException`` when the result is not
        retryable, else :class:`~airlift_components.in_airflow.zero_code_relay.ZeroCodeTaskFailedError`
        (Airflow retries; the next try launches one new run). See ``zero_code_relay`` for the rules.
        """
        if run.status == "CANCELED":
            self.report(client, run)
        url = client.run_url(run.run_id)
        result = self.read_zero_code_result(client.get_run_observations(run.run_id), run, url, asset_keys)
        if result.state == "success" and run.status != "SUCCESS":
            # The step failed after reporting success (e.g. materializing): the run's failure wins.
            self.report(client, run)
        raise_for_outcome(result, what=self._what(), run_id=run.run_id, url=url)
        self.log.info("Dagster run %s succeeded: %s", run.run_id, url)
        return_value, others = relayed_xcoms(
            result, what=self._what(), multiple_outputs=bool(self.do_xcom_push and self.multiple_outputs)
        )
        ti = context.get("ti") or context.get("task_instance")
        for key, value in others.items():
            ti.xcom_push(key=key, value=value)
        if others:
            self.log.info("Pushed the XComs relayed from Dagster: %s", ", ".join(others))
        return return_value

    def read_zero_code_result(
        self,
        events: RunObservations,
        run: DagsterRun,
        url: str,
        asset_keys: Sequence[AssetKeyPath],
    ) -> ZeroCodeResult:
        """The run's result (override to read it from elsewhere); errors name the DAG, task and run URL."""
        return read_zero_code_result(events, run, url=url, asset_keys=asset_keys, what=self._what())

    def on_kill(self) -> None:
        """Terminate the Dagster run when Airflow kills this task (timeout, mark failed, shutdown).

        When the kill lands while the launch request is in flight, the run id is not known yet: look
        the run up by this try's tags for up to ``kill_lookup_seconds`` and terminate it.
        """
        client = self._dagster_client
        if client is None:
            return
        try:
            run_ids = (
                [self._dagster_run_id] if self._dagster_run_id else self._runs_launched_by_this_try(client)
            )
            for run_id in run_ids:
                self._terminate(client, run_id)
                self.log.info("Terminated Dagster run %s: %s", run_id, client.run_url(run_id))
        except DagsterGraphQLError as exc:
            self.log.warning("Could not terminate the Dagster run of this task: %s", exc)

    kill_lookup_seconds: ClassVar[float] = 30.0

    def _terminate(self, client: DagsterGraphQLClient, run_id: str) -> None:
        # Dagster refuses to terminate a run that is still STARTING: retry until it has started.
        deadline = time.monotonic() + self.kill_lookup_seconds
        while True:
            try:
                client.terminate_run(run_id)
                return
            except DagsterQueryError:
                status = client.get_run(run_id).status
                if status in FINISHED_RUN_STATUSES:
                    return
                if status not in ("QUEUED", "NOT_STARTED", "STARTING") or time.monotonic() > deadline:
                    raise
            time.sleep(1.0)

    def _runs_launched_by_this_try(self, client: DagsterGraphQLClient) -> list[str]:
        if self._launch_tags is None:
            return []  # killed before launching
        deadline = time.monotonic() + self.kill_lookup_seconds
        while True:
            runs = [run for run in client.find_runs(self._launch_tags) if self._is_own_run(run)]
            if runs or time.monotonic() > deadline:
                return [run.run_id for run in runs if not run.finished]
            time.sleep(1.0)

    def _what(self) -> str:
        return f"task {self.dag_id}.{self.task_id}"


class BaseProxyTaskToDagsterOperator(BaseProxyToDagsterOperator):
    """Replaces one Airflow task: runs the Dagster assets mapped to this task id.

    Subclass it to change how Dagster is reached, e.g. with an API key from an Airflow Variable::

        class CustomProxyToDagsterOperator(BaseProxyTaskToDagsterOperator):
            def get_dagster_session(self, context):
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {context['var']['value'].get('my_api_key')}"
                return session

            def get_dagster_url(self, context):
                return "https://dagster.example.com/"

        proxying_to_dagster(..., build_from_task_fn=CustomProxyToDagsterOperator.build_from_task)
    """

    proxy_marker: ClassVar[str] = PROXY_MARKER_TASK

    def get_asset_keys(self, targets: ProxyTargets) -> list[AssetKeyPath]:
        """The assets mapped to this task id."""
        return list(targets.tasks.get(self.task_id, ()))

    def runs_zero_code(self, targets: ProxyTargets) -> bool:
        """True when the DAG asset lists this task in its proxy targets' ``zero_code``."""
        return self.task_id in targets.zero_code

    def identity_tags(self, context: Context) -> dict[str, str]:
        """dag_id, dag run id and task id (plus map index for mapped task instances)."""
        tags = {
            RUN_TAG_DAG_ID: self.dag_id,
            RUN_TAG_DAG_RUN_ID: _run_id(context),
            RUN_TAG_TASK_ID: self.task_id,
        }
        map_index = getattr(context.get("ti") or context.get("task_instance"), "map_index", -1)
        if map_index is not None and map_index >= 0:
            tags[RUN_TAG_MAP_INDEX] = str(map_index)
        return tags

    @classmethod
    def build_from_task(cls, task: BaseOperator) -> BaseProxyTaskToDagsterOperator:
        """A proxy for ``task``: same task id, retries, pool, queue, trigger rule, callbacks, docs...

        Copies every ``BaseOperator`` constructor argument the task has set, and adds to ``doc_md`` a last
        line naming the task's operator class (:func:`doc_md_with_original_operator`); dependencies and
        task group membership are restored by ``proxying_to_dagster``, which puts it in the DAG.
        """
        kwargs = operator_kwargs_of(task)
        kwargs["doc_md"] = doc_md_with_original_operator(kwargs.get("doc_md"), type(task))
        return cls(**kwargs)


class BaseProxyDAGToDagsterOperator(BaseProxyToDagsterOperator):
    """Replaces a whole DAG by one task that runs every asset mapped to the DAG.

    Subclasses may override :meth:`build_from_dag` to choose the task id or arguments::

        @classmethod
        def build_from_dag(cls, dag):
            return cls(dag=dag, task_id="OVERRIDDEN")
    """

    proxy_marker: ClassVar[str] = PROXY_MARKER_DAG

    def get_asset_keys(self, targets: ProxyTargets) -> list[AssetKeyPath]:
        """The assets mapped to the whole DAG."""
        return list(targets.dag)

    def identity_tags(self, context: Context) -> dict[str, str]:
        """dag_id and dag run id (no task id: the run stands for the whole DAG)."""
        return {RUN_TAG_DAG_ID: self.dag_id, RUN_TAG_DAG_RUN_ID: _run_id(context)}

    @classmethod
    def build_from_dag(cls, dag: DAG) -> BaseProxyDAGToDagsterOperator:
        """The single task of a DAG proxied as a whole (task id ``DAGSTER_OVERRIDE_<dag_id>``)."""
        return cls(dag=dag, task_id=f"DAGSTER_OVERRIDE_{dag.dag_id}")

    def _what(self) -> str:
        return f"DAG {self.dag_id}"


def _run_id(context: Mapping[str, Any]) -> str:
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", None)
    if not run_id:
        raise AirflowFailException("the task context has no run_id")
    return str(run_id)


def _try_number(context: Mapping[str, Any]) -> int:
    ti = context.get("ti") or context.get("task_instance")
    return int(getattr(ti, "try_number", 1) or 1)


def _logical_date(context: Mapping[str, Any]) -> datetime | None:
    # Airflow 3 runs triggered with logical_date: null have neither the key nor dag_run.logical_date.
    return context.get("logical_date") or getattr(context.get("dag_run"), "logical_date", None)
