"""An in-house operator and a helper, imported by the zero-code test file next to them (no workflow here)."""

import os
from pathlib import Path

from airflow.sdk import BaseOperator


def render_line(greeting: str, day: str) -> str:
    """The helper the operator calls: a module next to the workflow file, found through sys.path."""
    return f"{greeting} on {day}\n"


class WriteGreetingOperator(BaseOperator):
    """Writes a templated greeting to ``$ZC_OUT_DIR/<target_name>`` and pushes an extra XCom."""

    template_fields = ("target_name", "greeting")

    def __init__(self, *, target_name: str, greeting: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.target_name = target_name
        self.greeting = greeting

    def execute(self, context):  # type: ignore[no-untyped-def]
        text = render_line(self.greeting, context["ds"])
        (Path(os.environ["ZC_OUT_DIR"]) / self.target_name).write_text(text)
        context["ti"].xcom_push(key="written", value=self.target_name)
        return {"chars": len(text)}
