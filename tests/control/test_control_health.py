"""``GET /__admin/health``: 200 while the store takes a write and the clock reads, 503 while Redis is down (and
200 again once it is back), answered without the admin token; ``/health/live`` never touches the store."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from ltxstudio_mock.pytest_plugin import start_simulator


def _redis_helper() -> ModuleType:
    """tests/redis_server.py (as tests/conftest.py loads it: tests/ is not a package)."""
    name = "ltx_tests_redis_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "redis_server.py")
        assert spec and spec.loader
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def _health(url: str) -> requests.Response:
    return requests.get(url + "/__admin/health", timeout=20)


def test_control_health_ready_in_memory_and_open_without_the_admin_token() -> None:
    server, _ = start_simulator(admin_token="adm-secret")  # strict mode: the answer is checked against the contract
    try:
        resp = _health(server.url)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        from ltxstudio_mock import __version__

        assert body["status"] == "ok" and body["live"] is True and body["ready"] is True
        assert body["store"]["kind"] == "memory" and body["store"]["ok"] is True
        assert body["clock"] == {"ok": True, "paused": True, "speed": 1.0, "nowUTC": body["clock"]["nowUTC"]}
        assert body["version"] == __version__ and body["uptimeSeconds"] >= 0
        live = requests.get(server.url + "/__admin/health/live", timeout=10)
        assert live.status_code == 200 and live.json()["live"] is True
        assert requests.get(server.url + "/__admin/state", timeout=10).status_code == 401  # the rest stays closed
        foreign = requests.get(server.url + "/__admin/health", headers={"Origin": "https://evil.example"}, timeout=10)
        assert foreign.status_code == 403  # cross-site pages still cannot read it
    finally:
        server.stop()


def _restart(redis: Any) -> None:
    """Start redis-server again on the port it had (what a restarted Redis container does)."""
    helper = _redis_helper()
    redis.proc = subprocess.Popen(
        [helper.redis_executable(), "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", redis._dir.name, "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_status(url: str, status: int, timeout: float = 20) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        resp = _health(url)
        if resp.status_code == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.1)


@pytest.mark.slow
def test_control_health_turns_503_while_redis_is_down_and_back_after() -> None:
    with _redis_helper().RedisServer() as redis:
        server, app = start_simulator(store_url=redis.url, background=False)
        try:
            assert _health(server.url).status_code == 200
            redis.stop()
            resp = _health(server.url)
            assert resp.status_code == 503, resp.text
            body = resp.json()
            assert body["status"] == "unavailable" and body["live"] is True and body["ready"] is False
            assert body["store"]["kind"] == "redis" and body["store"]["ok"] is False and body["store"]["error"]
            assert "redis://" not in resp.text  # the store's kind, never its URL
            assert requests.get(server.url + "/__admin/health/live", timeout=10).status_code == 200
            metrics = requests.get(server.url + "/__admin/metrics", timeout=20)  # still scrapes: counters, no jobs
            assert metrics.status_code == 200
            assert "ltx_mock_store_errors_total" in metrics.text and "ltx_mock_jobs{" not in metrics.text
            errors = [line for line in metrics.text.splitlines() if line.startswith("ltx_mock_store_errors_total")]
            assert float(errors[0].split()[-1]) >= 2  # the probe's and the scrape's
            _restart(redis)
            assert _wait_status(server.url, 200).status_code == 200
        finally:
            server.stop()
            app.extensions["ltx_sim"].close()  # its Redis connections and threads: the server thread does not own them
