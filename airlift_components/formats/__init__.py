"""What crosses the Airflow/Dagster boundary, with one writer and one reader each.

- :mod:`~airlift_components.formats.proxy_targets`: the ``airlift/proxy_targets`` metadata of a DAG
  asset (written by the Dagster definitions builder, read by the proxy operators and the CLI).
- :mod:`~airlift_components.formats.proxied_state`: the ``proxied_state/<dag_id>.yaml`` files (written
  by ``proxy scaffold``, read by ``proxying_to_dagster`` and by ``status``).
- :mod:`~airlift_components.formats.zero_code`: the payload a zero-code asset hands the runner in
  Airflow's environment, and the result the runner hands back (the runner:
  ``airlift_components.in_airflow.zero_code``).
- :mod:`~airlift_components.formats.zero_code_eligibility`: which Airflow tasks can run zero-code, and
  why the others cannot (a pure function of what Airflow's REST API says about a task).

Both sides import these modules, so they import neither dagster nor airflow (a test proves it).
"""
