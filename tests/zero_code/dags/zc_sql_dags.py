"""SQL tasks for the zero-code runner: SQLExecuteQueryOperator through the common-sql hook on SQLite.

The connection ``zc_sqlite`` comes from Airflow's database for the unproxied run and from
``AIRFLOW_CONN_ZC_SQLITE`` in the runner's environment; each points at its own SQLite file, so the two
executions' rows can be compared. ``load`` renders a ``.sql`` file found through ``template_searchpath``.
"""

from datetime import datetime
from pathlib import Path

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG(
    dag_id="zc_sql",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    template_searchpath=[str(Path(__file__).parent / "sql")],
    params={"region": "eu", "base": 10},
) as zc_sql:
    create = SQLExecuteQueryOperator(
        task_id="create",
        conn_id="zc_sqlite",
        sql="CREATE TABLE IF NOT EXISTS orders (day TEXT, region TEXT, amount INTEGER)",
    )
    load = SQLExecuteQueryOperator(
        task_id="load", conn_id="zc_sqlite", sql="zc_load_orders.sql", split_statements=True
    )
    report = SQLExecuteQueryOperator(
        task_id="report",
        conn_id="zc_sqlite",
        sql=(
            "SELECT region, SUM(amount) FROM orders WHERE day BETWEEN '{{ macros.ds_add(ds, -1) }}' "
            "AND '{{ ds }}' GROUP BY region ORDER BY region"
        ),
    )
    create >> load >> report
