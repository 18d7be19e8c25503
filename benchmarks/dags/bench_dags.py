"""Benchmark DAGs: BENCH_DAG_COUNT DAGs (bench_0000, ...) of BENCH_TASK_COUNT chained tasks, plus one
single-task DAG (bench_latency) that the latency scenario triggers. Cheap to parse: EmptyOperators only."""

import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

DAG_COUNT = int(os.environ.get("BENCH_DAG_COUNT", "1000"))
TASK_COUNT = int(os.environ.get("BENCH_TASK_COUNT", "10"))
START = datetime(2024, 1, 1)

for i in range(DAG_COUNT):
    with DAG(dag_id=f"bench_{i:04d}", schedule=None, start_date=START, catchup=False, tags=["bench"]) as dag:
        previous = None
        for t in range(TASK_COUNT):
            task = EmptyOperator(task_id=f"task_{t:02d}")
            if previous is not None:
                previous >> task
            previous = task
    globals()[dag.dag_id] = dag

with DAG(dag_id="bench_latency", schedule=None, start_date=START, catchup=False, tags=["bench"]) as latency:
    EmptyOperator(task_id="done")
