"""Print the README's results table (markdown) from ``benchmarks/results/*.json``.

python -m benchmarks.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _time(row: dict[str, Any] | None, requests: bool = True) -> str:
    if not row:
        return "–"
    text = f"{row['median_s']:.2f} s ({row['min_s']:.2f}–{row['max_s']:.2f})"
    return f"{text}, {row['requests']} req" if requests else text


def _catch_up(row: dict[str, Any] | None) -> str:
    if not row:
        return "–"
    expected = sum(row["expected_events"].values())
    match = "= truth" if row["events_match_ground_truth"] else f"**≠ truth ({expected})**"
    ticks = f"{row['ticks']} tick" + ("s" if row["ticks"] != 1 else "")
    return (
        f"{row['wall_s']:.0f} s, {row['requests']} req, {ticks}, "
        f"{sum(row['events'].values())} events {match}; {row['events_per_s']:.0f} ev/s end to end, "
        f"{row['events_per_s_sensor_only']:.0f} ev/s without Dagster's storage writes"
    )


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(af3: dict[str, Any], af2: dict[str, Any]) -> str:
    """One markdown table: ours on Airflow 3, ours and dagster-airlift on Airflow 2, ratios."""
    ours3, ours2, ref = af3.get("ours", {}), af2.get("ours", {}), af2.get("dagster_airlift", {})
    ratios = af2.get("ratios_ours_over_dagster_airlift", {})
    head = (
        f"| scenario | ours, Airflow {af3.get('airflow_version', '?')} | ours, Airflow {af2.get('airflow_version', '?')} "
        f"| dagster-airlift 0.29.27, Airflow {af2.get('airflow_version', '?')} | ours/theirs (time, requests) |"
    )
    rows = [head, "| --- | --- | --- | --- | --- |"]

    def row(label: str, key: str, ratio_key: str | None = None) -> None:
        ratio = ratios.get(ratio_key or "", {})
        both = f"{_ratio(ratio.get('time'))}, {_ratio(ratio.get('requests'))}" if ratio else "–"
        rows.append(
            f"| {label} | {_time(ours3.get(key))} | {_time(ours2.get(key))} | {_time(ref.get(key))} | {both} |"
        )

    row("1. snapshot refresh (10 mapped DAGs)", "refresh")
    row("1. peering only (no mappings)", "refresh_peering_only")
    row("1. uncached definitions load", "uncached_defs_load", "refresh (uncached defs load)")
    row("2. cached definitions load", "cached_load", "cached_load")
    catch = ratios.get("catch_up", {})
    rows.append(
        f"| 3. sensor catch-up | {_catch_up(ours3.get('catch_up'))} | {_catch_up(ours2.get('catch_up'))} "
        f"| {_catch_up(ref.get('catch_up'))} | {_ratio(catch.get('time'))}, {_ratio(catch.get('requests'))} |"
    )
    row("4. idle tick", "idle_tick", "idle_tick")
    row("5. latency, task end → stored (1 s sensor)", "latency")
    overhead = af3.get("proxied_overhead")
    rows.append(
        "| 6. proxied task overhead | "
        + (
            f"{overhead['median_overhead_s']:.2f} s (median of {len(overhead['samples'])})"
            if overhead
            else "–"
        )
        + " | – | – | – |"
    )
    rss = [d.get("peak_rss_mb_scenarios_1_3") for d in (ours3, ours2, ref)]
    rows.append(
        "| 7. peak RSS, scenarios 1–3 | "
        + " | ".join("–" if v is None else f"{v:.0f} MiB" for v in rss)
        + " | – |"
    )
    return "\n".join(rows)


def main() -> None:
    """Print the table for the newest Airflow 3 and Airflow 2 results."""
    results = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS.glob("[0-9]*.json"))}
    af3 = next((r for v, r in results.items() if v.startswith("3.")), {})
    af2 = next((r for v, r in results.items() if v.startswith("2.")), {})
    print(table(af3, af2))


if __name__ == "__main__":
    main()
