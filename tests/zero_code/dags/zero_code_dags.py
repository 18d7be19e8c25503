"""DAGs the zero-code tests run twice: once by Airflow 3 unproxied, once task by task by the zero-code runner.

``ZC_OUT_DIR`` (from the process environment) is where Bash tasks write their side-effect file, so the two
executions write to different folders with the same rendered command.
"""

import os
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, BaseHook, Variable, task
from zc_operators import WriteGreetingOperator


def _extract(base: int, *, factor: int, templates_dict: dict, **context: object) -> dict:
    return {"rows": base * factor, "day": templates_dict["day"], "tag": templates_dict["tag"]}


with DAG(
    dag_id="zc_equivalence",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"who": "dag-default"},
    catchup=False,
) as zc_equivalence:
    extract = PythonOperator(
        task_id="extract",
        python_callable=_extract,
        op_args=[3],
        op_kwargs={"factor": 2},
        templates_dict={"day": "{{ ds }}", "tag": "{{ params.who }}-{{ var.value.zc_threshold }}"},
    )

    @task(multiple_outputs=True)
    def transform(data: dict, **context: object) -> dict:
        threshold = int(Variable.get("zc_threshold"))
        return {"rows_x2": data["rows"] * 2, "over": data["rows"] > threshold, "ds": context["ds"]}

    @task
    def summarize(rows_x2: int) -> str:
        return f"total={rows_x2}"

    transformed = transform(extract.output)
    summarize(transformed["rows_x2"])
    report = BashOperator(
        task_id="report",
        bash_command=(
            'echo "ds={{ ds }} ts={{ ts }} who={{ params.who }} thr={{ var.value.zc_threshold }} '
            "prev={{ macros.ds_add(ds, -1) }} rows={{ ti.xcom_pull(task_ids='extract')['rows'] }} "
            'start={{ data_interval_start }} env=$WHO cwd=$(basename $PWD)" '
            '| tee "$ZC_OUT_DIR/report_{{ ds_nodash }}.txt"'
        ),
        env={"WHO": "{{ params.who }}-env"},
        append_env=True,
        cwd="/tmp",
    )
    transformed >> report
    WriteGreetingOperator(
        task_id="custom_export", target_name="greeting_{{ ds_nodash }}.txt", greeting="hello {{ params.who }}"
    )


with DAG(dag_id="zc_outcomes", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as zc_outcomes:
    BashOperator(task_id="skipper", bash_command="echo skipping; exit 99", skip_on_exit_code=99)
    BashOperator(task_id="failer", bash_command="echo about to fail; exit 3", retries=0)
    EmptyOperator(task_id="marker")


with DAG(
    dag_id="zc_connections", schedule=None, start_date=datetime(2024, 1, 1), catchup=False
) as zc_connections:

    @task
    def env_conn() -> str:
        conn = BaseHook.get_connection("zc_env_conn")
        return f"{conn.host}:{conn.login}:{len(conn.password or '')}"

    @task(retries=0)
    def db_only_conn() -> str:
        conn = BaseHook.get_connection("zc_db_only")
        return f"{conn.host}:{conn.login}"

    env_conn()
    db_only_conn()
    BashOperator(task_id="leaky", bash_command='echo "pw={{ conn.zc_env_conn.password }}" > /dev/null')


def _fail_hard() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("bad input, do not retry")


def _always_true() -> bool:
    return True


with DAG(
    dag_id="zc_more",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"label": "dag-label"},
    template_searchpath=[os.path.join(os.path.dirname(__file__), "scripts")],
) as zc_more:

    @task
    def pusher(**context: object) -> list:
        context["ti"].xcom_push(key="extra", value={"k": 1, "run": context["run_id"]})
        return [1, 2, 3]

    @task
    def skip_me() -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("nothing to do today")

    @task
    def double(x: int) -> int:
        return x * 2

    @task
    def total(values: list) -> int:
        return sum(values)

    pusher()
    skip_me()
    total(double.expand(x=[1, 2, 3]))
    PythonOperator(task_id="fail_hard", python_callable=_fail_hard, retries=0)
    BashOperator(task_id="from_file", bash_command="zc_script.sh", append_env=True)
    PythonSensor(task_id="wait_for_it", python_callable=_always_true, poke_interval=1)
    BashOperator(
        task_id="too_slow",
        bash_command="sleep 120",
        execution_timeout=timedelta(seconds=3),
        retries=0,
        append_env=True,
    )


with DAG(dag_id="zc_history", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as zc_history:
    BashOperator(
        task_id="since_last_success",
        bash_command=(
            "echo prev_start={{ prev_data_interval_start_success }} prev_end={{ prev_data_interval_end_success }} "
            "prev_started={{ prev_start_date_success }}"
        ),
    )
