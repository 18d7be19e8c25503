"""DAGs the Airflow 2.11 zero-code tests run twice: once by Airflow 2.11 unproxied, once task by task by the
zero-code runner in ``.venv-airflow2``.

Side effects land under ``$AIRFLOW_HOME`` (Bash) and in the SQLite database of connection ``zc2_sqlite``, so
the two executions write to different places with the same rendered command and SQL.
"""

import os
from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.models import BaseOperator, Variable
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sensors.python import PythonSensor


def _extract(base: int, *, factor: int, templates_dict: dict, **context: object) -> dict:
    return {"rows": base * factor, "day": templates_dict["day"], "tag": templates_dict["tag"]}


with DAG(
    dag_id="zc2_equivalence",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"who": "dag-default"},
    catchup=False,
    template_searchpath=[os.path.join(os.path.dirname(__file__), "zc2_scripts")],
) as zc2_equivalence:
    extract = PythonOperator(
        task_id="extract",
        python_callable=_extract,
        op_args=[3],
        op_kwargs={"factor": 2},
        templates_dict={
            "day": "{{ ds }}",
            "tag": "{{ params.who }}-{{ var.value.zc2_threshold }}-{{ macros.ds_add(ds, 1) }}",
        },
    )

    @task(multiple_outputs=True)
    def transform(data: dict, **context: object) -> dict:
        threshold = int(Variable.get("zc2_threshold"))
        context["ti"].xcom_push(
            key="extra", value={"run": context["run_id"], "try": context["ti"].try_number}
        )
        return {"rows_x2": data["rows"] * 2, "over": data["rows"] > threshold, "ds": context["ds"]}

    report = BashOperator(
        task_id="report", bash_command="zc2_report.sh", env={"WHO": "{{ params.who }}-env"}, append_env=True
    )
    transform(extract.output) >> report
    BashOperator(task_id="skipper", bash_command="echo skipping; exit 99", skip_on_exit_code=99)
    BashOperator(task_id="failer", bash_command="echo about to fail; exit 3", retries=0)
    SQLExecuteQueryOperator(
        task_id="load_sql",
        conn_id="zc2_sqlite",
        sql=[
            "CREATE TABLE IF NOT EXISTS orders (ds TEXT, who TEXT, amount INTEGER)",
            "INSERT INTO orders VALUES ('{{ ds }}', '{{ params.who }}', {{ var.value.zc2_threshold }})",
            "SELECT ds, who, amount FROM orders WHERE ds = '{{ ds }}'",
        ],
    )


class Zc2CustomOperator(BaseOperator):
    def execute(self, context: object) -> str:
        return "custom"


def _touch_metadata_db() -> int:
    from airflow.models import DagRun

    return len(DagRun.find(dag_id="zc2_runner_only"))


# Tasks only the runner executes (no Airflow run needed): refusals and failures it must report clearly.
with DAG(
    dag_id="zc2_runner_only", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc2_runner_only:

    @task(retries=0)
    def db_only_conn() -> str:
        from airflow.hooks.base import BaseHook

        conn = BaseHook.get_connection("zc2_db_only")
        return f"{conn.host}:{conn.login}"

    db_only_conn()
    PythonOperator(task_id="touch_metadata_db", python_callable=_touch_metadata_db)
    PythonSensor(task_id="wait_for_it", python_callable=lambda: True, poke_interval=1)
    Zc2CustomOperator(task_id="custom")
