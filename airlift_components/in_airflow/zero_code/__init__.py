"""The zero-code runner: a proxied task's own operator, run in Airflow's environment on behalf of Dagster.

Runs inside the environment that has the DAGs' dependencies (Airflow's image or venv); never imports
dagster. The Dagster side writes a payload file and starts::

    python -m airlift_components.in_airflow.zero_code payload.json result.json

The runner parses the DAG file with proxying off, runs the original task with Airflow 3's own task
runner (no metadata database, no API server), reads upstream XComs from Airflow's REST API
(``AIRLIFT_AIRFLOW_URL`` and credentials from the environment) and writes a result file with the
outcome, the XComs the task pushed and its rendered template fields.
See :mod:`airlift_components.formats.zero_code` for both files.

| module | what |
| --- | --- |
| ``dag_file`` | both versions: the DAG file parsed with proxying off, the original task checked eligible |
| ``runner`` | :func:`run_task`: parse, check eligibility, run, collect the result (Airflow 3) |
| ``runner_airflow2`` | the same on Airflow 2: Airflow's context on an in-memory run |
| ``airflow2_stand_ins`` | Airflow 2: REST v1 XCom and run history, the metadata database refused |
| ``execution_api`` | Airflow 3: the Execution-API stand-in the task runner talks to |
| ``airflow_rest`` | the REST client both paths use, and the missing-connection hint |
| ``errors`` | :class:`ZeroCodeError` and its kinds |
| ``__main__`` | the command line |
| ``warm`` | the warm runner: a fork server with Airflow imported, one forked child per task |
"""

from airlift_components.in_airflow.zero_code.errors import (
    ZeroCodeError,
    ZeroCodeInputError,
    ZeroCodeRefusedError,
    ZeroCodeUnsupportedError,
)
from airlift_components.in_airflow.zero_code.runner import load_task, run_task

__all__ = [
    "ZeroCodeError",
    "ZeroCodeInputError",
    "ZeroCodeRefusedError",
    "ZeroCodeUnsupportedError",
    "load_task",
    "run_task",
]
