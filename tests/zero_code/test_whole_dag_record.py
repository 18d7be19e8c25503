"""The record a whole-DAG proxy writes of the tasks it replaced (Airflow side) and its reader and planner
(Dagster side), without a running Airflow: the DAG objects are Airflow's own, the snapshot is built from
the records the REST client would return."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import pytest
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import DAG, task

from airlift_components.airflow_api import DagRecord, TaskRecord
from airlift_components.cli.status import zero_code_lines
from airlift_components.conventions import (
    ORIGINAL_TASKS_DOC_PREFIX,
    PROXIED_DAG_TAG,
    PROXY_MARKER_FIELD,
    PROXY_TARGETS_METADATA_KEY,
)
from airlift_components.core import AirflowInstance, BasicAuthBackend, assets_with_task_mappings
from airlift_components.core.defs_builder import AirflowMappingError, build_defs_from_snapshot
from airlift_components.core.mappings import mapped_assets_in, mappings_by_dag
from airlift_components.core.progress import InstanceProgress, dag_progress
from airlift_components.core.snapshot import AirflowSnapshot
from airlift_components.core.zero_code import (
    OriginalTask,
    ZeroCode,
    ZeroCodeDefinitionError,
    original_tasks,
    plan_zero_code,
)
from airlift_components.formats.zero_code import ZeroCodePayload
from airlift_components.in_airflow.zero_code_relay import doc_md_with_original_tasks, original_tasks_record

PROXY_ID = "DAGSTER_OVERRIDE_orders"
INSTANCE = AirflowInstance(BasicAuthBackend("http://airflow.invalid", "admin", "admin"), name="inst")
ORDER_TOTALS = dg.AssetKey(["warehouse", "order_totals"])


def _dag() -> DAG:
    with DAG("orders", start_date=datetime(2024, 1, 1), schedule=None) as dag:

        @task
        def fan(x: int) -> int:
            return x

        @task(multiple_outputs=True)
        def extract() -> dict:
            return {}

        load = BashOperator(task_id="load", bash_command="true")
        report = BashOperator(task_id="report", bash_command="true", trigger_rule="all_done")
        load >> report
        extract() >> load
        fan.expand(x=[1, 2]) >> report
    return dag


def _proxy(doc_md: str | None) -> TaskRecord:
    return TaskRecord(
        dag_id="orders",
        task_id=PROXY_ID,
        operator="WholeDagProxy",
        doc_md=doc_md,
        template_fields=(PROXY_MARKER_FIELD,),
    )


def _snapshot(doc_md: str | None) -> AirflowSnapshot:
    return AirflowSnapshot(
        instance_name="inst",
        webserver_url="http://airflow.invalid",
        airflow_version="3.3.0",
        api_version="v2",
        fetched_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        dags=(DagRecord(dag_id="orders", tags=(PROXIED_DAG_TAG,), fileloc="/dags/orders.py"),),
        tasks={"orders": (_proxy(doc_md),)},
        proxied_task_ids={"orders": (PROXY_ID,)},
    )


def test_record_lists_tasks_in_topological_order_and_reads_back_as_written() -> None:
    record = original_tasks_record(list(_dag().task_dict.values()))
    doc_md = doc_md_with_original_tasks("Orders.", record)
    # Writing twice keeps one record line, after the user's own text.
    assert doc_md_with_original_tasks(doc_md, record) == doc_md
    assert doc_md.startswith("Orders.\n\n" + ORIGINAL_TASKS_DOC_PREFIX)
    tasks = original_tasks(_proxy(doc_md), instance_name="inst", dag_id="orders")
    assert tasks is not None
    order = [t.task_id for t in tasks]
    assert order.index("extract") < order.index("load") < order.index("report")
    assert order.index("fan") < order.index("report")
    by_id = {t.task_id: t for t in tasks}
    assert by_id["load"] == OriginalTask(
        "load", "airflow.providers.standard.operators.bash.BashOperator", ("extract",), False
    )
    assert by_id["report"].upstream_task_ids == ("fan", "load")
    assert by_id["report"].trigger_rule == "all_done"
    assert by_id["fan"].is_mapped is True
    assert by_id["fan"].operator.endswith("._PythonDecoratedOperator")
    assert original_tasks(_proxy("no record here"), instance_name="inst", dag_id="orders") is None


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("{not json", "not valid JSON"),
        ('{"task_id": "a"}', "expected a JSON list"),
        ('[{"task_id": "a"}]', "operator must be a non-empty string"),
        ('[{"task_id": "a", "operator": "m.X", "upstream_task_ids": ["ghost"]}]', "['ghost']"),
    ],
)
def test_malformed_record_fails_naming_instance_dag_and_proxy_task(line: str, detail: str) -> None:
    with pytest.raises(ZeroCodeDefinitionError) as raised:
        original_tasks(_proxy(ORIGINAL_TASKS_DOC_PREFIX + line), instance_name="inst", dag_id="orders")
    assert f"inst/orders.{PROXY_ID}" in str(raised.value)
    assert detail in str(raised.value)


def test_whole_dag_plan_gives_every_task_an_asset_as_dag_targets_with_deps_between_them() -> None:
    with DAG("orders", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        extract = BashOperator(task_id="extract", bash_command="true")
        extract >> BashOperator(task_id="load", bash_command="true")
    doc_md = doc_md_with_original_tasks(None, original_tasks_record(list(dag.task_dict.values())))
    plan = plan_zero_code(_snapshot(doc_md), ZeroCode(dags=["orders"]), {})
    assert [(t.task_id, t.whole_dag, t.upstream_task_ids) for t in plan.tasks] == [
        ("extract", True, ()),
        ("load", True, ("extract",)),
    ]
    keys = [dg.AssetKey(["inst", "task", "orders", task_id]) for task_id in ("extract", "load")]
    assert plan.whole_dag_keys() == {"orders": keys}
    # No task-level proxy relays these tasks; the sensor treats them as DAG-mapped.
    assert plan.task_ids_by_dag() == {}
    assert [asset.dag_ids for asset in plan.mapped_assets()] == [("orders",), ("orders",)]


def test_whole_dag_with_branch_trigger_rule_or_dag_mapped_assets_fails_naming_each() -> None:
    with DAG("orders", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "load")
        choose >> BashOperator(task_id="load", bash_command="true", trigger_rule="one_success")
    doc_md = doc_md_with_original_tasks(None, original_tasks_record(list(dag.task_dict.values())))
    with pytest.raises(ZeroCodeDefinitionError) as raised:
        plan_zero_code(
            _snapshot(doc_md), ZeroCode(dags=["orders"]), {}, {"orders": [dg.AssetKey("orders_table")]}
        )
    message = str(raised.value)
    assert "inst/orders.choose (airflow.providers.standard.operators.python.BranchPythonOperator)" in message
    assert "branch" in message.lower()
    assert "inst/orders.load" in message and "'one_success'" in message
    assert "DAG-mapped assets [orders_table]" in message


def _extract_load_report() -> str:
    """The record of ``extract >> load >> report`` (three Bash tasks)."""
    with DAG("orders", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        extract = BashOperator(task_id="extract", bash_command="true")
        (
            extract
            >> BashOperator(task_id="load", bash_command="true")
            >> BashOperator(task_id="report", bash_command="true")
        )
    return doc_md_with_original_tasks(None, original_tasks_record(list(dag.task_dict.values())))


def _task_key(task_id: str) -> dg.AssetKey:
    return dg.AssetKey(["inst", "task", "orders", task_id])


def test_task_mapping_onto_a_recorded_task_is_its_zero_code_asset_with_recorded_deps_and_a_dag_target() -> (
    None
):
    mapped = assets_with_task_mappings(
        "orders", {"load": [dg.AssetSpec(ORDER_TOTALS, description="Totals.")]}
    )
    defs = build_defs_from_snapshot(
        _snapshot(_extract_load_report()),
        dg.Definitions(assets=mapped),
        airflow_instance=INSTANCE,
        zero_code=ZeroCode(dags=["orders"]),
    )
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    # `load` runs as the user's key (the spec made executable); its default key does not exist.
    assert _task_key("load") not in keys
    totals = graph.get(ORDER_TOTALS)
    assert totals.is_materializable and totals.description == "Totals."
    assert defs.resolve_assets_def(ORDER_TOTALS).op.name.startswith("inst__orders__load__")
    # Deps follow the record: extract -> order_totals -> report.
    assert totals.parent_keys == {_task_key("extract")}
    assert graph.get(_task_key("report")).parent_keys == {ORDER_TOTALS}
    # The DAG proxy launches all three in its one run; no task proxy relays `load`; the DAG asset hangs
    # off the last task only (the mapped asset's deps include its recorded upstream task).
    dag_key = dg.AssetKey(["inst", "dag", "orders"])
    targets = graph.get(dag_key).metadata[PROXY_TARGETS_METADATA_KEY].value
    assert targets["dag"] == [
        list(_task_key("extract").path),
        list(ORDER_TOTALS.path),
        list(_task_key("report").path),
    ]
    assert targets["tasks"] == {"load": [list(ORDER_TOTALS.path)]} and "zero_code" not in targets
    assert graph.get(dag_key).parent_keys == {_task_key("report")}


def test_yaml_task_mapping_onto_a_recorded_task_is_its_zero_code_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The component's `task_mappings` take the same path: the inline spec becomes the task's asset."""
    from dagster.components.core.component_tree import ComponentTree

    from airlift_components import AirflowInstanceComponent

    monkeypatch.setenv("ZC_RECORD_PASSWORD", "unused")
    component = AirflowInstanceComponent.resolve_from_dict(
        {
            "name": "inst",
            "auth": {
                "webserver_url": "http://airflow.invalid",
                "username": "admin",
                "password_env": "ZC_RECORD_PASSWORD",
            },
            "mappings": [
                {
                    "dag_id": "orders",
                    "task_mappings": [{"task_id": "load", "assets": [{"key": "warehouse/order_totals"}]}],
                }
            ],
            "zero_code": {"dags": ["orders"]},
        }
    )
    state = tmp_path / "state"
    state.write_text(_snapshot(_extract_load_report()).model_dump_json())
    graph = component.build_defs_from_state(
        ComponentTree.for_test().load_context, state
    ).resolve_asset_graph()
    assert _task_key("load") not in graph.get_all_asset_keys()
    assert graph.get(ORDER_TOTALS).is_materializable
    assert graph.get(ORDER_TOTALS).parent_keys == {_task_key("extract")}
    assert graph.get(_task_key("report")).parent_keys == {ORDER_TOTALS}


