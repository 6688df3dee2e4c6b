"""replyUrl webhooks: delivered by the background worker when a job ends; dead receivers never hurt the service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from helpers import Receiver, free_port
from sim_helpers import Api

from contracts.spec import get_contract
from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator


def job_schema_errors(body: dict[str, Any]) -> list[str]:
    """The webhook body is the documented job model (GET assets/{jobId})."""
    check = get_contract()["getJob"].response_check(200, "application/json")
    assert check is not None
    return check.errors(body)


def wait_deliveries(admin: AdminClient, done: Any, timeout: float = 4.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        log = admin.webhooks()
        if done(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_webhook_posts_completed_job_model(api: Api, admin: Any, receiver: Receiver) -> None:
    job = api.create("images/create", {"prompt": "p", "replyUrl": receiver.url, "replyRef": "order-42"})
    admin.advance(5)
    assert receiver.wait_for(1, timeout=0.3) == []  # not before the job ends
    admin.advance(120)
    calls = receiver.wait_for(1)
    assert len(calls) == 1
    body = calls[0]["body"]
    assert calls[0]["path"] == "/hook"
    assert calls[0]["headers"]["Content-Type"].startswith("application/json")
    assert body["jobId"] == job["jobId"] and body["generationId"] == job["generationId"]
    assert body["replyRef"] == "order-42" and body["replyUrl"] == receiver.url
    assert body["status"]["type"] == "completed" and body["status"]["progress"] == 100
    assert body["status"]["artifact"]["asset"]["mimeType"] == "image/png"
    assert job_schema_errors(body) == []
    log = wait_deliveries(admin, lambda entries: entries and entries[0]["state"] == "delivered")
    assert log[0]["state"] == "delivered" and len(log[0]["attempts"]) == 1
    time.sleep(0.2)
    assert len(receiver.calls) == 1  # once


def test_webhook_posts_failed_job_model(api: Api, admin: Any, receiver: Receiver) -> None:
    admin.fail_next("Upstream error", progress=30)
    job = api.create("videos/veo-create", {"model": "veo3-fast", "replyUrl": receiver.url, "replyRef": "v"})
    admin.advance(600)
    calls = receiver.wait_for(1)
    assert len(calls) == 1
    body = calls[0]["body"]
    assert body["jobId"] == job["jobId"] and body["replyRef"] == "v"
    assert body["status"]["type"] == "failed" and body["status"]["message"] == "Upstream error"
    assert job_schema_errors(body) == []


def test_webhook_not_sent_without_reply_url_or_after_cancel(api: Api, admin: Any, receiver: Receiver) -> None:
    api.create("images/create", {"prompt": "p"})
    cancelled = api.create("images/create", {"prompt": "p", "replyUrl": receiver.url})["jobId"]
    assert api.delete(f"/scheduler/{cancelled}").status_code == 204
    admin.advance(120)
    assert receiver.wait_for(1, timeout=0.5) == []
    assert admin.webhooks() == []


def test_webhook_retried_after_failure(api: Api, admin: Any, receiver: Receiver) -> None:
    admin.next_outcome("completed", webhook={"fail_first": 1})
    api.create("images/create", {"prompt": "p", "replyUrl": receiver.url})
    admin.advance(120)
    assert len(receiver.wait_for(1)) == 1
    log = wait_deliveries(admin, lambda entries: entries and entries[0]["state"] == "delivered")
    assert [a["ok"] for a in log[0]["attempts"]] == [False, True]


def test_webhook_one_per_job(api: Api, admin: Any, receiver: Receiver) -> None:
    ids = {api.create("images/create", {"prompt": "p", "replyUrl": receiver.url, "replyRef": str(n)})["jobId"]
           for n in range(3)}
    admin.advance(120)
    calls = receiver.wait_for(3)
    assert {c["body"]["jobId"] for c in calls} == ids
    assert sorted(c["body"]["replyRef"] for c in calls) == ["0", "1", "2"]


# -- dead receivers, on a simulator with short webhook timeouts ---------------------------------


@pytest.fixture(scope="module")
def quick_sim() -> Iterator[tuple[Api, AdminClient]]:
    """A private simulator whose webhooks give up fast: 0.3 s timeout, 2 attempts."""
    server, _app = start_simulator(webhook_timeout_s=0.3, webhook_attempts=2)
    yield Api(server.url, "demo-token"), AdminClient(server.url)
    server.stop()


def _fast_requests_while_waiting(api: Api, admin: AdminClient, n_jobs: int, attempts: int) -> list[dict[str, Any]]:
    """Other requests keep answering fast while deliveries fail; returns the final delivery log."""
    slowest = 0.0
    deadline = time.monotonic() + 6
    log: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        assert api.get("/scheduler").status_code == 200
        assert api.post("/images/create", json={"prompt": "p"}).status_code in (200, 429)  # 429 once maxJobs is full
        slowest = max(slowest, time.perf_counter() - t0)
        log = [d for d in admin.webhooks() if d["url"].endswith("/dead")]
        if len(log) == n_jobs and all(d["state"] == "failed" for d in log):
            break
        time.sleep(0.05)
    assert slowest < 1.0, slowest  # a hung receiver (2 s) never delays an API answer
    assert len(log) == n_jobs
    for delivery in log:
        assert delivery["state"] == "failed"
        assert len(delivery["attempts"]) == attempts
        assert not any(a["ok"] for a in delivery["attempts"])
    return log


def test_webhook_to_closed_port_is_bounded(quick_sim: tuple[Api, AdminClient]) -> None:
    api, admin = quick_sim
    admin.reset()
    url = f"http://127.0.0.1:{free_port()}/dead"
    for _ in range(3):
        api.create("images/create", {"prompt": "p", "replyUrl": url})
    admin.advance(120)
    _fast_requests_while_waiting(api, admin, 3, attempts=2)
    time.sleep(0.6)
    assert all(len(d["attempts"]) == 2 for d in admin.webhooks())  # no further attempts


def test_webhook_to_hanging_receiver_is_bounded(quick_sim: tuple[Api, AdminClient], receiver: Receiver) -> None:
    api, admin = quick_sim
    admin.reset()
    receiver.delay_s = 2.0  # far longer than the 0.3 s timeout
    url = receiver.url.replace("/hook", "/dead")
    for _ in range(2):
        api.create("images/create", {"prompt": "p", "replyUrl": url})
    admin.advance(120)
    log = _fast_requests_while_waiting(api, admin, 2, attempts=2)
    for delivery in log:
        assert all(a["error"] for a in delivery["attempts"])
    assert requests.get(f"{api.url}/__admin/state", timeout=2).status_code == 200
