"""The executable assets this stage's ``airflow/defs.yaml`` maps onto with ``by_key``."""

from example_project.components.tutorial_assets import customers_csv_asset, raw_customers_asset
from example_project.dagster_defs.summarize_orders import order_summary_assets

raw_customers = raw_customers_asset()
customers_csv = customers_csv_asset()
order_summary, order_summary_csv = order_summary_assets()
