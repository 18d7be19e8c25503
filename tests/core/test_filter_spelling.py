"""``AirflowFilter.dag_id_glob`` also accepts dagster-airlift's spelling ``dag_id_ggob``."""

from __future__ import annotations

from airlift_components.airflow_api import DagRecord
from airlift_components.core import AirflowFilter


def _dag(dag_id: str) -> DagRecord:
    return DagRecord(dag_id=dag_id)


def test_dag_id_glob_and_the_reference_spelling_select_the_same_dags() -> None:
    new, old = AirflowFilter(dag_id_glob="finance_*"), AirflowFilter(dag_id_ggob="finance_*")
    assert new == old
    assert [new.keeps(_dag(d)) for d in ("finance_daily", "sales_daily")] == [True, False]


def test_a_filter_saved_with_the_reference_spelling_loads_with_its_glob() -> None:
    assert AirflowFilter.model_validate_json('{"dag_id_ggob": "x_*"}').dag_id_glob == "x_*"
