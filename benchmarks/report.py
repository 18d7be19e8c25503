"""Print the README's results tables (markdown) from ``benchmarks/results/*.json``.

python -m benchmarks.report            # full-size results
python -m benchmarks.report --results benchmarks/.work/results/small
"""

from __future__ import annotations

import argparse
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
    check = row["identity_check"]
    ticks = f"{row['ticks']} tick" + ("s" if row["ticks"] != 1 else "")
    caught_up = "" if row["caught_up"] else " (**not caught up**)"
    return (
        f"{row['wall_s']:.0f} s, {row['requests']} req, {ticks}{caught_up}, {check['stored']} events: "
        f"{check['lost']} lost, {check['duplicated']} duplicated, {check['unexpected']} unexpected "
        f"of {check['expected']} expected; {row['events_per_s']:.0f} ev/s end to end, "
        f"{row['events_per_s_sensor_only']:.0f} ev/s without Dagster's storage writes"
    )


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _load(data: dict[str, Any]) -> str:
    machine = data.get("machine")
    if not machine:
        return "not recorded"
    before, after = machine["before"], machine["after"]
    return (
        f"{before['load_avg_1_5_15'][0]:.1f} before, {after['load_avg_1_5_15'][0]:.1f} after "
        f"(1-minute load average, {before['cpus']} CPUs)"
    )


def table(af3: dict[str, Any], af2: dict[str, Any], overhead: dict[str, Any]) -> str:
    """One markdown table: ours on Airflow 3, ours and dagster-airlift on Airflow 2, ratios."""
    ours3, ours2, ref = af3.get("ours", {}), af2.get("ours", {}), af2.get("dagster_airlift", {})
    ratios = af2.get("ratios_ours_over_dagster_airlift", {})
    head = (
        f"| scenario | ours, Airflow {af3.get('airflow_version', '?')} | ours, Airflow {af2.get('airflow_version', '?')} "
        f"| dagster-airlift 0.29.27, Airflow {af2.get('airflow_version', '?')} | ours/theirs (time, requests) |"
    )
    rows = [head, "| --- | --- | --- | --- | --- |"]

    def row(label: str, key: str, ratio_key: str | None = None, ref_key: str | None = None) -> None:
        ratio = ratios.get(ratio_key or "", {})
        both = f"{_ratio(ratio.get('time'))}, {_ratio(ratio.get('requests'))}" if ratio else "–"
        theirs = _time(ref.get(ref_key or key))
        rows.append(f"| {label} | {_time(ours3.get(key))} | {_time(ours2.get(key))} | {theirs} | {both} |")

    mapped = (af3 or af2).get("size", {}).get("mapped_dags", "?")
    row(f"1. snapshot refresh ({mapped} mapped DAGs)", "refresh")
    row("1. peering only (no mappings)", "refresh_peering_only")
    row("1. uncached definitions load (Python API)", "uncached_defs_load", "refresh (uncached defs load)")
    row(
        "2a. cached load: ours, YAML component from its defs state; theirs, reconstruction metadata",
        "cached_load_component_defs_state",
        "cached_load_component_defs_state_vs_their_reconstruction",
        "cached_load_reconstruction",
    )
    row(
        "2b. cached load: both by reconstruction metadata (Python API, what run workers do)",
        "cached_load_reconstruction",
        "cached_load_reconstruction",
    )
    catch = ratios.get("catch_up", {})
    rows.append(
        f"| 3. sensor catch-up | {_catch_up(ours3.get('catch_up'))} | {_catch_up(ours2.get('catch_up'))} "
        f"| {_catch_up(ref.get('catch_up'))} | {_ratio(catch.get('time'))}, {_ratio(catch.get('requests'))} |"
    )
    row("4. idle tick", "idle_tick", "idle_tick")
    row("5. latency, task end → stored (1 s sensor; requests: the sensor's per sample)", "latency")
    modes = overhead.get("modes", {})

    def mode(name: str) -> str:
        data = modes.get(name)
        if not data:
            return "–"
        return f"{data['median_overhead_s']:.2f} s (median of {len(data['samples'])})"

    version = f", Airflow {overhead['airflow_version']}" if overhead else " (no proxied_overhead.json)"
    rows.append(
        f"| 6. proxied task overhead{version}: in-process executor and default run coordinator / "
        f"`dagster dev` defaults | {mode('in_process')} / {mode('dagster_dev_defaults')} | – | – | – |"
    )
    rss = [d.get("peak_rss_mb_scenarios_1_3") for d in (ours3, ours2, ref)]
    rows.append(
        "| 7. peak RSS, scenarios 1–3 | "
        + " | ".join("–" if v is None else f"{v:.0f} MiB" for v in rss)
        + " | – |"
    )
    return "\n".join(rows)


