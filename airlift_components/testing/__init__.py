"""Helpers to run a real local Airflow for tests, benchmarks and the demo (Dagster processes: example_project/dagster_dev.py)."""
