"""``python -m airlift_components.in_airflow.zero_code <payload.json> <result.json>``.

Exit codes: 0 the task succeeded or was skipped, 1 the task failed, 2 the task could not be run
(bad payload, refused kind, missing environment, Airflow's REST API refused or unreachable). A result file is written in every case but a
missing or unwritable result path; the error text in it never carries secret values.
"""

from __future__ import annotations

import sys

from airlift_components.formats.zero_code import ZeroCodeFormatError, ZeroCodePayload


def main(argv: list[str] | None = None) -> int:
    """Run the task of one payload file and write its result file; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m airlift_components.in_airflow.zero_code <payload.json> <result.json>",
            file=sys.stderr,
        )
        return 2
    payload_path, result_path = args
    from airlift_components.airflow_api.errors import AirflowError
    from airlift_components.in_airflow.zero_code.errors import ZeroCodeError
    from airlift_components.in_airflow.zero_code.runner import refusal_result, run_task

    payload = None
    try:
        payload = ZeroCodePayload.read(payload_path)
        result = run_task(payload)
    except (ZeroCodeError, ZeroCodeFormatError, AirflowError) as error:
        result = refusal_result(error, payload)
        result.write(result_path)
        print(f"zero-code runner: {result.error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a runner bug still leaves a result file behind
        result = refusal_result(error, payload)
        result.write(result_path)
        print(f"zero-code runner: unexpected {type(error).__name__}: {result.error}", file=sys.stderr)
        raise
    result.write(result_path)
    if result.state == "failed":
        print(f"zero-code runner: {result.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