def identity_table(af3: dict[str, Any], af2: dict[str, Any]) -> str:
    """Per category of Airflow records: how many the database holds and how many each package stored."""
    columns = [
        (f"ours, Airflow {af3.get('airflow_version', '?')}", af3.get("ours", {})),
        (f"ours, Airflow {af2.get('airflow_version', '?')}", af2.get("ours", {})),
        (f"dagster-airlift, Airflow {af2.get('airflow_version', '?')}", af2.get("dagster_airlift", {})),
    ]
    columns = [(name, data["catch_up"]["identity_check"]) for name, data in columns if data.get("catch_up")]
    rows = [
        "| in Airflow's database (catch-up history) | " + " | ".join(name for name, _ in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    categories = list(columns[0][1]["by_category"]) if columns else []
    for category in categories:
        counts = [check["by_category"][category] for _, check in columns]
        if not any(c["in_airflow"] for c in counts):
            continue
        cells = [f"{c['stored']} of {c['in_airflow']} stored" for c in counts]
        rows.append(f"| {category} | " + " | ".join(cells) + " |")
    for label in ("lost", "duplicated", "unexpected"):
        rows.append(
            f"| {label}, against the package's own expected set | "
            + " | ".join(str(check[label]) for _, check in columns)
            + " |"
        )
    return "\n".join(rows)


def _loads(data: Any) -> list[float]:
    """Every 1-minute load average recorded anywhere in a results JSON."""
    if isinstance(data, dict):
        if "load_avg_1_5_15" in data:
            return [data["load_avg_1_5_15"][0]]
        return [load for value in data.values() for load in _loads(value)]
    if isinstance(data, list):
        return [load for value in data for load in _loads(value)]
    return []


def details(af3: dict[str, Any], af2: dict[str, Any], results: Path = RESULTS) -> str:
    """Numbers the README's prose quotes: load, per-tick times, catch-up split, repeats."""
    lines = []
    for data in (af3, af2):
        if not data:
            continue
        loads = _loads(data)
        lines.append(
            f"- Airflow {data['airflow_version']}: machine load {_load(data)}; 1-minute load averages recorded "
            f"before/after its scenarios: {min(loads):.1f}–{max(loads):.1f}"
        )
        for impl in ("ours", "dagster_airlift"):
            catch = data.get(impl, {}).get("catch_up")
            if not catch:
                continue
            lines.append(
                f"  - {impl} catch-up: sensor evaluation {catch['sensor_evaluate_s']} s, Dagster storing "
                f"{catch['dagster_store_s']} s, per tick {catch['sensor_evaluate_s_per_tick']} s; "
                f"load {_load(catch)}"
            )
    repeats_path = results / "catch_up_repeats.json"
    if repeats_path.exists():
        repeats = json.loads(repeats_path.read_text())
        for version, data in repeats.items():
            if isinstance(data, dict) and "samples" in data:
                walls = ", ".join(f"{s['wall_s']:.1f}" for s in data["samples"])
                lines.append(
                    f"- catch-up repeats, Airflow {version}: {walls} s (median {data['median_wall_s']:.1f} s)"
                )
    return "\n".join(lines)


def main() -> None:
    """Print the tables for the newest Airflow 3 and Airflow 2 results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", default=str(RESULTS))
    results_dir = Path(parser.parse_args().results)
    results = {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("[0-9]*.json"))}
    af3 = next((r for v, r in results.items() if v.startswith("3.")), {})
    af2 = next((r for v, r in results.items() if v.startswith("2.")), {})
    overhead_path = results_dir / "proxied_overhead.json"
    overhead = json.loads(overhead_path.read_text()) if overhead_path.exists() else {}
    print(table(af3, af2, overhead))
    print()
    print(identity_table(af3, af2))
    print()
    print(details(af3, af2, results_dir))


if __name__ == "__main__":
    main()
