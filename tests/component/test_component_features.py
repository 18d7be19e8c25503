"""The component's YAML features against the real test Airflow 3: `filter:`, `sensor.default_status`,
`defs_state.refresh_if_dev`, `dg utils refresh-defs-state`, and a user-written auth backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
import yaml
from dagster.components.core.component_tree import ComponentTree

from airlift_components.airflow_api import AirflowAuthBackend, AirflowAuthenticationError
from airlift_components.components.airflow_instance import AirflowInstanceComponent
from airlift_components.core import AirflowInstance, build_defs_from_airflow_instance
from airlift_components.testing.local_airflow import ADMIN_PASSWORD, ADMIN_USERNAME, LocalAirflow
from tests.component.test_component import defs_yaml, make_dg_project, run_dg
from tests.conftest import make_client

PASSWORD_ENV = "AIRLIFT_FEATURES_PW"
GROUP_1 = {f"generated_{i:03d}" for i in range(260) if i % 4 == 1}


def _attributes(airflow: LocalAirflow, **extra: object) -> dict[str, Any]:
    return {
        "name": "prod",
        "auth": {
            "type": "basic",
            "webserver_url": airflow.url,
            "username": ADMIN_USERNAME,
            "password_env": PASSWORD_ENV,
        },
        **extra,
    }


def _defs(component: AirflowInstanceComponent, state: Path) -> dg.Definitions:
    return component.build_defs_from_state(ComponentTree.for_test().load_context, state)


def peered_dag_ids(airflow: LocalAirflow, tmp_path: Path, filter_block: dict[str, object]) -> set[str]:
    """The DAG ids whose `prod/dag/<dag_id>` assets the component builds with this `filter:` block."""
    component = AirflowInstanceComponent.resolve_from_dict(_attributes(airflow, filter=filter_block))
    state = tmp_path / "state"
    component.write_state_to_path(state)
    keys = _defs(component, state).resolve_asset_graph().get_all_asset_keys()
    return {key.path[2] for key in keys if key.path[:2] == ["prod", "dag"]}


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)


# ---------------------------------------------------------------- filter:


def test_filter_dag_id_patterns_keep_exactly_the_matching_dags(
    airflow3: LocalAirflow, tmp_path: Path, password: None
) -> None:
    peered = peered_dag_ids(airflow3, tmp_path, {"dag_id_patterns": ["generated_00?", "simple_*"]})
    assert peered == {f"generated_00{i}" for i in range(10)} | {"simple_chain"}


def test_filter_tags_match_any_keeps_dags_with_at_least_one_tag(
    airflow3: LocalAirflow, tmp_path: Path, password: None
) -> None:
    peered = peered_dag_ids(airflow3, tmp_path, {"tags": ["test", "group_1"], "tags_match": "any"})
    assert peered == {"simple_chain", "always_fails"} | GROUP_1


def test_filter_tags_match_defaults_to_any(airflow3: LocalAirflow, tmp_path: Path, password: None) -> None:
    assert (
        peered_dag_ids(airflow3, tmp_path, {"tags": ["test", "group_1"]})
        == {
            "simple_chain",
            "always_fails",
        }
        | GROUP_1
    )


def test_filter_tags_match_all_keeps_dags_with_every_tag(
    airflow3: LocalAirflow, tmp_path: Path, password: None
) -> None:
    assert (
        peered_dag_ids(airflow3, tmp_path, {"tags": ["generated", "group_1"], "tags_match": "all"}) == GROUP_1
    )
    # No DAG carries both "test" and "group_1".
    assert peered_dag_ids(airflow3, tmp_path, {"tags": ["test", "group_1"], "tags_match": "all"}) == set()


def test_filter_patterns_and_tags_both_apply(airflow3: LocalAirflow, tmp_path: Path, password: None) -> None:
    peered = peered_dag_ids(airflow3, tmp_path, {"dag_id_patterns": ["generated_00*"], "tags": ["group_1"]})
    assert peered == {"generated_001", "generated_005", "generated_009"}


def test_filter_include_paused_false_drops_the_paused_dag(
    airflow3: LocalAirflow, tmp_path: Path, password: None
) -> None:
    client = make_client(airflow3)
    assert client.get_dag("component_filter_paused").is_paused is True
    assert client.get_dag("component_filter_active").is_paused is False
    patterns = ["component_filter_*"]
    excluded = peered_dag_ids(airflow3, tmp_path, {"dag_id_patterns": patterns, "include_paused": False})
    assert excluded == {"component_filter_active"}
    included = peered_dag_ids(airflow3, tmp_path, {"dag_id_patterns": patterns, "include_paused": True})
    assert included == {"component_filter_active", "component_filter_paused"}
    # The default peers paused DAGs too.
    assert peered_dag_ids(airflow3, tmp_path, {"dag_id_patterns": patterns}) == included


# ---------------------------------------------------------------- sensor.default_status


@pytest.fixture(scope="module")
def state_file(airflow3: LocalAirflow, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cached snapshot (only `simple_chain`) for the tests that vary settings the snapshot ignores."""
    state = tmp_path_factory.mktemp("features_state") / "state"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_ENV, ADMIN_PASSWORD)
        AirflowInstanceComponent.resolve_from_dict(
            _attributes(airflow3, filter={"dag_id_patterns": ["simple_chain"]})
        ).write_state_to_path(state)
    return state


