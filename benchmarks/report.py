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


def _is_reference(data: dict[str, Any]) -> bool:
    return str(data.get("implementation", "")).startswith("dagster-airlift")


def _column_title(data: dict[str, Any], impl: str) -> str:
    name = "ours" if impl == "ours" else "dagster-airlift 0.29.27"
    return f"{name}, Airflow {data.get('airflow_version', '?')}"


def table(columns: list[tuple[str, dict[str, Any]]], overhead: dict[str, Any], ratios: dict[str, Any]) -> str:
    """One markdown table: a column per (title, one package's results), then ours/theirs ratios if given."""
    rows = [
        "| scenario | " + " | ".join(title for title, _ in columns) + " | ours/theirs (time, requests) |",
        "| --- |" + " --- |" * (len(columns) + 1),
    ]

    def row(label: str, key: str, ratio_key: str | None = None, ref_key: str | None = None) -> None:
        ratio = ratios.get(ratio_key or "", {})
        both = f"{_ratio(ratio.get('time'))}, {_ratio(ratio.get('requests'))}" if ratio else "–"
        cells = [_time(data.get((ref_key or key) if _is_reference(data) else key)) for _, data in columns]
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {both} |")

    row("1. snapshot refresh (mapped DAGs as in the size)", "refresh")
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
    both = f"{_ratio(catch.get('time'))}, {_ratio(catch.get('requests'))}" if catch else "–"
    rows.append(
        "| 3. sensor catch-up | "
        + " | ".join(_catch_up(data.get("catch_up")) for _, data in columns)
        + f" | {both} |"
    )
    row("4. idle tick", "idle_tick", "idle_tick")
    row("5. latency, task end → stored (1 s sensor; requests: the sensor's per sample)", "latency")
    if overhead:
        modes = overhead.get("modes", {})

        def mode(name: str) -> str:
            data = modes.get(name)
            if not data:
                return "–"
            return f"{data['median_overhead_s']:.2f} s (median of {len(data['samples'])})"

        cells = [
            f"{mode('in_process')} / {mode('dagster_dev_defaults')}"
            if title == f"ours, Airflow {overhead.get('airflow_version')}"
            else "–"
            for title, _ in columns
        ]
        rows.append(
            f"| 6. proxied task overhead, Airflow {overhead['airflow_version']}: in-process executor and default "
            "run coordinator / `dagster dev` defaults | " + " | ".join(cells) + " | – |"
        )
    rss = [data.get("peak_rss_mb_scenarios_1_3") for _, data in columns]
    rows.append(
        "| 7. peak RSS, scenarios 1–3 | "
        + " | ".join("–" if v is None else f"{v:.0f} MiB" for v in rss)
        + " | – |"
    )
    return "\n".join(rows)


def identity_table(columns: list[tuple[str, dict[str, Any]]]) -> str:
    """Per category of Airflow records: how many the database holds and how many each package stored."""
    checks = [(name, data["catch_up"]["identity_check"]) for name, data in columns if data.get("catch_up")]
    rows = [
        "| in Airflow's database (catch-up history) | " + " | ".join(name for name, _ in checks) + " |",
        "| --- |" + " --- |" * len(checks),
    ]
    categories = list(checks[0][1]["by_category"]) if checks else []
    for category in categories:
        counts = [check["by_category"][category] for _, check in checks]
        if not any(c["in_airflow"] for c in counts):
            continue
        cells = [f"{c['stored']} of {c['in_airflow']} stored" for c in counts]
        rows.append(f"| {category} | " + " | ".join(cells) + " |")
    for label in ("lost", "duplicated", "unexpected"):
        rows.append(
            f"| {label}, against the package's own expected set | "
            + " | ".join(str(check[label]) for _, check in checks)
            + " |"
        )
    return "\n".join(rows)


def _history(data: dict[str, Any]) -> str:
    size = data.get("size", {})
    return (
        f"{size.get('dags', '?')} DAGs x {size.get('tasks', '?')} tasks, {size.get('runs', '?'):,} finished runs, "
        f"{size.get('mapped_dags', '?')} DAGs with a mapped task"
    )


def _loads(data: Any) -> list[float]:
    """Every 1-minute load average recorded anywhere in a results JSON."""
    if isinstance(data, dict):
        if "load_avg_1_5_15" in data:
            return [data["load_avg_1_5_15"][0]]
        return [load for value in data.values() for load in _loads(value)]
    if isinstance(data, list):
        return [load for value in data for load in _loads(value)]
    return []


def details(results: dict[str, dict[str, Any]], results_dir: Path = RESULTS) -> str:
    """Numbers the README's prose quotes: load, per-tick times, catch-up split, repeats."""
    lines = []
    for stem, data in results.items():
        loads = _loads(data)
        lines.append(
            f"- {stem}.json (Airflow {data['airflow_version']}, {_history(data)}): machine load {_load(data)}; "
            f"1-minute load averages recorded before/after its scenarios: {min(loads):.1f}–{max(loads):.1f}"
        )
        if data.get("note"):
            lines.append(f"  - note: {data['note']}")
        for impl in ("ours", "dagster_airlift"):
            catch = data.get(impl, {}).get("catch_up")
            if not catch:
                continue
            lines.append(
                f"  - {impl} catch-up: sensor evaluation {catch['sensor_evaluate_s']} s, Dagster storing "
                f"{catch['dagster_store_s']} s, per tick {catch['sensor_evaluate_s_per_tick']} s; "
                f"load {_load(catch)}"
            )
    repeats_path = results_dir / "catch_up_repeats.json"
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
    """Print the full-size table (ours on each Airflow), then each side-by-side run with dagster-airlift."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", default=str(RESULTS))
    results_dir = Path(parser.parse_args().results)
    results = {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("[0-9]*.json"))}
    overhead_path = results_dir / "proxied_overhead.json"
    overhead = json.loads(overhead_path.read_text()) if overhead_path.exists() else {}
    main_runs = [data for stem, data in results.items() if "-runs" not in stem]
    if main_runs:
        print(f"Ours, {_history(main_runs[0])}:\n")
        columns = [(_column_title(data, "ours"), data.get("ours", {})) for data in reversed(main_runs)]
        print(table(columns, overhead, {}))
        print()
        print(identity_table(columns))
        print()
    for data in results.values():
        if not data.get("dagster_airlift"):
            continue
        print(f"Side by side on one Airflow {data['airflow_version']}, {_history(data)}, in one run:\n")
        columns = [(_column_title(data, impl), data[impl]) for impl in ("ours", "dagster_airlift")]
        print(table(columns, {}, data.get("ratios_ours_over_dagster_airlift", {})))
        print()
        print(identity_table(columns))
        print()
    print(details(results, results_dir))


if __name__ == "__main__":
    main()
