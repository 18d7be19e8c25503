"""Tutorial stage `migrate`, YAML form (see `example_project/components/__init__.py`)."""
