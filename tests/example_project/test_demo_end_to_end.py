"""`python -m example_project.demo --once` per stage: real Airflow 3, real `dagster dev`, real dbt on DuckDB.

Each test runs the demo on free ports in its own work directory and reads the ``summary.json`` it
writes: who materialized every asset after the first (Airflow-only) run and after the proxied run,
and the exported ``customers.csv``.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from datetime import time as time_of_day
from pathlib import Path

import pytest

from airlift_components.testing.local_airflow import free_port
from example_project.dagster_defs.stages import STAGES
from tests.example_project.conftest import EXAMPLE, REPO

DAG = "airflow_instance_one/dag/rebuild_customers_list"
MAPPED_DAG = "airflow_instance_one/dag/audit_csv_files"
SUMMARY_DAG = "airflow_instance_one/dag/summarize_orders"
DBT = {"stg_customers", "stg_orders", "stg_payments", "customers", "orders", "raw_orders", "raw_payments"}
LOAD, EXPORT = "raw_data/raw_customers", "customers_csv"
BY_AIRFLOW = "Airflow"
PROXIED = "Dagster (proxied from rebuild_customers_list)"
PROXIED_SUMMARY = "Dagster (proxied from summarize_orders)"
# The assets zero-code builds from each task (no mapping, no asset code): <instance>/task/<dag_id>/<task_id>.
ZERO_CODE_TASKS = {
    f"airflow_instance_one/task/rebuild_customers_list/{task}"
    for task in ("load_raw_customers", "build_dbt_models", "export_customers")
}
ZERO_CODE_SUMMARY = {
    f"airflow_instance_one/task/summarize_orders/{task}"
    for task in ("build_order_summary", "export_order_summary")
}


def _expected_final(stage: str) -> dict[str, str]:
    """Who materialized each asset last, per stage, after the demo's second run."""
    if stage == "standalone":
        return {key: "Dagster" for key in (LOAD, EXPORT, *DBT)}
    if stage in {"peer", "peer_with_check"}:
        return {DAG: BY_AIRFLOW, MAPPED_DAG: BY_AIRFLOW}
    if stage == "migrate_zero_code":
        return {
            DAG: BY_AIRFLOW,
            MAPPED_DAG: BY_AIRFLOW,
            SUMMARY_DAG: BY_AIRFLOW,
            **{key: PROXIED for key in ZERO_CODE_TASKS},
            **{key: PROXIED_SUMMARY for key in ZERO_CODE_SUMMARY},
        }
    dbt_side = BY_AIRFLOW if stage == "observe_dag_level" else PROXIED
    edges_side = PROXIED if stage == "migrate_dag_level" else BY_AIRFLOW
    expected = {DAG: BY_AIRFLOW, MAPPED_DAG: BY_AIRFLOW, LOAD: edges_side, EXPORT: edges_side}
    expected.update({key: dbt_side for key in DBT})
    if stage.startswith("migrate"):
        expected.update(
            {SUMMARY_DAG: BY_AIRFLOW, "order_summary": PROXIED_SUMMARY, "order_summary_csv": PROXIED_SUMMARY}
        )
    return expected


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _run_demo(stage: str, form: str, workdir: Path) -> tuple[dict, float, list[int]]:
    ports = [free_port(), free_port()]
    options = ["--airflow-port", str(ports[0]), "--dagster-port", str(ports[1])]
    options += ["--workdir", str(workdir), "--timeout", "900"]
    if stage == "migrate":
        # The README's commands, exactly as users run them (on free ports instead of 8080/3000).
        command = ["make", "demo", "DEMO_ONCE=1", f"STAGE={stage}", f"DEMO_ARGS={' '.join(options)}"]
        command += [f"FORM={form}"] if form != "python" else []
    else:
        command = [sys.executable, "-m", "example_project.demo", "--once", "--stage", stage, "--form", form]
        command += options
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=3000)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"demo failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    print(result.stdout)
    return json.loads((workdir / "summary.json").read_text()), elapsed, ports


def _by_asset(rows: list[dict]) -> dict[str, dict]:
    return {row["asset"]: row for row in rows}


def _assert_customers_csv(path: Path) -> None:
    with (EXAMPLE / "airflow_dags" / "raw_customers.csv").open() as handle:
        raw = {row["id"]: (row["first_name"], row["last_name"]) for row in csv.DictReader(handle)}
    with path.open() as handle:
        exported = {
            row["customer_id"]: (row["first_name"], row["last_name"]) for row in csv.DictReader(handle)
        }
    assert exported == raw  # one row per raw customer, same names, ids 1..100
    assert len(exported) == 100


