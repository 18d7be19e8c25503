"""The zero-code payload/result files (one writer, one reader each) and the eligibility classifier:
pure, no Airflow needed. Plus: these modules import neither framework, and the runner imports without dagster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airlift_components.formats.zero_code import (
    RelayedXCom,
    ZeroCodeFormatError,
    ZeroCodePayload,
    ZeroCodeResult,
)
from airlift_components.formats.zero_code_eligibility import classify_task

REPO = Path(__file__).resolve().parents[2]

PAYLOAD = ZeroCodePayload(
    instance_name="shop_airflow",
    dag_id="orders",
    task_id="load",
    run_id="scheduled__2024-03-05T00:00:00+00:00",
    logical_date="2024-03-05T00:00:00+00:00",
    data_interval_start="2024-03-05T00:00:00+00:00",
    data_interval_end="2024-03-06T00:00:00+00:00",
    run_type="scheduled",
    try_number=2,
    conf={"who": "me"},
    dags_folder="/opt/airflow/dags",
    dag_file="orders.py",
    env_vars=("AIRFLOW_CONN_WAREHOUSE",),
)


def test_payload_round_trips_through_its_file(tmp_path: Path) -> None:
    PAYLOAD.write(tmp_path / "p.json")
    assert ZeroCodePayload.read(tmp_path / "p.json") == PAYLOAD
    assert PAYLOAD.dag_path == Path("/opt/airflow/dags/orders.py")


def test_payload_with_a_null_logical_date_round_trips(tmp_path: Path) -> None:
    manual = ZeroCodePayload(
        dag_id="d", task_id="t", run_id="manual__x", dags_folder="/d", dag_file="/d/f.py"
    )
    manual.write(tmp_path / "p.json")
    read = ZeroCodePayload.read(tmp_path / "p.json")
    assert (read.logical_date, read.data_interval_start, read.dag_path) == (None, None, Path("/d/f.py"))


def test_result_round_trips_through_its_file(tmp_path: Path) -> None:
    result = ZeroCodeResult(
        state="success",
        xcoms=(RelayedXCom("return_value", {"a": [1, 2]}), RelayedXCom("extra", "x")),
        rendered_fields={"bash_command": "echo 1"},
        duration_seconds=0.25,
    )
    result.write(tmp_path / "r.json")
    read = ZeroCodeResult.read(tmp_path / "r.json")
    assert read == result
    assert read.xcom("extra") == "x"
    with pytest.raises(KeyError, match="pushed: \\['return_value', 'extra'\\]"):
        read.xcom("missing")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_id": ""}, "task_id must be a non-empty string"),
        ({"logical_date": "yesterday"}, "logical_date must be an ISO 8601 timestamp"),
        ({"logical_date": "2024-03-05T00:00:00"}, "logical_date must be a timestamp with a time zone"),
        ({"try_number": 0}, "try_number must be an integer >= 1"),
        ({"conf": [1]}, "conf must be a JSON object"),
        ({"env_vars": "AIRFLOW_CONN_X"}, "env_vars must be a list of environment variable names"),
        ({"data_interval_end": None}, "must be given together"),
        ({"format": 99}, "format 99 is not supported"),
    ],
)
def test_bad_payload_names_the_file_and_the_field(tmp_path: Path, change: dict, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(__import__("json").dumps({**PAYLOAD.to_json(), **change}))
    with pytest.raises(ZeroCodeFormatError, match=message) as raised:
        ZeroCodePayload.read(path)
    assert str(path) in str(raised.value)


def test_bad_result_state_and_unreadable_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"state": "up_for_retry"}')
    with pytest.raises(ZeroCodeFormatError, match="state must be one of"):
        ZeroCodeResult.read(path)
    path.write_text("{not json")
    with pytest.raises(ZeroCodeFormatError, match="is not valid JSON"):
        ZeroCodeResult.read(path)
    with pytest.raises(ZeroCodeFormatError, match="cannot read"):
        ZeroCodeResult.read(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("operator_class", "module", "kind"),
    [
        ("PythonOperator", "airflow.providers.standard.operators.python", "python"),
        ("_PythonDecoratedOperator", "airflow.providers.standard.decorators.python", "python"),
        ("BashOperator", "airflow.providers.standard.operators.bash", "bash"),
        ("SQLExecuteQueryOperator", "airflow.providers.common.sql.operators.sql", "sql"),
        ("ExportCustomersOperator", "plugins.shop_operators", "operator"),
    ],
)
def test_work_doing_operators_are_eligible_with_their_kind(
    operator_class: str, module: str, kind: str
) -> None:
    verdict = classify_task(operator_class=operator_class, operator_module=module)
    assert (verdict.eligible, verdict.kind, verdict.reason) == (True, kind, None)


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (
            {
                "operator_class": "FileSensor",
                "operator_module": "airflow.providers.standard.sensors.filesystem",
            },
            "sensor",
        ),
        ({"operator_class": "DatasetCheck", "base_classes": ["airflow.sdk.BaseSensorOperator"]}, "sensor"),
        ({"operator_class": "BranchPythonOperator"}, "branch"),
        ({"operator_class": "_BranchPythonDecoratedOperator"}, "branch"),
        ({"operator_class": "ShortCircuitOperator"}, "short-circuit"),
        ({"operator_class": "TriggerDagRunOperator"}, "starts another Airflow DAG run"),
        ({"operator_class": "LatestOnlyOperator"}, "LatestOnlyOperator"),
        ({"operator_class": "PythonOperator", "is_mapped": True}, "mapped"),
        ({"operator_class": "ExportOperator", "deferrable": True}, "deferrable"),
        ({"operator_class": "HttpOperator", "airflow_major": 2}, "only Python, Bash and SQL"),
        (
            {
                "operator_class": "DefaultProxyTaskToDagsterOperator",
                "operator_module": "airlift_components.in_airflow.default_operators",
            },
            "airlift proxy operator",
        ),
    ],
)
def test_control_flow_and_unsupported_tasks_are_refused_with_a_reason(facts: dict, reason: str) -> None:
    verdict = classify_task(**facts)
    assert not verdict.eligible and verdict.kind == "refused"
    assert reason in (verdict.reason or "")
    message = verdict.message(instance_name="shop", dag_id="orders", task_id="wait")
    assert message.startswith(f"shop/orders.wait ({facts.get('operator_module', '')}")
    assert facts["operator_class"] in message


def test_python_and_bash_stay_eligible_on_airflow2() -> None:
    assert classify_task(operator_class="BashOperator", airflow_major=2).eligible
    assert classify_task(operator_class="PythonOperator", airflow_major=2).eligible


_BLOCK = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith(BLOCKED):
            raise ImportError(name + " is blocked in this test")
sys.meta_path.insert(0, Block())
{body}
leaked = sorted(m for m in sys.modules if m.split(".")[0].startswith(BLOCKED))
assert not leaked, leaked
print("OK")
"""