def test_task_mapping_onto_a_task_neither_listed_nor_recorded_fails_naming_instance_dag_and_task() -> None:
    mapped = assets_with_task_mappings("orders", {"ghost": [dg.AssetSpec(ORDER_TOTALS)]})
    with pytest.raises(AirflowMappingError) as raised:
        build_defs_from_snapshot(
            _snapshot(_extract_load_report()),
            dg.Definitions(assets=mapped),
            airflow_instance=INSTANCE,
            zero_code=ZeroCode(dags=["orders"]),
        )
    message = str(raised.value)
    assert "task 'ghost' of DAG 'orders' of Airflow instance 'inst', which has no such task" in message
    assert "its tasks, as its proxy records them: extract, load, report" in message
    # Not zero-code: the recorded task is not in Airflow's listing, and the message says what to do.
    mapped = assets_with_task_mappings("orders", {"load": [dg.AssetSpec(ORDER_TOTALS)]})
    with pytest.raises(AirflowMappingError) as raised:
        build_defs_from_snapshot(
            _snapshot(_extract_load_report()), dg.Definitions(assets=mapped), airflow_instance=INSTANCE
        )
    assert "task 'load' of DAG 'orders', which Airflow instance 'inst' runs proxied as a whole" in str(
        raised.value
    )
    assert "assets_with_dag_mappings" in str(raised.value)


