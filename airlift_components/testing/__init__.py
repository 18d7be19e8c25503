"""Helpers to run real local Airflow and Dagster processes for tests, benchmarks and the demo."""
