#!/usr/bin/env bash
# A template file found through the DAG's template_searchpath.
echo "run={{ run_id }} label={{ params.label }} logical={{ dag_run.logical_date }}" > "$ZC_OUT_DIR/from_file.txt"
