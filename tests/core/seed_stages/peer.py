"""Seed stage `peer` (shared/seeds/000), verbatim except the import prefix.

The tests load it with the Airflow URL and the dbt project of the test harness."""

# tutorial_example/dagster_defs/stages/peer.py
from airlift_components.core import AirflowInstance, BasicAuthBackend, build_defs_from_airflow_instance

defs = build_defs_from_airflow_instance(
    airflow_instance=AirflowInstance(
        # other backends available (e.g. MwaaSessionAuthBackend)
        auth_backend=BasicAuthBackend(
            webserver_url="http://localhost:8080",
            username="admin",
            password="admin",
        ),
        name="airflow_instance_one",
    )
)