def test_status_of_a_whole_dag_counts_zero_code_eligibility_over_its_recorded_tasks_naming_why_not() -> None:
    with DAG("orders", start_date=datetime(2024, 1, 1), schedule=None) as dag:
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "load")
        load = BashOperator(task_id="load", bash_command="true")
        choose >> load >> BashOperator(task_id="report", bash_command="true", trigger_rule="all_done")
    snapshot = _snapshot(
        doc_md_with_original_tasks(None, original_tasks_record(list(dag.task_dict.values())))
    )
    mapping = mappings_by_dag(
        mapped_assets_in(
            dg.Definitions(assets=assets_with_task_mappings("orders", {"load": [dg.AssetSpec(ORDER_TOTALS)]}))
        )
    )["orders"]
    progress = dag_progress(snapshot, "orders", mapping)
    # The counts stay Airflow's listing (the one proxy task); eligibility is about the recorded tasks.
    assert progress.counts() == {"tasks": 1, "mapped": 0, "proxied": 1, "left": 0}
    assert (progress.zero_code_eligible, len(progress.zero_code_tasks)) == (1, 3)
    by_id = {t.task_id: t for t in progress.original_tasks}
    assert by_id["load"].zero_code == "bash" and by_id["load"].mapped_assets == ("warehouse/order_totals",)
    assert all(t.proxied for t in progress.original_tasks)
    lines = zero_code_lines([InstanceProgress("inst", "http://airflow.invalid", [progress])])
    assert (
        lines[0]
        == "- inst/orders: 1/3 tasks zero-code eligible (proxied as a whole: the tasks its proxy records)"
    )
    assert lines[1].startswith(
        "    - choose (airflow.providers.standard.operators.python.BranchPythonOperator): "
    )
    assert "branch" in lines[1].lower()
    assert lines[2].startswith(
        "    - report (airflow.providers.standard.operators.bash.BashOperator): trigger rule"
    )
    assert "'all_done'" in lines[2] and len(lines) == 3
    details = progress.to_json()
    assert (details["zero_code_eligible"], details["zero_code_tasks"]) == (1, 3)
    assert [t["task_id"] for t in details["original_tasks"]] == ["choose", "load", "report"]
    assert [t["task_id"] for t in details["task_details"]] == [PROXY_ID]


