"""A small fault-injecting HTTP proxy for tests: our code -> FaultProxy -> a real Airflow (or Dagster webserver).

It forwards every request to the real upstream server unless a queued :class:`Fault` matches it, and
it counts requests per path so a test can assert that a failure did not turn into a retry storm.

Example::

    with FaultProxy(airflow.url) as proxy:
        proxy.inject(Fault("status", path="/taskInstances/list", times=2, status=503))
        client = AirflowClient(BasicAuthBackend(proxy.url, "admin", "admin"))
        client.list_task_instances(dag_ids=["simple_chain"])  # two 503s, then the real answer
        assert proxy.count("/taskInstances/list") == 3

Fault kinds:
    ``status``: answer ``status`` (e.g. 500, 503, 429 with ``retry_after``) without asking upstream.
    ``reset``: close the connection with a TCP reset before answering.
    ``slow``: wait ``delay`` seconds, then forward (a client with a shorter timeout gives up first).
    ``truncate``: forward, then send only the first half of the body (with a matching Content-Length).
    ``cut``: forward, announce the full Content-Length, send half the body and drop the connection.
    ``hold_until_token_expired``: keep the request until the JWT in its Authorization header has
    expired, then forward it (the server sees an expired token).
:meth:`FaultProxy.go_down` and :meth:`FaultProxy.come_back` stop and restart listening on the same port.
TLS termination: pass ``certfile``/``keyfile`` (see :func:`make_self_signed_certificate`).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

FAULT_KINDS = ("status", "reset", "slow", "truncate", "cut", "hold_until_token_expired")
# Hop-by-hop headers are the proxy's own business (RFC 9110 section 7.6.1).
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Fault:
    """One fault to apply to the next ``times`` requests whose path contains ``path`` (after ``skip`` of them)."""

    kind: str
    path: str = ""
    times: int = 1
    skip: int = 0
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")


class FaultProxy:
    """A threaded HTTP(S) proxy on 127.0.0.1 in front of ``upstream_url``; use as a context manager."""

    def __init__(
        self, upstream_url: str, *, certfile: str | Path | None = None, keyfile: str | Path | None = None
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self._tls: ssl.SSLContext | None = None
        if certfile:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        self.port = 0
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._down = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests_by_path: Counter[str] = Counter()
        self.upstream_statuses: Counter[int] = Counter()
        self.faults_applied: Counter[str] = Counter()

    @property
    def url(self) -> str:
        """The proxy's base URL (``http://`` or ``https://``)."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ control

    def start(self) -> FaultProxy:
        """Listen (on a free port the first time, on the same port after :meth:`go_down`) and serve."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        self._down = False
        return self

    def stop(self) -> None:
        """Stop listening; open keep-alive connections are reset on their next request."""
        self._down = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def go_down(self) -> None:
        """The server goes away: connections are refused (and open ones reset) until :meth:`come_back`."""
        self.stop()

    def come_back(self) -> None:
        """The server is back on the same port."""
        self.start()

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each request takes the first queued fault that matches its path."""
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        """Drop queued faults and reset the counters."""
        with self._lock:
            self._faults.clear()
            self.requests_by_path.clear()
            self.upstream_statuses.clear()
            self.faults_applied.clear()

    def pending_faults(self) -> int:
        """How many fault applications are still queued."""
        with self._lock:
            return sum(fault.times for fault in self._faults)

    def count(self, path_contains: str = "") -> int:
        """Requests received whose path contains ``path_contains`` (all requests by default)."""
        with self._lock:
            return sum(n for path, n in self.requests_by_path.items() if path_contains in path)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.requests_by_path[path] += 1
            for fault in self._faults:
                if fault.path not in path:
                    continue
                if fault.skip:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                self.faults_applied[fault.kind] += 1
                return fault
            return None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass  # keep pytest output clean

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if proxy._down:
                self._reset()
                return
            fault = proxy._take_fault(self.path.split("?", 1)[0])
            kind = fault.kind if fault else None
            if fault and kind == "status":
                self._answer_status(fault)
                return
            if kind == "reset":
                self._reset()
                return
            if fault and kind == "slow":
                time.sleep(fault.delay)
            if kind == "hold_until_token_expired":
                time.sleep(max(0.0, _jwt_expiry(self.headers.get("Authorization", "")) + 1.0 - time.time()))
            status, reason, headers, payload = self._forward(body)
            with proxy._lock:
                proxy.upstream_statuses[status] += 1
            if kind == "truncate":
                payload = payload[: len(payload) // 2]
            try:
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if kind == "cut" else payload)
                self.wfile.flush()
            except OSError:
                return  # the client gave up (e.g. it timed out on a slow answer)
            if kind == "cut":
                self._reset()

        def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                return response.status, response.reason, response.getheaders(), response.read()
            except OSError as exc:
                payload = json.dumps({"detail": f"proxy: upstream unreachable ({type(exc).__name__})"})
                return 502, "Bad Gateway", [("Content-Type", "application/json")], payload.encode()
            finally:
                connection.close()

        def _answer_status(self, fault: Fault) -> None:
            payload = json.dumps({"detail": f"injected HTTP {fault.status}"}).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if fault.retry_after is not None:
                self.send_header("Retry-After", fault.retry_after)
            self.end_headers()
            self.wfile.write(payload)

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            self.close_connection = True

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    return Handler


def _jwt_expiry(authorization: str) -> float:
    """The ``exp`` claim of a bearer JWT, or now when there is none."""
    try:
        payload = authorization.split(" ", 1)[1].split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except (IndexError, KeyError, ValueError, TypeError):
        return time.time()


def make_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (also usable as its own CA bundle) for 127.0.0.1/localhost: (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airlift test proxy")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "proxy-cert.pem", directory / "proxy-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
