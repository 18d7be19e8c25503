"""Regenerate the example's small, deterministic CSVs (jaffle-shop style).

Writes ``airflow_dags/raw_customers.csv`` (loaded into DuckDB by the ``load_raw_customers`` task) and
the dbt seeds ``dbt/seeds/raw_orders.csv`` and ``dbt/seeds/raw_payments.csv``. Run it with
``python -m example_project.scripts.generate_data``; the output is the same on every run.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent
NUM_CUSTOMERS = 100
NUM_ORDERS = 300
FIRST_NAMES = [
    "Ada",
    "Ben",
    "Cleo",
    "Dan",
    "Eve",
    "Finn",
    "Gus",
    "Hana",
    "Ivy",
    "Jon",
    "Kai",
    "Lea",
    "Max",
    "Nia",
]
LAST_NAMES = ["A.", "B.", "C.", "D.", "E.", "F.", "G.", "H.", "K.", "L.", "M.", "P.", "R.", "S.", "T.", "W."]
STATUSES = ["placed", "shipped", "completed", "completed", "completed", "return_pending", "returned"]
PAYMENT_METHODS = ["credit_card", "credit_card", "coupon", "bank_transfer", "gift_card"]


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(example_dir: Path = EXAMPLE_DIR, seed: int = 42) -> None:
    """Write the three CSVs under ``example_dir``."""
    rng = random.Random(seed)
    customers = [[i, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)] for i in range(1, NUM_CUSTOMERS + 1)]
    start = date(2024, 1, 1)
    orders: list[list[object]] = []
    payments: list[list[object]] = []
    for order_id in range(1, NUM_ORDERS + 1):
        # Customers 91..100 never order, so the marts have customers without orders.
        customer_id = rng.randint(1, NUM_CUSTOMERS - 10)
        order_date = start + timedelta(days=rng.randint(0, 120))
        orders.append([order_id, customer_id, order_date.isoformat(), rng.choice(STATUSES)])
        for _ in range(rng.choice([1, 1, 1, 2])):
            amount_cents = rng.randint(1, 30) * 100
            payments.append([len(payments) + 1, order_id, rng.choice(PAYMENT_METHODS), amount_cents])
    _write(example_dir / "airflow_dags" / "raw_customers.csv", ["id", "first_name", "last_name"], customers)
    _write(
        example_dir / "dbt" / "seeds" / "raw_orders.csv", ["id", "user_id", "order_date", "status"], orders
    )
    _write(
        example_dir / "dbt" / "seeds" / "raw_payments.csv",
        ["id", "order_id", "payment_method", "amount"],
        payments,
    )


if __name__ == "__main__":
    generate()
