"""DAGs with ids at the edges of what Airflow accepts, for tests/bad_inputs (ids in _ids.py).

Airflow accepts ids made of letters (unicode included), digits, ``_``, ``.`` and ``-``, up to 250
characters; a task inside a task group gets the id ``group.task``. Kept cheap: EmptyOperators, which the
scheduler marks successful without starting a task process, and one PythonOperator whose run is meant to
fail (a 250-character DAG id is too long for Airflow's log folder name).
"""

from datetime import datetime

try:
    from airflow.sdk import DAG, TaskGroup

    AIRFLOW_3 = True
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.utils.task_group import TaskGroup

    AIRFLOW_3 = False
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator
    from airflow.operators.python import PythonOperator

LONG_DAG_ID = "badinput_" + "d" * 241  # 250 characters, Airflow's maximum
LONG_TASK_ID = "t" * 250
# A task process cannot run with such ids under Airflow's default log path: "dag_id=<id>" is one file
# name, limited to 255 bytes by the file system (ids up to 248 characters fit).
LONG_PYTHON_DAG_ID = "badinput_" + "p" * 241
MAP_INDEX_COUNT = 2000


def _ok() -> None:
    print("ok")


_defaults = {"schedule": None, "start_date": datetime(2024, 1, 1), "catchup": False, "tags": ["badinput"]}

with DAG(dag_id="badinput.dotted-dag", **_defaults) as dotted:
    EmptyOperator(task_id="extract.v2") >> EmptyOperator(task_id="load-final")

with DAG(dag_id="badinput_ünïcødé", **_defaults) as unicode_ids:
    EmptyOperator(task_id="tâche_été")

with DAG(dag_id=LONG_DAG_ID, **_defaults) as long_ids:
    EmptyOperator(task_id=LONG_TASK_ID)

with DAG(dag_id=LONG_PYTHON_DAG_ID, **_defaults) as long_python_ids:
    # "never_started" ends upstream_failed without a try: Airflow returns try_number 0.
    PythonOperator(task_id=LONG_TASK_ID, python_callable=_ok) >> EmptyOperator(task_id="never_started")

with DAG(dag_id="badinput_task_group", **_defaults) as task_group:
    with TaskGroup("grp"):
        inner = EmptyOperator(task_id="inner")
    inner >> EmptyOperator(task_id="after")

with DAG(dag_id="badinput_many_mapped", **_defaults) as many_mapped:
    if AIRFLOW_3:
        EmptyOperator.partial(task_id="many").expand(doc_md=[f"item {i}" for i in range(MAP_INDEX_COUNT)])
    else:  # Airflow 2 cannot map an EmptyOperator; its tests never run this DAG
        PythonOperator.partial(task_id="many", python_callable=print).expand(op_args=[[i] for i in range(3)])

with DAG(dag_id="badinput_deleted", **_defaults) as deleted:
    EmptyOperator(task_id="work")

with DAG(dag_id="badinput_paused", **_defaults) as paused:
    EmptyOperator(task_id="work")
