#!/usr/bin/env bash
# Rendered by Airflow as a template (template_searchpath), then run with the task's env.
mkdir -p "$AIRFLOW_HOME/zc2_out"
echo "ds={{ ds }} ts={{ ts }} who={{ params.who }} thr={{ var.value.zc2_threshold }} prev={{ macros.ds_add(ds, -1) }} rows={{ ti.xcom_pull(task_ids='extract')['rows'] }} start={{ data_interval_start }} prev_success={{ prev_data_interval_start_success }} env=$WHO" | tee "$AIRFLOW_HOME/zc2_out/report_{{ ds_nodash }}.txt"
