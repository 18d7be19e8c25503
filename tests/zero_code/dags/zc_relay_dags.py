"""A DAG whose tasks are all proxied to zero-code assets, for the relay tests (test_relay_proxy.py).

The tasks' own code below is what a zero-code run executes; the test Dagster project
(``tests/zero_code/relay_dagster``) reports the matching results. The downstream tasks are not proxied:
they read what the proxies pushed, the way they read it when nothing is proxied.
"""

from datetime import datetime, timedelta
from pathlib import Path

import requests
from airflow.sdk import DAG, Context, Variable, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from airlift_components.in_airflow import (
    BaseProxyTaskToDagsterOperator,
    load_proxied_state_from_yaml,
    proxying_to_dagster,
)


class RelayProxy(BaseProxyTaskToDagsterOperator):
    """Dagster's URL from the Airflow Variable ``zc_relay_dagster_url`` (set by the test once it runs)."""

    def get_dagster_url(self, context: Context) -> str:
        return Variable.get("zc_relay_dagster_url")

    def get_dagster_session(self, context: Context) -> requests.Session:
        return requests.Session()

    def get_airflow_instance_name(self, context: Context) -> str:
        return "zc_relay"


RETRY_FAST = {"retries": 1, "retry_delay": timedelta(seconds=1)}

with DAG(dag_id="zc_relay", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as zc_relay:

    @task(multiple_outputs=True)
    def produce(ti=None) -> dict:
        ti.xcom_push(key="extra", value={"note": "pushed by xcom_push"})
        return {"total": 3, "names": ["a", "b", "c"]}

    @task
    def consume(total: int, names: list, ti=None) -> dict:
        return {
            "total": total,
            "names": names,
            "extra": ti.xcom_pull(task_ids="produce", key="extra"),
            "whole": ti.xcom_pull(task_ids="produce"),
        }

    @task
    def numbers() -> list:
        return [1, 2, 3]

    @task
    def double(n: int) -> int:
        return n * 2

    @task
    def pair() -> tuple:
        return (4, 5)

    @task
    def describe_pair(value) -> str:
        return f"{type(value).__name__}:{sum(value)}"

    @task
    def quiet() -> None:
        return None

    @task
    def after_quiet() -> str:
        return "ran"

    @task
    def skips() -> None:
        raise AirflowSkipException("nothing to do today")

    @task
    def after_skip() -> str:
        return "should not run"

    @task(retries=2, retry_delay=timedelta(seconds=1))
    def fails_for_good() -> None:
        raise AirflowFailException("no point retrying")

    @task(**RETRY_FAST)
    def flaky(ti=None) -> str:
        if ti.try_number == 1:
            raise RuntimeError("first try breaks")
        return "second try worked"

    @task
    def garbled() -> None:
        pass

    @task
    def wrong_state() -> None:
        pass

    @task
    def silent() -> None:
        pass

    @task
    def crashes() -> None:
        pass

    produced = produce()
    consume(produced["total"], produced["names"])
    double.expand(n=numbers())
    describe_pair(pair())
    quiet() >> after_quiet()
    skips() >> after_skip()
    fails_for_good()
    flaky()
    garbled()
    wrong_state()
    silent()
    crashes()


proxying_to_dagster(
    global_vars=globals(),
    proxied_state=load_proxied_state_from_yaml(Path(__file__).parent / "proxied_state"),
    dagster_operator_klass=RelayProxy,
)
