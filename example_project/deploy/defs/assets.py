"""The executable assets ``airflow/defs.yaml`` maps onto with ``by_key`` (the migrate stage's own)."""

from example_project.components.migrate.assets import (
    customers_csv,
    order_summary,
    order_summary_csv,
    raw_customers,
)

__all__ = ["customers_csv", "order_summary", "order_summary_csv", "raw_customers"]
