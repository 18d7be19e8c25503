"""Moved to :mod:`airlift_components.cli.history`; this import path keeps working (the README named it)."""

from airlift_components.cli.history import (
    HistoryImportError,
    ImportResult,
    import_airflow_history,
    import_instance_history,
)

__all__ = ["HistoryImportError", "ImportResult", "import_airflow_history", "import_instance_history"]
