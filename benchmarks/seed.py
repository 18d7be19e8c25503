"""Write finished DAG runs and task instances into a benchmark Airflow's metadata DB through its ORM.

Run with the Airflow environment's python and the instance's environment (AIRFLOW_HOME etc.), after
the DAG processor has serialized the benchmark DAGs:

    python benchmarks/seed.py --runs 5000 --mapped-dags 10 --out ground_truth.json

Run k goes to DAG ``k % N``; ends are spread over ``--hours`` before now; every 10th run fails at its
last task. Prints and writes the ground truth counted back from the database.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta, timezone

from airflow import __version__ as airflow_version
from airflow.models.dagrun import DagRun
from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
from sqlalchemy import delete, func, select

AIRFLOW3 = int(airflow_version.split(".")[0]) >= 3
PREFIX = "bench_"
MAPPED_TASK = "task_00"
CHUNK = 200  # runs per transaction


def bench_dags(session) -> dict:
    """The serialized benchmark DAGs (without bench_latency), by DAG id."""
    dags = SerializedDagModel.read_all_dags(session=session)
    return {dag_id: dag for dag_id, dag in sorted(dags.items()) if dag_id[len(PREFIX) :].isdigit()}


def dag_version_ids(session, dag_ids: list[str]) -> dict:
    """Airflow 3: the latest dag_version id of each DAG (task instances must reference one)."""
    from airflow.models.dag_version import DagVersion

    rows = session.execute(
        select(DagVersion.dag_id, DagVersion.id, DagVersion.version_number).where(
            DagVersion.dag_id.in_(dag_ids)
        )
    )
    latest: dict[str, tuple[int, object]] = {}
    for dag_id, version_id, number in rows:
        if dag_id not in latest or number > latest[dag_id][0]:
            latest[dag_id] = (number, version_id)
    return {dag_id: version_id for dag_id, (_, version_id) in latest.items()}


def make_run(dag_id: str, run_id: str, logical_date: datetime, start: datetime, end: datetime, state: str):
    run_type = "scheduled" if run_id.startswith("scheduled__") else "manual"
    kwargs = {"run_type": run_type, "start_date": start, "state": state}
    if AIRFLOW3:
        kwargs.update(
            logical_date=logical_date, run_after=logical_date, data_interval=(logical_date, logical_date)
        )
    else:
        kwargs.update(execution_date=logical_date, data_interval=(logical_date, logical_date))
    run = DagRun(dag_id=dag_id, run_id=run_id, **kwargs)
    # History: a finished run was last changed when it ended (the column would otherwise say "seeded now").
    run.end_date = run.updated_at = end
    return run


def make_task_instance(task, run_id: str, version_id, state: str, start: datetime, end: datetime):
    if AIRFLOW3:
        ti = TaskInstance(task, dag_version_id=version_id, run_id=run_id, state=state)
    else:
        ti = TaskInstance(task, run_id=run_id, state=state)
    ti.start_date, ti.end_date, ti.queued_dttm = start, end, start
    ti.duration = (end - start).total_seconds()
    ti.try_number = 1
    ti.hostname = "bench"
    return ti


def write_runs(dags: dict, versions: dict, specs: list[tuple[str, str, datetime, datetime, bool]]) -> None:
    """Write finished runs (dag_id, run_id, start, end, failed) and their task instances in one transaction."""
    with create_session() as session:
        for dag_id, run_id, start, end, failed in specs:
            tasks = sorted(dags[dag_id].tasks, key=lambda task: task.task_id)
            run = make_run(
                dag_id, run_id, start - timedelta(minutes=1), start, end, "failed" if failed else "success"
            )
            session.add(run)
            step = (end - start) / len(tasks)
            for i, task in enumerate(tasks):
                state = "failed" if failed and i == len(tasks) - 1 else "success"
                ti_start, ti_end = start + step * i, start + step * (i + 1)
                session.add(make_task_instance(task, run_id, versions.get(dag_id), state, ti_start, ti_end))


def load_dags() -> tuple[dict, dict]:
    """The benchmark DAGs and (Airflow 3) their dag_version ids."""
    with create_session() as session:
        dags = bench_dags(session)
        return dags, dag_version_ids(session, list(dags)) if AIRFLOW3 else {}


def seed(runs: int, hours: float, mapped_dags: int) -> dict:
    """Delete earlier benchmark history, write ``runs`` finished runs with their task instances, count."""
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    newest_end = now - timedelta(minutes=5)
    spacing = timedelta(seconds=hours * 3600 / max(runs, 1))
    dags, versions = load_dags()
    dag_ids = list(dags)
    with create_session() as session:
        session.execute(delete(TaskInstance).where(TaskInstance.dag_id.in_(dag_ids)))
        session.execute(delete(DagRun).where(DagRun.dag_id.in_(dag_ids)))
    started = time.monotonic()
    oldest_start = newest_end
    for first in range(0, runs, CHUNK):
        specs = []
        for k in range(first, min(first + CHUNK, runs)):
            end = newest_end - spacing * (runs - 1 - k)
            start = end - timedelta(seconds=rng.randint(30, 300))
            oldest_start = min(oldest_start, start)
            logical_date = start - timedelta(minutes=1)
            specs.append(
                (dag_ids[k % len(dag_ids)], f"scheduled__{logical_date.isoformat()}", start, end, k % 10 == 7)
            )
        write_runs(dags, versions, specs)
    seconds = time.monotonic() - started
    return ground_truth(dag_ids, dag_ids[:mapped_dags], oldest_start, seconds)


def seed_continuously(seconds: float, runs_per_second: float) -> dict:
    """Soak: write runs that end *now*, ``runs_per_second`` of them, for ``seconds``; returns what was written."""
    dags, versions = load_dags()
    dag_ids = list(dags)
    written: dict[str, int] = {"success": 0, "failed": 0}
    deadline = time.monotonic() + seconds
    k = 0
    while time.monotonic() < deadline:
        batch_started = time.monotonic()
        end = datetime.now(timezone.utc)
        count = max(1, round(runs_per_second))
        specs = []
        for _ in range(count):
            failed = k % 10 == 7
            specs.append(
                (dag_ids[k % len(dag_ids)], f"soak__{k:07d}", end - timedelta(seconds=20), end, failed)
            )
            written["failed" if failed else "success"] += 1
            k += 1
        write_runs(dags, versions, specs)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - batch_started)))
    return {"runs_written_by_state": written, "runs_written": k}


def ground_truth(dag_ids: list[str], mapped: list[str], oldest_start: datetime, seconds: float) -> dict:
    """Counts read back from Airflow's database: what the sensors must turn into events."""
    with create_session() as session:
        runs_by_state = dict(
            session.execute(
                select(DagRun.state, func.count()).where(DagRun.dag_id.in_(dag_ids)).group_by(DagRun.state)
            ).all()
        )
        tis_by_state = dict(
            session.execute(
                select(TaskInstance.state, func.count())
                .where(TaskInstance.dag_id.in_(dag_ids))
                .group_by(TaskInstance.state)
            ).all()
        )
        mapped_by_state = dict(
            session.execute(
                select(DagRun.state, func.count())
                .select_from(TaskInstance)
                .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                .where(
                    TaskInstance.dag_id.in_(mapped),
                    TaskInstance.task_id == MAPPED_TASK,
                    TaskInstance.state == "success",
                )
                .group_by(DagRun.state)
            ).all()
        )
        # Identities for the benchmarks' identity check: every run in the database (any DAG, so a run
        # that is not part of the seeded history would show up as expected-but-not-seeded), and every
        # instance of the mapped task in the mapped DAGs with the state of its run.
        run_rows = [
            list(row)
            for row in session.execute(
                select(DagRun.dag_id, DagRun.run_id, DagRun.state).order_by(DagRun.dag_id, DagRun.run_id)
            ).all()
        ]
        mapped_task_rows = [
            list(row)
            for row in session.execute(
                select(
                    TaskInstance.dag_id,
                    TaskInstance.run_id,
                    TaskInstance.task_id,
                    TaskInstance.state,
                    DagRun.state,
                )
                .join(DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id))
                .where(TaskInstance.dag_id.in_(mapped), TaskInstance.task_id == MAPPED_TASK)
                .order_by(TaskInstance.dag_id, TaskInstance.run_id)
            ).all()
        ]
    return {
        "airflow_version": airflow_version,
        "dags": len(dag_ids),
        "mapped_dag_ids": mapped,
        "mapped_task_id": MAPPED_TASK,
        "runs_by_state": runs_by_state,
        "task_instances_by_state": tis_by_state,
        # successful task instances of the mapped task, by the state of their run
        "mapped_successes_by_run_state": mapped_by_state,
        "runs": sum(runs_by_state.values()),
        "task_instances": sum(tis_by_state.values()),
        "history_start": oldest_start.isoformat(),
        "seed_seconds": round(seconds, 1),
        "run_rows": run_rows,  # [dag_id, run_id, state]
        "mapped_task_rows": mapped_task_rows,  # [dag_id, run_id, task_id, state, run state]
    }


def main() -> None:
    """Seed (or, with --continuous-seconds, write runs ending now) and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--mapped-dags", type=int, default=10)
    parser.add_argument("--continuous-seconds", type=float, default=0)
    parser.add_argument("--runs-per-second", type=float, default=2.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.continuous_seconds:
        result = seed_continuously(args.continuous_seconds, args.runs_per_second)
    else:
        result = seed(args.runs, args.hours, args.mapped_dags)
    with open(args.out, "w") as out:
        json.dump(result, out, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
