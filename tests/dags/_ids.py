"""DAG ids defined by the test DAG files (read by conftest to wait for parsing; not a DAG file)."""

GENERATED_DAG_COUNT = 260
GENERATED_DAG_IDS = [f"generated_{i:03d}" for i in range(GENERATED_DAG_COUNT)]
ALL_DAG_IDS = ["simple_chain", "always_fails", *GENERATED_DAG_IDS]
