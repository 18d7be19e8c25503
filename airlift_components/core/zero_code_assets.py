"""Zero-code migration: the executable assets of a :class:`~airlift_components.core.zero_code.ZeroCodePlan`.

One multi-asset per zero-code task: the task's mapped asset specs (made skippable, so a skipped task
materializes nothing) or ``<instance>/task/<dag_id>/<task_id>``. Its body
(:func:`~airlift_components.core.zero_code_run.run_zero_code_task`) starts the zero-code runner. The tasks
of a DAG proxied as a whole depend on their upstream tasks' first keys, so one Dagster run executes them
in order.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from airlift_components.core.naming import resource_key, zero_code_group_name, zero_code_op_name
from airlift_components.core.zero_code import ZeroCode, ZeroCodeDefinitionError, ZeroCodePlan, ZeroCodeTask
from airlift_components.core.zero_code_run import ZeroCodeTaskRun, run_zero_code_task


def zero_code_assets(
    plan: ZeroCodePlan,
    zero_code: ZeroCode,
    *,
    instance_name: str,
    specs_by_key: Mapping[dg.AssetKey, dg.AssetSpec],
) -> list[dg.AssetsDefinition]:
    """One executable multi-asset per zero-code task.

    ``specs_by_key`` holds the user's specs of mapped keys (they become the multi-asset's specs, made
    skippable so a skipped task materializes nothing).

    Raises:
        ZeroCodeDefinitionError: a mapped key has no spec here (it is an executable asset defined in code),
            or two zero-code tasks target one key.
    """
    owner: dict[dg.AssetKey, tuple[str, str]] = {}
    # A whole-DAG proxy's tasks run in one Dagster run: deps give the order, and each reads its
    # upstream tasks' results from the run by their first key.
    whole_dag = {(t.dag_id, t.task_id): t.keys for t in plan.tasks if t.whole_dag}
    assets = []
    for task in plan.tasks:
        where = f"{instance_name}/{task.dag_id}.{task.task_id}"
        upstream_keys = [key for up in task.upstream_task_ids for key in whole_dag.get((task.dag_id, up), ())]
        specs = []
        for key in task.keys:
            earlier = owner.setdefault(key, (task.dag_id, task.task_id))
            if earlier != (task.dag_id, task.task_id):
                raise ZeroCodeDefinitionError(
                    f"{where}: asset {key.to_user_string()!r} is already the zero-code target of "
                    f"{earlier[0]}.{earlier[1]}; one asset can be materialized by one zero-code task"
                )
            if task.mapped:
                spec = specs_by_key.get(key)
                if spec is None:
                    raise ZeroCodeDefinitionError(
                        f"{where}: its mapped asset {key.to_user_string()!r} is an executable asset defined in "
                        "code; zero-code replaces mapped asset specs only (map the task to AssetSpecs, or "
                        "leave its DAG out of zero_code dags)"
                    )
                spec = spec.replace_attributes(skippable=True)
            else:
                spec = _default_spec(task, key, instance_name)
            if upstream_keys:
                spec = spec.replace_attributes(deps=[*spec.deps, *upstream_keys])
            specs.append(spec)
        dag_tasks = {
            task_id: keys[0]
            for (dag_id, task_id), keys in whole_dag.items()
            if dag_id == task.dag_id and task_id != task.task_id
        }
        assets.append(_task_asset(task, specs, zero_code, instance_name, dag_tasks))
    return assets


def _default_spec(task: ZeroCodeTask, key: dg.AssetKey, instance_name: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=key,
        description=f"Airflow task {task.dag_id}.{task.task_id} ({task.operator}), run zero-code: its own "
        "Airflow code, executed by the zero-code runner.",
        kinds={"airflow", task.kind} if task.kind != "unknown" else {"airflow"},
        group_name=zero_code_group_name(instance_name),
        skippable=True,
    )


def _task_asset(
    task: ZeroCodeTask,
    specs: list[dg.AssetSpec],
    zero_code: ZeroCode,
    instance_name: str,
    dag_tasks: Mapping[str, dg.AssetKey],
) -> dg.AssetsDefinition:
    run = ZeroCodeTaskRun(
        instance_name=instance_name,
        dag_id=task.dag_id,
        task_id=task.task_id,
        dag_fileloc=task.dag_fileloc,
        keys=task.keys,
        settings=zero_code,
        dag_tasks=dict(dag_tasks),
        kind=task.kind,
    )
    key = resource_key(instance_name)
    if len({spec.partitions_def for spec in specs}) > 1:
        raise ZeroCodeDefinitionError(
            f"{instance_name}/{task.dag_id}.{task.task_id}: its mapped assets have different partitions; "
            "one task run materializes them together"
        )

    @dg.multi_asset(
        specs=specs,
        name=zero_code_op_name(instance_name, task.dag_id, task.task_id),
        required_resource_keys={key},
        can_subset=False,
    )
    def _zero_code_task(context):  # type: ignore[no-untyped-def]  # no annotation: a string one is refused
        yield from run_zero_code_task(context, run, getattr(context.resources, key))

    return _zero_code_task
