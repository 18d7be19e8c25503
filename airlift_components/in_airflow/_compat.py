"""The few Airflow names that moved between Airflow 2 and Airflow 3 (``airflow.sdk``), imported once."""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG, BaseOperator, Context
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef,assignment]
    from airflow.models import BaseOperator  # type: ignore[no-redef,assignment]
    from airflow.utils.context import Context  # type: ignore[no-redef,assignment]

try:  # Airflow 3
    from airflow.sdk.definitions.mappedoperator import MappedOperator
except ImportError:  # Airflow 2
    from airflow.models.mappedoperator import MappedOperator  # type: ignore[no-redef,assignment]

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,assignment]

__all__ = ["DAG", "AirflowFailException", "BaseOperator", "Context", "MappedOperator"]
