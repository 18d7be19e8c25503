"""The code location the code server serves: the migrate stage from ``defs/``, loaded as a dg project.

    dagster code-server start -h 127.0.0.1 -p 4000 -m example_project.deploy.definitions

The Airflow snapshot is read from the instance's defs-state storage (``dg utils refresh-defs-state`` writes
it), so loading this module, in the code server or in a run worker, sends no request to Airflow.
"""

from pathlib import Path

from dagster.components import load_defs

import example_project.deploy.defs

DEPLOY_DIR = Path(__file__).resolve().parent  # holds dg.toml: the project root of the state paths

defs = load_defs(example_project.deploy.defs, project_root=DEPLOY_DIR)
