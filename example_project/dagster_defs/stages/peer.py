"""Stage 1, peer: every Airflow DAG becomes an asset; nothing changes in Airflow."""

from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance
from example_project.tutorial_env import AIRFLOW_INSTANCE_NAME, airflow_webserver_url

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        # other backends available (e.g. MwaaSessionAuthBackend)
        auth_backend=BasicAuthBackend(
            webserver_url=airflow_webserver_url(),
            username="admin",
            password="admin",
        ),
        name=AIRFLOW_INSTANCE_NAME,
    )
)
