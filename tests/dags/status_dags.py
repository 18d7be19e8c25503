"""DAGs for the status / history tests.

``status_groups``: a task group, a mapped task in the group and a proxy-marked task (runs to success).
``status_proxied``: a task that succeeds, a task that fails and the project's real proxy operator, which
fails here (no Dagster listens on the port it is given) but carries the proxied marker Airflow reports.
"""

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

from airlift_components.in_airflow import DefaultProxyTaskToDagsterOperator


def _print(*args: object) -> None:
    print("status", *args)


def _fail() -> None:
    raise RuntimeError("status_proxied.breaks fails on purpose")


class StatusMarkedOperator(PythonOperator):
    """Carries the proxy marker template field (airlift_components.conventions.PROXY_MARKER_FIELD).

    A stand-in that succeeds, so ``status_groups`` runs to success; the real proxy operator cannot succeed
    without a Dagster to launch in (``status_proxied`` uses it).
    """

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


class ClosedPortProxyOperator(DefaultProxyTaskToDagsterOperator):
    """The real task proxy, pointed at a closed port through its documented override point."""

    def get_dagster_url(self, context: object) -> str:
        return "http://127.0.0.1:9"


with DAG(
    dag_id="status_proxied",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
) as status_proxied:
    load = PythonOperator(task_id="load", python_callable=_print, retries=2, retry_delay=timedelta(seconds=2))
    breaks = PythonOperator(task_id="breaks", python_callable=_fail)
    work = ClosedPortProxyOperator(task_id="work", trigger_rule="all_done")
    load >> breaks >> work
