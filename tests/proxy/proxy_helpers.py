"""Helpers of the proxy's tests: simulators as upstreams (healthy or broken), the proxy in front, the README flows."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import requests

from mock_server.artifacts import render_image
from mock_server.proxy import ProxyApp, ProxyServer
from mock_server.server import ServerThread

API = "/v1/ltxstudio"
MISSING_JOB = "email:demo@example.com-job:00000000-0000-4000-8000-000000000000-type:image"

# A fixed clock start, so that a reset simulator answers byte for byte as before (timestamps, signed URLs).
FLOW_SCENARIO = """\
version: 1
clock: {now: 2025-06-02T09:00:00Z, paused: true}
ltx_users:
  - {email: poor@example.com, credits: 0}
  - {email: busy@example.com}
accounts:
  - {email: poor@example.com}
  - {email: busy@example.com, maxJobs: 1}
"""


def broken_servers() -> ModuleType:
    """tests/contracts/broken_servers.py (the check command's deliberately broken servers), loaded by path."""
    name = "broken_servers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "contracts" / "broken_servers.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@contextmanager
def upstream(app: Any) -> Iterator[str]:
    """Serve a simulator app on a free loopback port; yields its origin (http://127.0.0.1:PORT)."""
    server = ServerThread(app).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def proxy_in_front(origin: str, **options: Any) -> Iterator[tuple[str, ProxyApp]]:
    """``ltx-mock proxy`` (in-process, same app the command serves) in front of ``origin``; yields (origin, app)."""
    app = ProxyApp(origin + API, stream=None, **options)
    with ProxyServer(app) as server:
        yield server.url, app


def violations(proxy_origin: str) -> list[dict[str, Any]]:
    resp = requests.get(f"{proxy_origin}/__proxy/violations", timeout=10)
    assert resp.status_code == 200
    return resp.json()


class Flow:
    """The README's flows, against one API origin; every answer kept as (step, status, body bytes)."""

    def __init__(self, origin: str, admin_origin: str, token: str = "demo-token") -> None:
        self.base = origin + API
        self.admin = admin_origin + "/__admin"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.answers: list[tuple[str, int, bytes]] = []

    def call(self, step: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        resp = self.http.request(method, self.base + path, timeout=30, **kwargs)
        self.answers.append((step, resp.status_code, resp.content))
        return resp

    def advance(self, seconds: float) -> None:
        requests.post(f"{self.admin}/clock", json={"advance": seconds}, timeout=10).raise_for_status()

    def run(self) -> list[tuple[str, int, bytes]]:
        self.call("account: list", "GET", "/accounts")
        self.call("account: one", "GET", "/accounts/demo@example.com")
        upload = self.call("upload", "POST", "/assets/?type=image&email=demo@example.com",
                           data=render_image("proxy flow", "1:1"),
                           headers={"Content-Type": "image/png"})
        file_id = upload.json()["asset"]["fileId"]
        self.call("upload: list", "GET", "/assets/?email=demo@example.com")
        image = self.call("image", "POST", "/images/create",
                          json={"prompt": "A serene mountain landscape at sunset", "aspectRatio": "16:9",
                                "email": "demo@example.com"})
        image_id = image.json()["jobId"]
        self.call("scheduler: available", "GET", "/scheduler/available")
        self.call("scheduler: running", "GET", "/scheduler")
        self.call("image: active", "GET", f"/assets/{quote(image_id, safe='')}")
        self.advance(60)
        self.call("image: completed", "GET", f"/assets/{quote(image_id, safe='')}")
        upscale = self.call("upscale", "POST", "/images/upscale", json={"jobId": image_id})
        video = self.call("video", "POST", "/videos/ltx-create",
                          json={"prompt": "Waves on the shore", "startAssetId": file_id})
        assert video.status_code == 200, video.text
        video_id = video.json()["jobId"]
        self.advance(2)
        self.call("video: active", "GET", f"/assets/{quote(video_id, safe='')}")
        self.call("cancel", "DELETE", f"/scheduler/{quote(video_id, safe='')}")
        self.call("402", "POST", "/images/create", json={"prompt": "A fox", "email": "poor@example.com"})
        self.call("busy: first", "POST", "/images/create", json={"prompt": "A fox", "email": "busy@example.com"})
        self.call("429", "POST", "/images/create", json={"prompt": "A fox", "email": "busy@example.com"})
        self.call("404", "GET", f"/assets/{quote(MISSING_JOB, safe='')}")
        self.advance(120)
        self.call("upscale: completed", "GET", f"/assets/{quote(upscale.json()['jobId'], safe='')}")
        self.call("scheduler: after", "GET", "/scheduler/available")
        self.call("assets: after", "GET", "/assets/?email=demo@example.com&page=1&limit=5")
        return self.answers
