"""``GET /__admin/metrics`` scraped with prometheus_client's own parser agrees with the journal and the control API
after a scripted session: in-thread (one process, the app's registry) and ``ltx-mock serve --workers 2`` on Redis
(granian, prometheus-client's multiprocess mode: the counts of both workers summed by whichever answers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from helpers import Receiver, free_port, wait_serving
from service_run import agreement, scrape, scripted_run, total

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.metrics import MULTIPROC_ENV


def test_control_metrics_agree_with_the_journal_in_thread(receiver: Receiver) -> None:
    server, _ = start_simulator()
    try:
        scripted_run(server.url, receiver.url)
        agreement(server.url)
    finally:
        server.stop()


def test_control_metrics_agree_with_the_journal_across_two_workers(receiver: Receiver, redis_url: str,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port),
                                 "--workers", "2", "--store", redis_url, "--paused", "--threads", "4"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_serving(url, proc, log)
        AdminClient(url).reset()  # the session's Redis may hold an earlier test's state
        # Both workers answer (the second may still be starting when the first does): fresh connections until
        # each has answered once, within a bounded wait; else the run would not show the sum.
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(requests.get(url + "/__admin/health", timeout=10).json()["pid"])
        assert len(pids) == 2, f"every probe met one worker ({pids}): the run would not show the sum"
        scripted_run(url, receiver.url)
        agreement(url)
        # and once more after more traffic: every scrape sums both workers' files, whichever worker answers
        before = total(scrape(url), "ltx_mock_http_requests_total", operation="listAccounts")
        for _ in range(10):
            requests.get(url + "/v1/ltxstudio/accounts", headers={"Authorization": "Bearer demo-token"}, timeout=10)
        counts = {total(scrape(url), "ltx_mock_http_requests_total", operation="listAccounts") for _ in range(6)}
        assert counts == {before + 10}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_control_metrics_store_errors_and_no_metrics(tmp_path: Path) -> None:
    """--no-metrics answers 404 (and counts nothing); metrics need the admin token like the rest of /__admin."""
    server, _ = start_simulator(metrics=False)
    try:
        resp = requests.get(server.url + "/__admin/metrics", timeout=10)
        assert resp.status_code == 404 and "--no-metrics" in resp.json()["error"]
    finally:
        server.stop()
    server, _ = start_simulator(admin_token="adm-secret")
    try:
        assert requests.get(server.url + "/__admin/metrics", timeout=10).status_code == 401
        samples = scrape(server.url, {"X-Admin-Token": "adm-secret"})
        assert total(samples, "ltx_mock_build_info") == 1
    finally:
        server.stop()


def test_control_metrics_is_store_error_names_the_stores_failures() -> None:
    import sqlite3

    import redis

    from mock_server.metrics import is_store_error
    from mock_server.store.redis.transaction import LockLost

    assert is_store_error(redis.ConnectionError("down"))
    assert is_store_error(sqlite3.OperationalError("database is locked"))
    assert is_store_error(LockLost("lost"))
    assert is_store_error(ConnectionRefusedError())
    assert not is_store_error(KeyError("x"))
    assert not is_store_error(ValueError("bad"))