def _assert_order_summary_csv(lines: list[str]) -> None:
    """One row per order status of the dbt seed, counting every order."""
    with (EXAMPLE / "dbt" / "seeds" / "raw_orders.csv").open() as handle:
        statuses: dict[str, int] = {}
        for row in csv.DictReader(handle):
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    exported = {row["status"]: int(row["number_of_orders"]) for row in csv.DictReader(lines)}
    assert exported == statuses


ALL_STAGES = list(STAGES)
# Each stage boots its own Airflow and `dagster dev` (3-10 minutes on 2 cores). `make test` runs two stages
# end to end: `migrate` (hand-written assets, task-level proxying, through `make demo DEMO_ONCE=1`) and
# `migrate_zero_code` (no asset code; task-level and whole-DAG proxying). The other stages and the YAML
# forms are proven by tests/example_project/test_stages.py, test_component_stages.py and
# tests/core/test_seed_stages.py against the real Airflow, and DAG-level proxying into a real Dagster by
# tests/in_airflow/test_proxying_live.py.
# `make test-e2e` (AIRLIFT_E2E_STAGES=all) runs all nine stages end to end, and every YAML form.
ALL_CASES = [(stage, "python") for stage in ALL_STAGES] + [
    (stage, "yaml") for stage in ALL_STAGES if stage != "standalone"
]
E2E_CASES = (
    ALL_CASES
    if os.environ.get("AIRLIFT_E2E_STAGES") == "all"
    else [
        ("migrate", "python"),
        ("migrate_zero_code", "python"),
    ]
)


@pytest.mark.parametrize(("stage", "form"), E2E_CASES, ids=[f"{stage}-{form}" for stage, form in E2E_CASES])
def test_demo_stage_materializes_each_asset_on_the_right_side(stage: str, form: str, tmp_path: Path) -> None:
    summary, elapsed, ports = _run_demo(stage, form, tmp_path / "demo")
    print(f"demo --once --stage {stage} --form {form}: {elapsed:.0f}s wall time")
    final = _by_asset(summary["final"])
    assert {asset: row["materialized_by"] for asset, row in final.items()} == _expected_final(stage)
    for asset, row in final.items():
        expected_link = (
            f"http://127.0.0.1:{ports[1]}/runs/"
            if row["materialized_by"].startswith("Dagster")
            else (f"http://127.0.0.1:{ports[0]}/dags/")
        )
        assert row["link"].startswith(expected_link), (asset, row["link"])
    if stage != "standalone":
        # Before anything was proxied, Airflow materialized everything mapped to the DAG.
        assert {row["materialized_by"] for row in summary["first_run"]} == {BY_AIRFLOW}
        assert DAG in _by_asset(summary["first_run"])
    if stage not in {"peer", "peer_with_check"}:
        _assert_customers_csv(Path(summary["customers_csv"]))
    if stage == "observe_with_partitions":
        # Two consecutive midnights (Python form: yesterday and today; YAML form: a day earlier), as of when
        # the demo ran them.
        first_date = datetime.fromisoformat(summary["logical_dates"]["first_run"])
        second_date = datetime.fromisoformat(summary["logical_dates"]["second_run"])
        assert second_date - first_date == timedelta(days=1) and second_date.time() == time_of_day(0)
        assert datetime.now(timezone.utc) - second_date < timedelta(days=2, hours=1)
        first = _by_asset(summary["first_run"])
        assert first["customers"]["partition"] == first_date.date().isoformat()
        assert {final[key]["partition"] for key in (LOAD, EXPORT, *DBT)} == {second_date.date().isoformat()}
    if stage == "migrate_zero_code":
        # The tasks' own Airflow code ran in Dagster: same DuckDB tables and CSV as the Airflow-only run,
        # every proxy task succeeded in Airflow, and the DAG-level zero-code run wrote the order summary.
        effects = summary["side_effects"]
        assert effects["match"] is True, effects
        assert effects["proxied_run"] == effects["airflow_run"]
        assert {"duckdb raw_data.raw_customers", "duckdb main.customers", "customers.csv"} <= set(
            effects["proxied_run"]
        )
        assert set(effects["airflow_tasks"].split(", ")) == {
            "load_raw_customers=success",
            "build_dbt_models=success",
            "export_customers=success",
        }
        _assert_order_summary_csv(summary["order_summary_csv"]["lines"])
    else:
        assert "side_effects" not in summary
    if stage in {"peer_with_check", "migrate_with_check"}:
        # The sensor ran validate_exported_csv after Airflow's export, and the CSV passed it.
        assert summary["check"]["status"] == "SUCCEEDED", summary["check"]
    else:
        assert "check" not in summary
    # Every process the demo started is gone: both ports are free again.
    assert all(_port_is_free(port) for port in ports)
