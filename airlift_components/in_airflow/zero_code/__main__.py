"""``python -m airlift_components.in_airflow.zero_code <payload.json> <result.json>``.

Exit codes: 0 the task succeeded or was skipped, 1 the task failed, 2 the task could not be run
(bad payload, refused kind, missing environment, Airflow's REST API refused or unreachable). A result file is written in every case but a
missing or unwritable result path; the error text in it never carries secret values.
"""

from __future__ import annotations

import atexit
import os
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


def exit_now(code: int) -> None:
    """Run the exit handlers, flush the output and leave without tearing the interpreter down.

    Tearing down the ~1,700 modules a task run imports (Airflow, its providers, SQLAlchemy) takes 0.5-5 s
    depending on the machine's load (``benchmarks/zero_code.py`` measures it); the result file is already
    written and closed, so nothing is lost by skipping it.
    """
    atexit._run_exitfuncs()  # logging.shutdown and whatever the task registered still run
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
