"""The zero-code benchmark's pure parts: the corpus summary and the report's rendering of its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import RESULTS, zero_code
from benchmarks.run import zero_code_task_ratios
from benchmarks.zero_code import summarize_corpus


def _task(file: str, task_id: str, kind: str, reason: str | None = None) -> dict[str, str | None]:
    return {"file": file, "dag_id": "d", "task_id": task_id, "operator": "X", "kind": kind, "reason": reason}


def test_corpus_summary_counts_kinds_and_shares_and_lists_each_refused_task_with_its_reason(
    tmp_path: Path,
) -> None:
    dags = tmp_path / "dags"
    sensor = "waits on state that lives in Airflow (sensor); keep it in Airflow (proxied: False)"
    tasks = [
        _task(str(dags / "a.py"), "p1", "python"),
        _task(str(dags / "a.py"), "p2", "python"),
        _task(str(dags / "a.py"), "b", "bash"),
        _task(str(dags / "b.py"), "wait", "refused", sensor),
        _task(str(dags / "b.py"), "start", "empty"),
    ]
    summary = summarize_corpus(tasks, {str(dags / "c.py"): "ImportError: x"}, ["dags"], tmp_path)
    assert (summary["tasks"], summary["eligible"], summary["eligible_share"]) == (5, 4, 0.8)
    # The EmptyOperator is eligible but does no work: the share of tasks that do work leaves it out.
    assert (summary["tasks_doing_work"], summary["eligible_share_of_tasks_doing_work"]) == (4, 0.75)
    assert summary["by_kind"] == {"bash": 1, "empty": 1, "python": 2, "refused": 1}
    assert summary["by_folder"] == {"dags": {"bash": 1, "empty": 1, "python": 2, "refused": 1}}
    assert summary["refused_by_reason"] == {"waits on state that lives in Airflow (sensor)": 1}
    assert [(t["file"], t["task_id"], t["reason"]) for t in summary["refused"]] == [
        ("dags/b.py", "wait", sensor)
    ]
    assert summary["import_errors"] == {"dags/c.py": "ImportError: x"}


def test_report_prints_zero_code_ratios_of_both_runner_modes_runner_phases_and_eligible_share_from_its_json() -> (
    None
):
    data = json.loads((RESULTS / "zero_code.json").read_text())
    printed = zero_code(data)
    overhead, corpus = data["overhead"], data["corpus"]
    assert set(overhead["modes"]) == {"cold", "warm"}
    for measured in overhead["modes"].values():
        for kind in ("python", "bash"):
            ratio = measured["ratio_zero_over_hand"][kind]
            zero = measured["dags"][f"zcb_zero_{kind}"]
            assert f"{zero['median_task_s']:.2f} s ({ratio['task_s']:.2f}x)" in printed
    fast, normal = overhead["runner_phases"]["fast_exit"], overhead["runner_phases"]["normal_exit"]
    assert (
        f"| interpreter exit | {normal['median_interpreter_exit_s']:.2f} s | "
        f"{fast['median_interpreter_exit_s']:.2f} s |"
    ) in printed
    assert f"{corpus['eligible']} of {corpus['tasks']} tasks ({corpus['eligible_share']:.0%})" in printed
    assert f"load {data['machine']['before']['load_avg_1_5_15'][0]:.1f} before" in printed


def test_make_bench_summary_line_reads_the_zero_code_json_layout_the_benchmark_writes() -> None:
    data = json.loads((RESULTS / "zero_code.json").read_text())
    ratios = zero_code_task_ratios(data)
    assert set(ratios) == {"cold", "warm"}
    assert all(set(by_kind) == {"python", "bash"} for by_kind in ratios.values())
    assert (
        ratios["warm"]["python"]
        == data["overhead"]["modes"]["warm"]["ratio_zero_over_hand"]["python"]["task_s"]
    )
