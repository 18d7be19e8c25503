"""The migrate stage as deployed: the YAML form of ``components/migrate/`` with the Airflow snapshot in
Dagster's versioned defs-state storage (``airflow/defs.yaml``), shared by every process of the deployment."""

from example_project.components import export_component_env

# dg (refresh-defs-state) and the code server both import this package first: give the YAML its defaults.
export_component_env()
