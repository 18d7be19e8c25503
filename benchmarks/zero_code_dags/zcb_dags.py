"""DAGs of the zero-code overhead benchmark (``benchmarks/zero_code.py``): the same one-task DAG per kind,
twice. ``zcb_hand_<kind>`` is proxied to a hand-written Dagster asset that does the same work
(``benchmarks/zero_code_dagster/definitions.py``); ``zcb_zero_<kind>`` is proxied to its zero-code asset,
which runs this very operator in Dagster. Each task writes one file under ``ZCB_OUT_DIR``.
"""

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from airlift_components.formats.proxied_state import AirflowProxiedState
from airlift_components.in_airflow import proxying_to_dagster

OUT_DIR = os.environ.get("ZCB_OUT_DIR", "/tmp")


def write_rows(path: str, run_id: str) -> int:
    """The Python task's work: 100 rows to a file; returns the row count (an XCom)."""
    rows = [f"{run_id},{n},{n * n}" for n in range(100)]
    Path(path).write_text("\n".join(rows) + "\n")
    return len(rows)


for mode in ("hand", "zero"):
    with DAG(
        dag_id=f"zcb_{mode}_python", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
    ) as dag:
        PythonOperator(
            task_id="work",
            python_callable=write_rows,
            op_kwargs={"path": f"{OUT_DIR}/{mode}_python.csv", "run_id": "{{ run_id }}"},
        )
    globals()[dag.dag_id] = dag
    with DAG(dag_id=f"zcb_{mode}_bash", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
        BashOperator(task_id="work", bash_command=f"seq 1 100 > {OUT_DIR}/{mode}_bash.txt && echo done")
    globals()[dag.dag_id] = dag

proxying_to_dagster(
    global_vars=globals(),
    proxied_state=AirflowProxiedState.from_dict(
        {
            f"zcb_{mode}_{kind}": {"tasks": [{"id": "work", "proxied": True}]}
            for mode in ("hand", "zero")
            for kind in ("python", "bash")
        }
    ),
)
