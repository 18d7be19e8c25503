"""Scale, latency and cost benchmarks against a real Airflow, side by side with dagster-airlift.

Entry point: ``make bench`` (``python -m benchmarks.run``); see the README section "Benchmarks".
"""
