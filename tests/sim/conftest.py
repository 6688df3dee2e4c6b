"""Fixtures of the simulator's behaviour tests: the ``ltx_mock`` server seen through plain ``requests``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sim_helpers import Api, Receiver


@pytest.fixture
def api(ltx_mock: Any) -> Api:
    """The demo tenant's view of a freshly reset simulator."""
    return Api(ltx_mock.url, ltx_mock.token)


@pytest.fixture
def admin(ltx_mock: Any) -> Any:
    return ltx_mock.admin


@pytest.fixture
def finished_image(api: Api, admin: Any) -> Callable[..., str]:
    """Make a completed image job (the clock is advanced past its end); returns its jobId."""

    def make(**body: Any) -> str:
        job_id = api.create("images/create", {"prompt": "A lighthouse at dawn", **body})["jobId"]
        admin.advance(120)
        assert api.ok(api.job(job_id))["status"]["type"] == "completed"
        return job_id

    return make


@pytest.fixture
def second_account(api: Api, admin: Any) -> str:
    """Configure a second LTX Studio user for the demo tenant; returns its email."""
    user = admin.create_ltx_user(email="second@example.com")
    api.ok(api.post("/accounts", json={"cookie": user["cookie"]}))
    return user["email"]



@pytest.fixture
def receiver() -> Iterator[Receiver]:
    calls: list[dict[str, Any]] = []
    state = Receiver("", calls)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if state.delay_s:
                time.sleep(state.delay_s)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            calls.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()
    server.server_close()
