"""``benchmarks.run``'s ours/theirs ratios, from results shaped as the scenario processes write them."""

from __future__ import annotations

from typing import Any

from benchmarks.report import uncached_load_side_by_side
from benchmarks.run import uncached_load_pair


def _row(median_s: float, requests: int = 22) -> dict[str, Any]:
    return {"median_s": median_s, "min_s": median_s, "max_s": median_s, "requests": requests, "samples": 10}


def test_uncached_load_ratio_comes_from_the_alternating_measurement_when_the_json_has_one() -> None:
    ours = {"uncached_defs_load": _row(4.3)}
    theirs = {"uncached_defs_load": _row(3.6)}
    assert uncached_load_pair(ours, theirs) == (_row(4.3), _row(3.6))

    ours["uncached_defs_load_side_by_side"] = {"ours": _row(3.9), "theirs": _row(4.2)}
    assert uncached_load_pair(ours, theirs) == (_row(3.9), _row(4.2))


def test_report_names_both_packages_alternating_loads_and_says_the_ratio_comes_from_them() -> None:
    machine = {"load_avg_1_5_15": [1.0, 1.0, 1.0], "cpus": 2}
    text = uncached_load_side_by_side(
        {"ours": _row(3.9), "theirs": _row(4.2), "machine": {"before": machine, "after": machine}}, "2.11.2"
    )
    assert "ours 3.90 s (3.90–3.90), 22 req" in text
    assert "dagster-airlift 4.20 s (4.20–4.20), 22 req" in text
    assert "10 loads each" in text and "ratio for that row comes from here" in text
