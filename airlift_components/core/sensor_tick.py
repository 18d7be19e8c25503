"""One tick of the Airflow sensor: query Airflow, translate rows into asset events, advance a copy of the
cursor (:func:`poll_airflow`). The Dagster sensor around it is :mod:`~airlift_components.core.sensor`.

Each tick:

0. One request for the first page of the runs Airflow changed since the window's start (every DAG; a run
   changes when it starts, finishes, and on every scheduler loop while it runs). When that page holds them
   all it answers steps 2 and 4 and tells whether step 1 is needed; a longer window (a catch-up, or a
   budget-stopped scan resuming) skips it and uses the listings below.
1. For the DAGs with task or DAG mappings, only while one of their runs is running or finished in the
   window without being handled (always without step 0): one batched, paged query for task instances that
   ended since the cursor's watermark minus an overlap window, ordered by end date. Already-handled
   identities are skipped, so rows that Airflow commits late or re-lists are handled exactly once.
   Task-mapped assets materialize here, as soon as their task succeeds. (A task can only end while its
   run runs, and a run ends only after its tasks' rows are committed, so skipping this when no run of a
   mapped DAG is running or newly finished loses nothing; a run seen running stays open in the cursor
   until its end is seen, even if the scheduler stops touching its row.)
2. For the DAGs that are only peered (no mappings): their runs that finished in the same window (from
   step 0, else one batched, paged query) -> their DAG assets. Their task instances are never read: at
   1000 DAGs x 10 tasks that is ten times fewer rows than listing every task.
3. Only while mapped (dynamic) tasks wait: one query for their map indexes -> one roll-up event each
   (done before step 4, so a run's events follow its tasks' events).
4. Only when a task of a mapped DAG finished (or its runs still wait for their end): those DAGs' finished
   runs (from step 0 when every open run is in it, else one batched query) -> the DAG asset and
   DAG-mapped assets.

An idle tick costs one request, whatever the mix of DAGs; a tick while a mapped DAG runs costs two (step 0
and its task instances). Each listing stops paging after ``max_task_instances_per_tick`` rows and the next
tick resumes from the earlier stop. If Airflow cannot be reached, the tick raises and Dagster keeps the
previous cursor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from airlift_components.airflow_api import (
    FINISHED_RUN_STATES,
    AirflowClient,
    DagRunRecord,
    TaskInstanceRecord,
)
from airlift_components.core.cursor import (
    OpenRun,
    SensorCursor,
    rollup_identity,
    rollup_key,
    run_identity,
    run_key,
    task_instance_identity,
)
from airlift_components.core.events import (
    TERMINAL_TI_STATES,
    AirflowSensorPlan,
    AssetEvent,
    LogFn,
    dag_run_events,
    finished_run_events,
    is_dag_level_proxy,
    rolled_up_task_events,
    task_instance_events,
)

DEFAULT_LOOKBACK = timedelta(days=1)
# Re-read window behind the watermark: covers rows Airflow commits after their end_date (slow commits,
# clock skew between Airflow's processes and the sensor). Each tick re-lists this window's rows, so an
# "idle" tick costs one request only when at most one page of task instances ended within it.
DEFAULT_OVERLAP = timedelta(minutes=2)
DEFAULT_MAX_TASK_INSTANCES_PER_TICK = 2000
# An open run older than this (its run row vanished, e.g. deleted in Airflow) is dropped with a log line.
OPEN_RUN_MAX_AGE = timedelta(days=2)
# A window longer than this is a catch-up: the changed-runs page could not hold it, so it is not asked for.
PROBE_MAX_WINDOW = timedelta(hours=1)
RUNNING = "running"
Row = TypeVar("Row", TaskInstanceRecord, DagRunRecord)


@dataclass(frozen=True)
class SensorSettings:
    """Tuning knobs of the sensor."""

    lookback: timedelta = DEFAULT_LOOKBACK
    overlap: timedelta = DEFAULT_OVERLAP
    max_task_instances_per_tick: int = DEFAULT_MAX_TASK_INSTANCES_PER_TICK


@dataclass
class PollResult:
    """What one tick produced: events in the order to report them, and the next cursor."""

    events: list[AssetEvent] = field(default_factory=list)
    cursor: SensorCursor | None = None
    complete: bool = True  # False when the tick stopped at its work budget


def _handle_safely(label: str, log: LogFn, fn: Callable[[], list[AssetEvent]]) -> list[AssetEvent]:
    # One bad record must never block the records after it.
    try:
        return fn()
    except Exception as exc:
        log(f"Skipped {label}: could not turn it into asset events ({type(exc).__name__}: {exc})")
        return []


def poll_airflow(
    client: AirflowClient,
    plan: AirflowSensorPlan,
    cursor: SensorCursor | None,
    *,
    now: datetime | None = None,
    settings: SensorSettings = SensorSettings(),
    log: LogFn = lambda message: None,
) -> PollResult:
    """Run one sensor tick against Airflow: query, translate, and advance a copy of the cursor.

    Raises :class:`AirflowError` when Airflow cannot be read; the given cursor is never modified.
    """
    now = now or datetime.now(timezone.utc)
    cursor = cursor.model_copy(deep=True) if cursor else SensorCursor.initial(now, settings.lookback)
    result = PollResult(cursor=cursor)
    if not plan.dag_ids:
        cursor.watermark = now
        return result

    # 0. One page of the runs Airflow changed in the window, when it can hold them: the only request of an
    # idle tick. 1. Task instances of the DAGs with mappings; 2. finished runs of the peered-only DAGs.
    resuming = cursor.scan_upper is not None and cursor.scan_position is not None
    if resuming:
        low, high = cursor.scan_position, cursor.scan_upper
    else:
        low, high = cursor.watermark - settings.overlap, now
    # Only v2 orders the task listing by end date, so only v2 can stop at the budget and resume.
    budget = settings.max_task_instances_per_tick if client.api_version == "v2" else None
    task_dag_ids = plan.task_instance_dag_ids
    state = _TickState(plan, cursor, result, now, log)
    changed = None if resuming or high - low > PROBE_MAX_WINDOW else _changed_runs(client, low)
    if changed is not None:
        _track_running_runs(changed, task_dag_ids, cursor, now)
    task_scan, run_scan = _Scan(), _Scan()
    if task_dag_ids and (changed is None or _tasks_may_have_ended(changed, task_dag_ids, cursor, low)):
        ti_pages = client.iter_task_instance_pages(
            dag_ids=sorted(task_dag_ids),
            end_date_gte=low,
            end_date_lte=high,
            states=sorted(TERMINAL_TI_STATES),
        )
        task_scan = _scan(ti_pages, budget, state.task_instance)
    if plan.dag_ids - task_dag_ids:
        if changed is not None:
            run_pages: Iterable[Sequence[DagRunRecord]] = [
                _finished_between(changed, plan.dag_ids - task_dag_ids, low, high)
            ]
        else:
            run_pages = client.iter_dag_run_pages(
                dag_ids=sorted(plan.dag_ids - task_dag_ids),
                states=list(FINISHED_RUN_STATES),
                end_date_gte=low,
                end_date_lte=high,
            )
        run_scan = _scan(run_pages, budget if changed is None else None, state.unmapped_run)
    # Both listings resume from the earlier stop; rows between it and the later stop repeat and are skipped.
    stopped = [scan.reached or low for scan in (task_scan, run_scan) if not scan.complete]
    result.complete = not stopped
    scanned_to = min(stopped, default=high)
    if result.complete:
        cursor.watermark = high
        cursor.scan_upper = cursor.scan_position = None
    else:
        cursor.scan_upper, cursor.scan_position = high, scanned_to
        log(f"Stopped after {budget} rows (budget); the next tick continues from {scanned_to}.")

    # 3. Roll-ups of mapped tasks (before runs: a run's events come after its tasks' events).
    if cursor.pending_rollups:
        result.events.extend(_rollups(client, plan, cursor, log))

    # 4. Runs of mapped DAGs, only when something could have finished.
    if task_scan.new_rows or cursor.open_runs:
        result.events.extend(
            _finished_runs(client, plan, cursor, low, scanned_to, now, settings, log, changed)
        )

    cursor.prune(settings.overlap)
    return result


@dataclass
class _Scan:
    """How far one budgeted listing got within a tick's window."""

    complete: bool = True
    reached: datetime | None = None  # the latest end_date listed
    new_rows: int = 0  # rows not handled by an earlier tick


