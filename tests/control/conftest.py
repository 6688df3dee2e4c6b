"""Fixtures of the test-control tests: a webhook receiver, a client on simulated time, small helpers."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image


def png_bytes(color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


class Receiver:
    """A loopback HTTP server that records webhook POSTs; ``fail_first`` answers 500 that many times."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    n = len(receiver.calls)
                    receiver.calls.append({"path": self.path, "body": json.loads(body or b"null"),
                                           "at": time.monotonic(), "status": 500 if n < receiver.fail_first else 200})
                    status = receiver.calls[-1]["status"]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.calls if c["status"] == 200]

    def wait_for(self, n: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        """Poll (real time: deliveries run on the worker thread) until ``n`` calls were accepted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.accepted()) >= n:
                return self.accepted()
            time.sleep(0.02)
        return self.accepted()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


class SimTime:
    """A client's sleep and clock on the simulator's clock: waiting N seconds advances it N seconds."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.t = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        self.admin.advance(seconds)

    def clock(self) -> float:
        return self.t


@pytest.fixture
def sim_time(ltx_mock: Any) -> SimTime:
    return SimTime(ltx_mock.admin)


@pytest.fixture
def client(ltx_mock: Any, sim_time: SimTime) -> Iterator[Any]:
    """The reference client on the simulator, its waits and retry back-offs spent in simulated time."""
    from ltxstudio_mock.client import LTXStudioClient

    c = LTXStudioClient(ltx_mock.token, base_url=ltx_mock.base_url, sleep=sim_time.sleep, clock=sim_time.clock)
    yield c
    c.close()


@pytest.fixture
def png() -> Callable[..., bytes]:
    return png_bytes
