"""Names both sides agree on: metadata keys, run tags and markers.

The Dagster side (``core``) writes them, the Airflow side (``in_airflow``) and the sensor read them.
This module imports nothing, so ``in_airflow`` may use it without pulling in dagster.
"""

# --- Dagster asset metadata -------------------------------------------------------------------
# On every DAG asset (key [instance_name, "dag", dag_id]):
DAG_ID_METADATA_KEY = "airlift/dag_id"
INSTANCE_NAME_METADATA_KEY = "airlift/instance_name"
# JSON: {"dag": [[key path...], ...], "tasks": {task_id: [[key path...], ...]},
#        "partitions": {"<key as slash path>": {"fmt": "%Y-%m-%d", "timezone": "UTC"}}}
# The proxy operator reads it with one GraphQL query for the DAG asset, to know what to launch.
PROXY_TARGETS_METADATA_KEY = "airlift/proxy_targets"
# On mapped assets: JSON lists of the tasks / DAGs that produce them.
TASK_MAPPINGS_METADATA_KEY = "airlift/task_mappings"  # [{"dag_id": ..., "task_id": ...}]
DAG_MAPPINGS_METADATA_KEY = "airlift/dag_mappings"  # [{"dag_id": ...}]
# On every asset event from Airflow: the sensor's dedup identity (e.g. "ti|dag|run|task|-1|1"), so a
# history import skips what the sensor (or an earlier import) already reported.
EVENT_ID_METADATA_KEY = "airlift/event_id"

# --- Dagster run tags set by the proxy operators ------------------------------------------------
RUN_TAG_DAG_ID = "airlift/dag_id"
RUN_TAG_DAG_RUN_ID = "airlift/dag_run_id"
RUN_TAG_TASK_ID = "airlift/task_id"  # absent for DAG-level proxying
RUN_TAG_TRY_NUMBER = "airlift/try_number"
RUN_TAG_MAP_INDEX = "airlift/map_index"

# --- What Airflow's REST API shows about proxying ------------------------------------------------
# A proxy operator has this template field; Airflow lists it in the task's `template_fields` and in
# each task instance's `rendered_fields`, so the Dagster side knows per task and per try that the
# work ran in Dagster, with no extra request.
PROXY_MARKER_FIELD = "airlift_proxied_to_dagster"
PROXY_MARKER_TASK = "dagster:task"  # value for task-level proxying
PROXY_MARKER_DAG = "dagster:dag"  # value for DAG-level proxying
# DAG tags added by proxying_to_dagster, visible in the Airflow UI and in the DAG listing.
PROXIED_TASKS_DAG_TAG = "airlift:proxied-tasks"  # at least one task is proxied
PROXIED_DAG_TAG = "airlift:proxied-dag"  # the whole DAG is proxied

# --- Environment variables read by the Airflow-side operators ------------------------------------
ENV_DAGSTER_URL = "AIRLIFT_DAGSTER_URL"  # default http://localhost:3000
ENV_DAGSTER_TOKEN = "AIRLIFT_DAGSTER_TOKEN"  # optional bearer token (Dagster+ uses Dagster-Cloud-Api-Token)
ENV_INSTANCE_NAME = "AIRLIFT_INSTANCE_NAME"  # the Dagster-side name of this Airflow instance

# --- Zero-code migration -------------------------------------------------------------------------
# A zero-code asset's run emits, in every outcome (success, skipped, failed) and before its step ends,
# an AssetObservation of the task's first target asset whose metadata has this key: the JSON text of
# `formats.zero_code.ZeroCodeResult.to_json()`. The proxy operator reads it with GraphQL to relay
# XComs, skips and failures into Airflow.
ZERO_CODE_RESULT_METADATA_KEY = "airlift/zero_code_result"
# A proxy operator records the operator it replaced in its `doc_md` (which both REST dialects return in
# the tasks listing), as one line `<prefix><module>.<ClassName>`, so the Dagster side can still
# classify a proxied task for zero-code eligibility.
ORIGINAL_OPERATOR_DOC_PREFIX = "airlift original operator: "
# A proxy operator of a DAG proxied as a whole records the tasks it replaced in its `doc_md`, as one
# line `<prefix><JSON list>`, each item {"task_id", "operator": "<module>.<ClassName>",
# "upstream_task_ids": [...], "is_mapped": bool}, in the DAG's topological order. Airflow's REST API then
# lists only the proxy task; the Dagster side reads this line to build the DAG's zero-code assets.
ORIGINAL_TASKS_DOC_PREFIX = "airlift original tasks: "