def _scan(
    pages: Iterable[Sequence[Row]],
    budget: int | None,
    handle: Callable[[Row], bool],
) -> _Scan:
    # ``handle`` returns whether the row was new; the listing is ordered by end date, so it can stop
    # after a page once ``budget`` rows were listed and resume from the last end date.
    scan = _Scan()
    fetched = 0
    for page in pages:
        for row in page:
            fetched += 1
            if row.end_date is not None:
                scan.reached = row.end_date if scan.reached is None else max(scan.reached, row.end_date)
            scan.new_rows += handle(row)
        if budget is not None and fetched >= budget:
            scan.complete = False
            break
    return scan


@dataclass
class _TickState:
    """What every listing of one tick writes to: the cursor's seen identities and the events."""

    plan: AirflowSensorPlan
    cursor: SensorCursor
    result: PollResult
    now: datetime
    log: LogFn

    def handle_new(
        self, row: TaskInstanceRecord | DagRunRecord, identity: str, events: Callable[[], list[AssetEvent]]
    ) -> bool:
        """Turn a row into events unless an earlier tick did (or its DAG is not peered); True if new."""
        if identity in self.cursor.seen or row.dag_id not in self.plan.dag_ids:
            return False
        self.cursor.seen[identity] = row.end_date or self.now
        self.result.events.extend(_handle_safely(identity, self.log, events))
        return True

    def task_instance(self, ti: TaskInstanceRecord) -> bool:
        """A finished task instance of a DAG with mappings."""
        return self.handle_new(
            ti, task_instance_identity(ti), lambda: _task_instance(self.plan, self.cursor, ti, self.log)
        )

    def unmapped_run(self, run: DagRunRecord) -> bool:
        """A finished run of a DAG without mappings: the run is the whole story (nothing in it was proxied)."""

        def events() -> list[AssetEvent]:
            self.cursor.open_runs.pop(run_key(run.dag_id, run.run_id), None)
            return finished_run_events(self.plan, run, (), self.log)  # its task instances are never read

        return self.handle_new(run, run_identity(run), events)


