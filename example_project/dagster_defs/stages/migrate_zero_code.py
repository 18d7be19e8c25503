"""Stage 3 with zero code: the Airflow tasks themselves run in Dagster; no asset is written for them.

Every task of ``rebuild_customers_list`` (the custom ``LoadCSVToDuckDB`` operator, ``dbt build`` through
a subprocess, the CSV export) gets an executable asset ``airflow_instance_one/task/rebuild_customers_list/
<task_id>`` built from the task itself; ``summarize_orders``, proxied as a whole DAG, runs its tasks the
same way. Flip a task to ``proxied: True`` and its own operator code runs in a Dagster run.
"""

from airlift_components.core import (
    AirflowInstance,
    BasicAuthBackend,
    ZeroCode,
    build_defs_from_airflow_instance,
)
from example_project.tutorial_env import (
    AIRFLOW_INSTANCE_NAME,
    airflow_dags_path,
    airflow_python,
    airflow_webserver_url,
    export_dbt_env,
)

export_dbt_env()

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        auth_backend=BasicAuthBackend(
            webserver_url=airflow_webserver_url(),
            username="admin",
            password="admin",
        ),
        name=AIRFLOW_INSTANCE_NAME,
    ),
    zero_code=ZeroCode(
        dags=["rebuild_customers_list", "summarize_orders"],
        # Airflow's environment (in the tutorial: this repository's .venv, e.g. /opt/airflow-venv/bin/python)
        python=airflow_python(),
        # Where the DAG files are for the runner (e.g. /opt/airflow/dags)
        dags_folder=str(airflow_dags_path()),
    ),
)
