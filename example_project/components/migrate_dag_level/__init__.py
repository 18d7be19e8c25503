"""Tutorial stage `migrate_dag_level`, YAML form (see `example_project/components/__init__.py`)."""
