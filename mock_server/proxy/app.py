"""The proxy as one WSGI app: the safety rule, forwarding, the violation report, the recording.

Its own routes live under ``/__proxy`` (never forwarded):
``GET /__proxy/violations`` (every violation so far, JSON, newest last) and ``GET /__proxy/operations``
(how many exchanges each operation had).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import requests

from contracts import checks as semantic
from contracts.runner import READ_ONLY_METHODS, UnsafeTarget, is_loopback, select_operations
from contracts.spec import get_contract
from mock_server.har import HarRecorder
from mock_server.masking import mask_url
from mock_server.proxy.forward import SENT_CLOCK, Exchange, Forwarder, json_error
from mock_server.proxy.recorder import OPERATIONS, Recorder
from mock_server.proxy.violations import Violations

OWN_PREFIX = "/__proxy"
HARMLESS_METHODS = frozenset({*READ_ONLY_METHODS, "HEAD", "OPTIONS"})


def upstream_clock(upstream: str, session: requests.Session | None = None) -> Callable[[], float]:
    """Seconds on the upstream's clock: a simulator's simulated clock (``/__admin/clock``) when the upstream is
    a loopback ltx-mock, else this machine's monotonic clock. Recorded run times are then in the time the
    upstream's jobs really run in."""
    if is_loopback(upstream):
        parts = urlsplit(upstream)
        admin = f"{parts.scheme}://{parts.netloc}/__admin/clock"
        http = session or requests.Session()
        http.trust_env = False
        if os.environ.get("LTX_MOCK_ADMIN_TOKEN"):  # an upstream simulator serving with --admin-token
            http.headers["X-Admin-Token"] = os.environ["LTX_MOCK_ADMIN_TOKEN"]
        try:
            probe = http.get(admin, timeout=5).json()
        except (requests.RequestException, ValueError):
            probe = None
        if isinstance(probe, dict) and isinstance(probe.get("now"), int):
            return lambda: http.get(admin, timeout=5).json()["now"] / 1000
    return time.monotonic


class ProxyApp:
    """``ltx-mock proxy``'s WSGI app. ``violations`` and ``recorder`` hold what it has seen."""

    def __init__(self, upstream: str, *, allow_spend: bool = False, record: bool = False,
                 clock: Callable[[], float] | None = None, stream: TextIO | None = sys.stderr,
                 har: HarRecorder | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.allow_spend = allow_spend
        self.forwarder = Forwarder(self.upstream, get_contract().server_prefix)
        self.violations = Violations(stream=stream)
        self.recorder = Recorder(self.upstream, clock=clock or upstream_clock(self.upstream)) if record else None
        self.started = time.monotonic()
        self.har = har  # --har: each exchange written as it completes (mock_server/har.py)

    def observe(self, exchange: Exchange) -> None:
        """Called by the forwarder with each complete exchange, before the caller has the last byte."""
        self.violations.inspect(exchange)
        if self.recorder is not None:
            self.recorder.observe(exchange)
        if self.har is not None:
            self.har.observe(exchange, (time.time() - exchange.at) * 1000)

    def refusal(self, method: str, path: str) -> str | None:
        """Why this request must not reach the upstream, or None: ``check``'s rule for a host that is not this
        machine (every operation that spends credits or changes state needs ``--allow-spend``)."""
        if method.upper() in HARMLESS_METHODS or self.allow_spend or is_loopback(self.upstream):
            return None
        op = semantic.operation_for(method, unquote(path))
        label = f"{op.method} {op.path}" if op else f"{method} {mask_url(path)}"
        try:
            if op is not None:
                select_operations(self.upstream, include=[op.operation_id])
                return None
        except UnsafeTarget:
            pass
        host = urlsplit(self.upstream).hostname
        return (f"ltx-mock proxy refused {label}: it spends credits or changes state on {host}, which is not this "
                "machine. Restart the proxy with --allow-spend if spending real credits is intended.")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == OWN_PREFIX or path.startswith(OWN_PREFIX + "/"):
            return self.own(method, path, start_response)
        reason = self.refusal(method, path)
        if reason:
            print(reason, file=sys.stderr, flush=True)
            return json_error(start_response, 403, "Forbidden", reason)
        if self.recorder is not None and method == "POST":
            op = semantic.operation_for(method, unquote(path))
            if op is not None and op.operation_id in OPERATIONS:
                # A job is active from its request on: with pollForResult its answer may come when it has ended.
                environ[SENT_CLOCK] = self.recorder.clock()
        return self.forwarder.forward(environ, start_response, self.observe)

    def own(self, method: str, path: str, start_response: Callable[..., Any]) -> list[bytes]:
        if method != "GET":
            return json_error(start_response, 405, "Method Not Allowed", f"{method} {mask_url(path)}: only GET")
        if path.rstrip("/") == f"{OWN_PREFIX}/violations":
            payload: Any = self.violations.snapshot()
        elif path.rstrip("/") == f"{OWN_PREFIX}/operations":
            with self.violations.lock:
                payload = dict(self.violations.seen)
        else:
            return json_error(start_response, 404, "Not Found", f"{mask_url(path)}: the proxy has "
                                                                "/__proxy/violations and /__proxy/operations")
        body = json.dumps(payload, indent=1).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]

    def finish(self, *, junit_xml: str | None = None, record: str | None = None) -> None:
        """Write the JUnit report and the scenario (on exit)."""
        if junit_xml:
            self.violations.write_junit(junit_xml, duration_s=time.monotonic() - self.started)
        if record and self.recorder is not None:
            self.recorder.write(record)
        if self.har is not None:
            self.har.close()
