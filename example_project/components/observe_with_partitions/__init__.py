"""Tutorial stage `observe_with_partitions`, YAML form (see `example_project/components/__init__.py`)."""
