"""Dagster components (YAML): one sub-package per component, laid out like dagster-dbt's ``components/``."""