def _load_payload(upstream_xcoms: dict[str, dict[str, object]]) -> ZeroCodePayload:
    """The payload of task ``load`` of run ``manual__1`` of DAG ``orders``, with these same-run XComs."""
    return ZeroCodePayload(
        dag_id="orders",
        task_id="load",
        run_id="manual__1",
        dags_folder="/dags",
        dag_file="orders.py",
        upstream_xcoms=upstream_xcoms,
    )


def test_runner_answers_xcom_reads_of_same_run_tasks_from_the_payload_without_airflow() -> None:
    """The Execution-API stand-in serves ``upstream_xcoms`` (no REST client given: Airflow is never asked)."""
    import httpx

    from airlift_components.in_airflow.zero_code.execution_api import ExecutionApiStandIn

    stand_in = ExecutionApiStandIn(
        _load_payload({"extract": {"return_value": {"total": 3}, "total": 3}}), rest=None
    )

    def ask(method: str, path: str) -> httpx.Response:
        return stand_in(httpx.Request(method, f"http://runner.invalid{path}"))

    assert ask("GET", "/xcoms/orders/manual__1/extract/total").json() == {"key": "total", "value": 3}
    assert ask("GET", "/xcoms/orders/manual__1/extract/return_value").json()["value"] == {"total": 3}
    assert ask("GET", "/xcoms/orders/manual__1/extract/absent").status_code == 404
    assert ask("HEAD", "/xcoms/orders/manual__1/extract/total").headers["Content-Range"] == "map_indexes 1"
    # Another DAG run's XCom of the same task id is not this run's: it would be read from Airflow.
    with pytest.raises(LookupError):
        ask("GET", "/xcoms/orders/manual__2/extract/total")


def test_xcoms_of_dag_tasks_that_did_not_run_in_this_run_are_answered_empty_never_from_airflow() -> None:
    """A whole-DAG run: a task that pushed answers its XComs from its result observation; a sibling that did
    not run (skipped, not yet run) answers none from the run, and the runner never asks Airflow for it."""
    from airlift_components.conventions import ZERO_CODE_RESULT_METADATA_KEY
    from airlift_components.core.zero_code_run import ZeroCodeTaskRun, run_xcoms
    from airlift_components.formats.zero_code import RelayedXCom, ZeroCodeResult
    from airlift_components.in_airflow.zero_code.execution_api import ExecutionApiStandIn

    extract_key, sibling_key = dg.AssetKey(["inst", "extract"]), dg.AssetKey(["inst", "sibling"])
    pushed = ZeroCodeResult(state="success", xcoms=(RelayedXCom("total", 3),))

    @dg.asset(key=extract_key)
    def extract(context) -> None:  # noqa: ANN001 - Dagster reads the annotation, a string here
        context.log_event(
            dg.AssetObservation(
                asset_key=extract_key,
                metadata={ZERO_CODE_RESULT_METADATA_KEY: json.dumps(pushed.to_json())},
            )
        )

    instance = dg.DagsterInstance.ephemeral()
    run = dg.materialize([extract], instance=instance)
    task = ZeroCodeTaskRun(
        instance_name="inst",
        dag_id="orders",
        task_id="load",
        dag_fileloc=None,
        keys=(dg.AssetKey(["inst", "load"]),),
        settings=ZeroCode(dags=["orders"]),
        dag_tasks={"extract": extract_key, "sibling": sibling_key},
    )
    upstream = run_xcoms(instance, run.run_id, task)
    assert upstream == {"extract": {"total": 3}, "sibling": {}}

    import httpx

    stand_in = ExecutionApiStandIn(
        _load_payload(upstream), rest=None
    )  # no REST client: asking Airflow would raise
    answer = stand_in(
        httpx.Request("GET", "http://runner.invalid/xcoms/orders/manual__1/sibling/return_value")
    )
    assert answer.status_code == 404
