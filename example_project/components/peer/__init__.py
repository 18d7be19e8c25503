"""Tutorial stage `peer`, YAML form (see `example_project/components/__init__.py`)."""
