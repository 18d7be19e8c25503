"""The production profile's files agree: every variable they read is in the env template, none holds a secret."""

from __future__ import annotations

import re

import pytest

from example_project.deploy.processes import DEPLOY_DIR, PROCFILE, procfile_command

ENV_TEMPLATE = DEPLOY_DIR / "deploy.env.example"


def _template_variables() -> set[str]:
    lines = ENV_TEMPLATE.read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}


@pytest.mark.parametrize("name", ["dagster.yaml", "workspace.yaml", "Procfile"])
def test_every_variable_the_profile_reads_is_in_the_env_template(name: str) -> None:
    lines = (DEPLOY_DIR / name).read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\{\s*env:\s*(\w+)\s*\}", text)) | set(re.findall(r"\$(\w+)", text))
    assert used, f"{name} reads no variable"
    assert used <= _template_variables(), (
        f"{name} reads {sorted(used - _template_variables())}, not in {ENV_TEMPLATE.name}"
    )


def test_dagster_yaml_takes_the_postgres_password_from_the_environment() -> None:
    text = (DEPLOY_DIR / "dagster.yaml").read_text()
    assert re.search(r"password:\s*\{\s*env:\s*DAGSTER_PG_PASSWORD\s*\}", text)


def test_a_procfile_variable_missing_from_the_environment_is_named_with_its_line() -> None:
    with pytest.raises(
        ValueError, match=r"Procfile:\d+ \(code-server\): environment variable DAGSTER_CODE_SERVER_\w+"
    ):
        procfile_command("code-server", {})
    with pytest.raises(ValueError, match="no process named 'scheduler'"):
        procfile_command("scheduler", {}, PROCFILE)
