"""Tutorial stage `migrate_zero_code`, YAML form (see `example_project/components/__init__.py`)."""
