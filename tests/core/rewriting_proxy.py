"""The fault proxy (tests/faults/proxy.py) plus one more fault kind: rewrite a JSON answer in flight.

For records that the real Airflow answers but that a test needs to hold back or alter (a row committed
late, a value the sensor cannot turn into an event), without faking Airflow.

Example::

    with RewritingProxy(airflow.url) as proxy:
        proxy.rewrite("/taskInstances/list", lambda body: {**body, "task_instances": []})
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from tests.faults.proxy import FaultProxy

Rewrite = Callable[[Any], Any]


class RewritingProxy(FaultProxy):
    """A :class:`FaultProxy` whose answers can also be rewritten, per path, while a rewrite is set."""

    def __init__(self, upstream_url: str) -> None:
        super().__init__(upstream_url)
        self._rewrites: dict[str, Rewrite] = {}
        self._rewrite_lock = threading.Lock()
        self.rewritten = 0

    def rewrite(self, path_contains: str, change: Rewrite) -> None:
        """Pass the JSON body of every answer whose path contains ``path_contains`` through ``change``."""
        with self._rewrite_lock:
            self._rewrites[path_contains] = change

    def stop_rewriting(self) -> None:
        """Forward answers unchanged again."""
        with self._rewrite_lock:
            self._rewrites.clear()

    def _rewritten(self, path: str, status: int, payload: bytes) -> bytes:
        with self._rewrite_lock:
            change = next((fn for part, fn in self._rewrites.items() if part in path), None)
            if change is None or status != 200:
                return payload
            self.rewritten += 1
        return json.dumps(change(json.loads(payload))).encode()

    def start(self) -> RewritingProxy:
        """Listen and serve, with the base handler's forwarding wrapped by the rewrite step."""
        super().start()
        assert self._server is not None
        proxy = self
        base = self._server.RequestHandlerClass

        class Handler(base):  # type: ignore[misc, valid-type]
            def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
                del self.headers["Accept-Encoding"]  # a plain JSON body to rewrite
                status, reason, headers, payload = super()._forward(body)
                return status, reason, headers, proxy._rewritten(self.path, status, payload)

        # socketserver builds one handler per request from this attribute.
        self._server.RequestHandlerClass = Handler
        return self
