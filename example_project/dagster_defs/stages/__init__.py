"""One module per tutorial stage; each defines ``defs``. Importing this package loads none of them."""

STAGES = (
    "peer",
    "peer_with_check",
    "observe",
    "observe_with_partitions",
    "observe_dag_level",
    "migrate",
    "migrate_dag_level",
    "migrate_with_check",
    "migrate_zero_code",
    "standalone",
)
DEFAULT_STAGE = "migrate"
# How a stage is written: python = stages/<stage>.py; yaml = example_project/components/<stage>/ (components).
STAGE_FORMS = ("python", "yaml")