def _task_instance(
    plan: AirflowSensorPlan, cursor: SensorCursor, ti: TaskInstanceRecord, log: LogFn
) -> list[AssetEvent]:
    key = run_key(ti.dag_id, ti.run_id)
    open_run = cursor.open_runs.get(key) or OpenRun(
        dag_id=ti.dag_id, run_id=ti.run_id, first_seen=ti.end_date or datetime.now(timezone.utc)
    )
    if is_dag_level_proxy(ti):
        open_run = open_run.model_copy(update={"dag_proxied": True})
    cursor.open_runs[key] = open_run
    if ti.map_index >= 0:
        if plan.keys_for_task(ti.dag_id, ti.task_id):
            pending = rollup_key(ti.dag_id, ti.run_id, ti.task_id)
            if (
                pending not in cursor.pending_rollups
                and rollup_identity(ti.dag_id, ti.run_id, ti.task_id) not in cursor.seen
            ):
                cursor.pending_rollups.append(pending)
        return []
    return task_instance_events(plan, ti, log)


def _changed_runs(client: AirflowClient, since: datetime) -> list[DagRunRecord] | None:
    """The runs Airflow changed since ``since`` (every DAG), or None when one page cannot hold them."""
    runs, complete = client.first_page_of_dag_runs_updated_since(since)
    return runs if complete else None


def _track_running_runs(
    changed: Sequence[DagRunRecord], task_dag_ids: frozenset[str], cursor: SensorCursor, now: datetime
) -> None:
    # A running run of a mapped DAG stays open until its end is seen, even if the scheduler stalls and
    # stops touching its row: its tasks are listed every tick meanwhile.
    for run in changed:
        key = run_key(run.dag_id, run.run_id)
        if run.dag_id in task_dag_ids and run.state == RUNNING and key not in cursor.open_runs:
            cursor.open_runs[key] = OpenRun(dag_id=run.dag_id, run_id=run.run_id, first_seen=now)


def _tasks_may_have_ended(
    changed: Sequence[DagRunRecord], task_dag_ids: frozenset[str], cursor: SensorCursor, low: datetime
) -> bool:
    """Whether a task of a mapped DAG can have ended in the window: one of its runs is open (running, or
    finished with its run event pending) or finished in the window without having been handled."""
    if cursor.open_runs:
        return True
    return any(
        run.dag_id in task_dag_ids
        and run.state in FINISHED_RUN_STATES
        and run.end_date is not None
        and run.end_date >= low
        and run_identity(run) not in cursor.seen
        for run in changed
    )


