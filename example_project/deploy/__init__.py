"""The production profile: Dagster on Postgres (webserver, daemon and code server as separate processes,
component state in the instance's versioned defs-state storage) and Airflow 3 on Postgres with LocalExecutor.

Files: ``dagster.yaml`` (the instance), ``workspace.yaml`` (the code server), ``deploy.env.example`` (every
setting, as environment variables), ``Procfile`` (the processes), ``definitions.py`` and ``defs/`` (the code
location: the migrate stage), ``processes.py`` (starts the Procfile's processes for the demo and the tests).
"""
