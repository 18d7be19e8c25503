"""The tutorial's CSV check, shared by the check stages (Python and YAML forms)."""

from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity


def check_exported_csv(csv_path: Path) -> AssetCheckResult:
    """Fails when ``csv_path`` is missing or has no data rows; passes with the row count otherwise.

    The seed counts ``split("\\n")`` pieces, which passes a header-only file; this counts non-blank lines.
    """
    if not csv_path.exists():
        return AssetCheckResult(passed=False, description=f"Export CSV {csv_path} does not exist")

    lines = [line for line in csv_path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return AssetCheckResult(
            passed=False,
            description=f"Export CSV {csv_path} is empty",
            severity=AssetCheckSeverity.WARN,
        )
    return AssetCheckResult(
        passed=True,
        description=f"Export CSV {csv_path} exists",
        metadata={"rows": len(lines) - 1},  # data rows, without the header
    )
