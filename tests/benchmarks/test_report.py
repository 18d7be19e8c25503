"""``python -m benchmarks.report`` prints the README's tables from the committed results JSON, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.report import README_END, README_START, RESULTS, report
from tests.conftest import REPO


def _printed() -> str:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.report"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_report_prints_each_results_files_identity_check_and_load_from_its_json() -> None:
    printed = _printed()
    results = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS.glob("[0-9]*.json"))}
    assert results
    for stem, result in results.items():
        for impl in ("ours", "dagster_airlift"):
            catch_up = result.get(impl, {}).get("catch_up")
            if catch_up is None:
                continue
            check = catch_up["identity_check"]
            assert (
                f"{check['stored']} events: {check['lost']} lost, {check['duplicated']} duplicated, "
                f"{check['unexpected']} unexpected of {check['expected']} expected"
            ) in printed
        assert f"- {stem}.json (Airflow {result['airflow_version']}, {result['size']['dags']} DAGs" in printed


def test_report_prints_the_proxied_overhead_medians_of_both_dagster_modes_from_its_json() -> None:
    overhead = json.loads((RESULTS / "proxied_overhead.json").read_text())
    printed = _printed()
    in_process = overhead["modes"]["in_process"]["median_overhead_s"]
    dev_defaults = overhead["modes"]["dagster_dev_defaults"]["median_overhead_s"]
    assert f"{in_process:.2f} s (median of" in printed
    assert f"{dev_defaults:.2f} s (median of" in printed


def test_readme_benchmark_block_is_exactly_what_the_report_prints_from_the_results() -> None:
    readme = (REPO / "README.md").read_text()
    _, start, rest = readme.partition(README_START)
    block, end, _ = rest.partition(README_END)
    assert start and end, "README lost its generated benchmark block markers"
    assert block.strip() == report().strip(), (
        "README's benchmark block differs from the results JSON: run "
        "`.venv/bin/python -m benchmarks.report --write-readme README.md`"
    )