def _python(script: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")} | {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_zero_code_formats_import_neither_dagster_nor_airflow() -> None:
    body = (
        "from airlift_components.formats.zero_code import ZeroCodePayload, ZeroCodeResult\n"
        "from airlift_components.formats.zero_code_eligibility import classify_task\n"
        "assert classify_task(operator_class='BashOperator').eligible"
    )
    result = _python(_BLOCK.format(blocked=("dagster", "airflow"), body=body))
    assert result.returncode == 0, result.stderr[-3000:]


def test_zero_code_runner_imports_with_dagster_blocked() -> None:
    body = (
        "import airlift_components.in_airflow.zero_code as zc\n"
        "import airlift_components.in_airflow.zero_code.__main__\n"
        "import airlift_components.in_airflow.zero_code.execution_api\n"
        "assert zc.run_task"
    )
    result = _python(_BLOCK.format(blocked=("dagster",), body=body))
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("airflow_major", [3, 2])
@pytest.mark.parametrize("operator_class", ["EmptyOperator", "DummyOperator"])
def test_empty_operators_are_eligible_as_kind_empty(operator_class: str, airflow_major: int) -> None:
    # The start/end markers of many DAGs: a whole-DAG proxy with them can still run zero-code.
    verdict = classify_task(operator_class=operator_class, airflow_major=airflow_major)
    assert verdict.eligible and verdict.kind == "empty"
