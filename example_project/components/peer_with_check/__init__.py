"""Tutorial stage `peer_with_check`, YAML form (see `example_project/components/__init__.py`)."""