@pytest.mark.parametrize(
    ("sensor_block", "expected"),
    [
        ({"default_status": "stopped"}, dg.DefaultSensorStatus.STOPPED),
        ({"default_status": "running"}, dg.DefaultSensorStatus.RUNNING),
        (None, dg.DefaultSensorStatus.RUNNING),
    ],
    ids=["stopped", "running", "absent"],
)
def test_sensor_default_status_reaches_the_sensor_definition(
    airflow3: LocalAirflow,
    state_file: Path,
    sensor_block: dict[str, str] | None,
    expected: dg.DefaultSensorStatus,
) -> None:
    extra = {"sensor": sensor_block} if sensor_block is not None else {}
    defs = _defs(AirflowInstanceComponent.resolve_from_dict(_attributes(airflow3, **extra)), state_file)
    (sensor,) = [s for s in defs.sensors or [] if s.name == "prod__airflow_dag_status_sensor"]
    assert sensor.default_status == expected


# ---------------------------------------------------------------- a user's own AirflowAuthBackend


class ApiTokenFromLogin(AirflowAuthBackend):
    """What a user might write: log in once at Airflow 3's `/auth/token` and send the JWT as bearer token."""

    def __init__(self, webserver_url: str, username: str, password: str, log_in: bool = True) -> None:
        self.webserver_url = webserver_url
        self.username = username
        self.password = password
        self.log_in = log_in
        self.logins = 0

    def get_webserver_url(self) -> str:
        return self.webserver_url

    def authenticate(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> None:
        if not self.log_in:
            return
        answer = session.post(
            f"{self.webserver_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=timeout,
            verify=verify,
        )
        answer.raise_for_status()
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        self.logins += 1

    def refresh(self, session: requests.Session, api_version: str, timeout: float, verify: Any) -> bool:
        self.authenticate(session, api_version, timeout, verify)
        return self.log_in


def test_a_user_subclass_of_airflow_auth_backend_peers_the_real_airflow(airflow3: LocalAirflow) -> None:
    backend = ApiTokenFromLogin(airflow3.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    defs = build_defs_from_airflow_instance(
        airflow_instance=AirflowInstance(auth_backend=backend, name="custom")
    )
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert dg.AssetKey(["custom", "dag", "simple_chain"]) in keys
    assert backend.logins >= 1
    assert [s.name for s in defs.sensors or []] == ["custom__airflow_dag_status_sensor"]


def test_the_same_subclass_without_its_login_is_refused(airflow3: LocalAirflow) -> None:
    # The control: the subclass's `authenticate` is what makes the previous test pass.
    backend = ApiTokenFromLogin(airflow3.url, ADMIN_USERNAME, ADMIN_PASSWORD, log_in=False)
    with pytest.raises(AirflowAuthenticationError):
        build_defs_from_airflow_instance(
            airflow_instance=AirflowInstance(auth_backend=backend, name="custom")
        )
    assert backend.logins == 0


# ---------------------------------------------------------------- defs state: refresh_if_dev, refresh-defs-state


@pytest.fixture
def state_project(tmp_path: Path) -> Iterator[Path]:
    yield make_dg_project(tmp_path / "project")


def _write_instance_yaml(project: Path, url: str, patterns: list[str], refresh_if_dev: bool) -> None:
    path = defs_yaml(project, "prod")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(
            {
                "type": "airlift_components.AirflowInstanceComponent",
                "attributes": {
                    "name": "prod",
                    "auth": {
                        "type": "basic",
                        "webserver_url": url,
                        "username": ADMIN_USERNAME,
                        "password_env": PASSWORD_ENV,
                    },
                    "filter": {"dag_id_patterns": patterns},
                    "defs_state": {"management_type": "LOCAL_FILESYSTEM", "refresh_if_dev": refresh_if_dev},
                },
            }
        )
    )


def _listed_dag_ids(project: Path) -> set[str]:
    listed = run_dg(project, "list", "defs", "--json", env={PASSWORD_ENV: ADMIN_PASSWORD})
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    keys = [asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]]
    return {key.split("/")[2] for key in keys if key.startswith("prod/dag/")}


