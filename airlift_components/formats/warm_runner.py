"""What the Dagster side and the warm zero-code server say to each other over the server's unix socket.

One connection per task. The client (``airlift_components.core.zero_code_warm``) sends ONE request: a 4-byte
big-endian length, then that many bytes of JSON ``{"argv": [...], "env": {...}, "cwd": "..."}``, with the
task's stdin, stdout and stderr passed alongside (``SCM_RIGHTS``). The server
(``airlift_components.in_airflow.zero_code.warm``) answers one JSON object per line: ``{"pid": int,
"airflow_imported": bool, "modules": int}`` once it forked the task, ``{"exit": int}`` when the task ended,
or ``{"error": str}`` for a request it refused. The client closing the connection asks the server to kill
the task's process group. Imports neither Dagster nor Airflow.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Mapping, Sequence
from typing import Any

_HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 16 * 1024 * 1024
#: The task's stdin, stdout and stderr, in this order.
REQUEST_FDS = 3


def send_request(
    conn: socket.socket, argv: Sequence[str], env: Mapping[str, str], cwd: str, fds: Sequence[int]
) -> None:
    """Send the task's request and its three file descriptors (stdin, stdout, stderr)."""
    body = json.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd}).encode()
    socket.send_fds(conn, [_HEADER.pack(len(body)) + body], list(fds))


def read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The request and the file descriptors that came with it.

    Raises:
        ValueError: not three descriptors, a truncated or oversized request, or not ``{argv, env, cwd}``
            (the descriptors that came with it are closed here).
    """
    data, fds, _, _ = socket.recv_fds(conn, 65536, REQUEST_FDS)
    if len(fds) != REQUEST_FDS:
        for fd in fds:
            _close(fd)
        raise ValueError(f"expected {REQUEST_FDS} file descriptors, got {len(fds)}")
    try:
        data = _read_at_least(conn, data, _HEADER.size)
        (size,) = _HEADER.unpack_from(data)
        if size > MAX_REQUEST_BYTES:
            raise ValueError(f"request of {size} bytes")
        data = _read_at_least(conn, data, _HEADER.size + size)
        request = json.loads(data[_HEADER.size : _HEADER.size + size])
        if not isinstance(request, dict) or not isinstance(request.get("argv"), list):
            raise ValueError("request is not {argv, env, cwd}")
    except ValueError:
        for fd in fds:
            _close(fd)
        raise
    return request, list(fds)


def hello(pid: int, *, airflow_imported: bool, modules: int) -> bytes:
    """The server's first answer: the forked task's pid and what was already imported when it forked."""
    return _line({"pid": pid, "airflow_imported": airflow_imported, "modules": modules})


def exit_status(code: int) -> bytes:
    """The server's last answer: the task's exit code."""
    return _line({"exit": code})


def refusal(reason: str) -> bytes:
    """The server's answer to a request it did not run."""
    return _line({"error": reason})


def read_message(conn: socket.socket) -> dict[str, Any]:
    """Block until the server's next message (the first one: only ``hello`` or ``refusal`` come alone).

    Raises:
        ValueError: the connection closed first, or the line is not a JSON object.
    """
    data = b""
    while b"\n" not in data:
        more = conn.recv(4096)
        if not more:
            raise ValueError("the server closed the connection")
        data += more
    messages, _ = split_messages(data)
    return messages[0]


def split_messages(buffer: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The complete messages in ``buffer`` and the bytes left over of an incomplete one."""
    messages = []
    while b"\n" in buffer:
        line, buffer = buffer.split(b"\n", 1)
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"unexpected answer {message!r}")
        messages.append(message)
    return messages, buffer


def _line(message: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(message)).encode() + b"\n"


def _read_at_least(conn: socket.socket, data: bytes, size: int) -> bytes:
    while len(data) < size:
        more = conn.recv(65536)
        if not more:
            raise ValueError("connection closed inside the request")
        data += more
    return data


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
