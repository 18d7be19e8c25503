"""What ``benchmarks/proxied_overhead.py`` relies on when it measures a proxied task's overhead (Airflow
task duration minus Dagster run duration): each proxied try launches exactly one Dagster run, tagged with
the Airflow run and try, which executes inside the Airflow task's window, and the operator logs one
request summary whose step timings fit in the task's duration. Speed itself is measured by the benchmark."""

from __future__ import annotations

import pytest

from tests.in_airflow.harness import overhead_sample, run_proxied_try

pytestmark = pytest.mark.timeout(600)
# The summary prints each of its three step timings to 0.01 s: their sum may read up to 0.015 s high.
SUMMARY_ROUNDING_S = 3 * 0.005


def test_each_proxied_try_launches_one_tagged_run_inside_the_task_and_logs_its_timings(
    proxy_airflow3, dagster
):
    for _ in range(2):
        proxied = run_proxied_try(proxy_airflow3, dagster, "proxy_bench", "work")
        run, ti = proxied.dag_run, proxied.task_instance
        assert run.state == "success"
        assert (ti.state, ti.try_number) == ("success", 1)

        (dagster_run,) = proxied.dagster_runs
        assert dagster_run.status == "SUCCESS"
        assert {key: dagster_run.tags.get(key) for key in ("airlift/dag_id", "airlift/dag_run_id")} == {
            "airlift/dag_id": "proxy_bench",
            "airlift/dag_run_id": run.run_id,
        }
        assert (dagster_run.tags.get("airlift/task_id"), dagster_run.tags.get("airlift/try_number")) == (
            "work",
            "1",
        )

        # The Dagster run was created, started and ended inside the Airflow task's start..end.
        assert ti.start_date is not None and ti.end_date is not None
        assert proxied.dagster_run_created_s is not None
        assert dagster_run.start_time is not None and dagster_run.end_time is not None
        assert (
            ti.start_date.timestamp()
            <= proxied.dagster_run_created_s
            <= dagster_run.start_time
            <= dagster_run.end_time
            <= ti.end_date.timestamp()
        )

        # One summary: lookup, launch and at least one poll; its steps fit in the task's duration.
        (summary,) = proxied.summaries
        assert summary.requests >= 3
        task_s = (ti.end_date - ti.start_date).total_seconds()
        assert summary.lookup_s + summary.launch_s + summary.wait_s <= task_s + SUMMARY_ROUNDING_S

        sample = overhead_sample(proxied)
        assert sample["graphql_requests"] == summary.requests
        assert sample["overhead_s"] == round(task_s - (dagster_run.end_time - dagster_run.start_time), 2)
