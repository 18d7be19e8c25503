"""DAG ids defined by the test DAG files (read by conftest to wait for parsing; not a DAG file)."""

GENERATED_DAG_COUNT = 260
GENERATED_DAG_IDS = [f"generated_{i:03d}" for i in range(GENERATED_DAG_COUNT)]
# tests/dags/core_dags.py (the Dagster-side tests in tests/core)
CORE_DAG_IDS = [
    "rebuild_customers_list",
    "core_slow",
    "core_fast",
    "core_mapped",
    "core_proxied",
    "core_not_proxied",
    "core_quick_then_slow",
]
# tests/dags/status_dags.py (tests/core/test_status_and_history.py)
STATUS_DAG_IDS = ["status_groups", "status_proxied"]
# tests/dags/badinput_dags.py (tests/bad_inputs)
BADINPUT_DAG_IDS = [
    "badinput.dotted-dag",
    "badinput_ünïcødé",
    "badinput_" + "d" * 241,
    "badinput_" + "p" * 241,
    "badinput_task_group",
    "badinput_many_mapped",
    "badinput_deleted",
    "badinput_paused",
]
# tests/dags/assets_dags.py (tests/core/test_airflow_assets.py)
ASSETS_DAG_IDS = ["assets_producer", "assets_consumer", "assets_cyclic", "assets_described"]
# tests/dags/component_dags.py (tests/component: filter.include_paused)
COMPONENT_DAG_IDS = ["component_filter_paused", "component_filter_active"]
ALL_DAG_IDS = [
    "simple_chain",
    "always_fails",
    *GENERATED_DAG_IDS,
    *CORE_DAG_IDS,
    *STATUS_DAG_IDS,
    *BADINPUT_DAG_IDS,
    *ASSETS_DAG_IDS,
    *COMPONENT_DAG_IDS,
]
