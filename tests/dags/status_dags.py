"""A DAG with a task group, a mapped task in the group and a proxy-marked task (status/history tests)."""

from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG, TaskGroup
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.utils.task_group import TaskGroup
try:
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.python import PythonOperator


def _print(*args: object) -> None:
    print("status", *args)


class StatusMarkedOperator(PythonOperator):
    """Carries the proxy marker template field (airlift_components.conventions.PROXY_MARKER_FIELD)."""

    template_fields = (*PythonOperator.template_fields, "airlift_proxied_to_dagster")
    airlift_proxied_to_dagster = "dagster:task"


# Sequential with retries: parallel tasks on the shared, loaded test machine (SQLite) fail now and then.
with DAG(
    dag_id="status_groups",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
) as dag:
    with TaskGroup(group_id="extract"):
        load_a = PythonOperator(task_id="load_a", python_callable=_print)
        load_b = PythonOperator(task_id="load_b", python_callable=_print)
        per_file = PythonOperator.partial(task_id="per_file", python_callable=_print).expand(
            op_args=[["x"], ["y"]]
        )
    publish = StatusMarkedOperator(task_id="publish", python_callable=_print)
    load_a >> load_b >> per_file >> publish
