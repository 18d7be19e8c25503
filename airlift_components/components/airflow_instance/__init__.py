"""``AirflowInstanceComponent``: one ``defs.yaml`` per Airflow instance (YAML models in ``models.py``)."""
