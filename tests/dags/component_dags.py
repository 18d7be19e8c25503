"""Two DAGs for the component's `filter.include_paused` tests: one paused from creation, one not."""

from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

for dag_id, paused in (("component_filter_paused", True), ("component_filter_active", False)):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        is_paused_upon_creation=paused,
        tags=["component_filter"],
    ) as dag:
        EmptyOperator(task_id="work")
    globals()[dag.dag_id] = dag