def _stored_state(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("state") if p.is_file() and "AirflowInstanceComponent" in str(p))


CLOSED_PORT_URL = "http://127.0.0.1:9"  # nothing listens: any call to Airflow fails


def test_refresh_if_dev_false_loads_the_stored_state_without_calling_airflow(
    airflow3: LocalAirflow, state_project: Path
) -> None:
    _write_instance_yaml(state_project, airflow3.url, ["simple_chain"], refresh_if_dev=False)
    refreshed = run_dg(state_project, "utils", "refresh-defs-state", env={PASSWORD_ENV: ADMIN_PASSWORD})
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    (stored,) = _stored_state(state_project)
    assert {dag["dag_id"] for dag in json.loads(stored.read_text())["dags"]} == {"simple_chain"}

    # `dg` loads set DAGSTER_IS_DEV_CLI. Airflow is now unreachable and the filter wider: the load still
    # succeeds and shows the stored snapshot, so it did not call Airflow.
    _write_instance_yaml(
        state_project, CLOSED_PORT_URL, ["simple_chain", "always_fails"], refresh_if_dev=False
    )
    assert _listed_dag_ids(state_project) == {"simple_chain"}


def test_refresh_if_dev_true_calls_airflow_on_a_dev_load(airflow3: LocalAirflow, state_project: Path) -> None:
    # The control for the previous test: the same stored state, but the default refresh on a dev load.
    _write_instance_yaml(state_project, airflow3.url, ["simple_chain"], refresh_if_dev=True)
    refreshed = run_dg(state_project, "utils", "refresh-defs-state", env={PASSWORD_ENV: ADMIN_PASSWORD})
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    _write_instance_yaml(state_project, CLOSED_PORT_URL, ["simple_chain"], refresh_if_dev=True)
    listed = run_dg(state_project, "list", "defs", "--json", env={PASSWORD_ENV: ADMIN_PASSWORD})
    output = listed.stdout + listed.stderr
    assert listed.returncode != 0 and "127.0.0.1:9" in output, output[-3000:]


def test_refresh_defs_state_writes_a_new_state_that_the_next_load_uses(
    airflow3: LocalAirflow, state_project: Path
) -> None:
    _write_instance_yaml(state_project, airflow3.url, ["simple_chain"], refresh_if_dev=False)
    first = run_dg(state_project, "utils", "refresh-defs-state", env={PASSWORD_ENV: ADMIN_PASSWORD})
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert _listed_dag_ids(state_project) == {"simple_chain"}

    # What Airflow offers the component changes (here: a wider filter); loads keep the old state ...
    _write_instance_yaml(state_project, airflow3.url, ["simple_chain", "always_fails"], refresh_if_dev=False)
    assert _listed_dag_ids(state_project) == {"simple_chain"}
    # ... until `dg utils refresh-defs-state` fetches a new one.
    second = run_dg(state_project, "utils", "refresh-defs-state", env={PASSWORD_ENV: ADMIN_PASSWORD})
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    (stored,) = _stored_state(state_project)
    assert {dag["dag_id"] for dag in json.loads(stored.read_text())["dags"]} == {
        "simple_chain",
        "always_fails",
    }
    assert _listed_dag_ids(state_project) == {"simple_chain", "always_fails"}