def _finished_between(
    runs: Iterable[DagRunRecord], dag_ids: Iterable[str], low: datetime | None, high: datetime
) -> list[DagRunRecord]:
    """The runs of ``dag_ids`` that finished in ``[low, high]``, by end date (what the run listing returns)."""
    wanted = set(dag_ids)
    return sorted(
        (
            run
            for run in runs
            if run.dag_id in wanted
            and run.state in FINISHED_RUN_STATES
            and run.end_date is not None
            and (low is None or run.end_date >= low)
            and run.end_date <= high
        ),
        key=lambda run: run.end_date or high,
    )


def _finished_runs(
    client: AirflowClient,
    plan: AirflowSensorPlan,
    cursor: SensorCursor,
    low: datetime,
    high: datetime,
    now: datetime,
    settings: SensorSettings,
    log: LogFn,
    changed: Sequence[DagRunRecord] | None = None,
) -> list[AssetEvent]:
    events: list[AssetEvent] = []
    open_dag_ids = sorted({run.dag_id for run in cursor.open_runs.values()} & plan.dag_ids)
    if not open_dag_ids:
        return events
    pages: Iterable[Sequence[DagRunRecord]]
    if changed is not None and set(cursor.open_runs) <= {run_key(r.dag_id, r.run_id) for r in changed}:
        # Every open run is in this tick's changed runs: its end (if any) is there, no request needed.
        pages = [_finished_between(changed, open_dag_ids, None, high)]
    else:
        earliest = min(run.first_seen for run in cursor.open_runs.values())
        runs_low = min(low, earliest - settings.overlap)
        pages = client.iter_dag_run_pages(
            dag_ids=open_dag_ids, states=list(FINISHED_RUN_STATES), end_date_gte=runs_low, end_date_lte=high
        )
    for page in pages:
        for run in page:
            identity = run_identity(run)
            key = run_key(run.dag_id, run.run_id)
            if identity in cursor.seen:
                cursor.open_runs.pop(key, None)
                continue
            if key not in cursor.open_runs:
                continue  # its task instances are not handled yet (beyond this tick's budget)
            open_run = cursor.open_runs.pop(key)
            cursor.seen[identity] = run.end_date or now
            events.extend(
                _handle_safely(
                    identity,
                    log,
                    lambda run=run, open_run=open_run: dag_run_events(
                        plan, run, dag_proxied=open_run.dag_proxied, log=log
                    ),
                )
            )
    for key, open_run in list(cursor.open_runs.items()):
        if now - open_run.first_seen > OPEN_RUN_MAX_AGE:
            log(
                f"Gave up waiting for DAG run {open_run.dag_id}/{open_run.run_id} to finish (first seen {open_run.first_seen})."
            )
            cursor.open_runs.pop(key)
    return events


def _rollups(
    client: AirflowClient, plan: AirflowSensorPlan, cursor: SensorCursor, log: LogFn
) -> list[AssetEvent]:
    parts = [key.split("|") for key in cursor.pending_rollups]
    by_key: dict[str, list[TaskInstanceRecord]] = defaultdict(list)
    for ti in client.list_task_instances(
        dag_ids=sorted({p[0] for p in parts}),
        run_ids=sorted({p[1] for p in parts}),
        task_ids=sorted({p[2] for p in parts}),
    ):
        by_key[rollup_key(ti.dag_id, ti.run_id, ti.task_id)].append(ti)
    events: list[AssetEvent] = []
    still_pending = []
    for key in cursor.pending_rollups:
        tis = [ti for ti in by_key.get(key, []) if ti.map_index >= 0]
        if not tis or any(ti.state not in TERMINAL_TI_STATES for ti in tis):
            still_pending.append(key)
            continue
        dag_id, run_id, task_id = key.split("|", 2)
        ends = [ti.end_date for ti in tis if ti.end_date]
        cursor.seen[rollup_identity(dag_id, run_id, task_id)] = (
            max(ends) if ends else datetime.now(timezone.utc)
        )
        events.extend(_handle_safely(key, log, lambda tis=tis: rolled_up_task_events(plan, tis, log)))
    cursor.pending_rollups = still_pending
    return events
