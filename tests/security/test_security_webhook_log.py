"""The webhook delivery log is bounded in entries and bytes (it used to grow without end), never drops a
delivery still to be made, and reads in time independent of its size."""

from __future__ import annotations

import time
from typing import Any

import requests

from mock_server.sim.deliveries import LOG, LOG_BYTES_KEY, record_size


def finish_jobs(live: Any, n: int, reply_url: str) -> list[str]:
    """n image jobs with a replyUrl, each finished by advancing the simulated clock; their ids."""
    ids = []
    for i in range(n):
        r = requests.post(f"{live.api}/images/create", json={"prompt": f"job {i}", "replyUrl": reply_url},
                          headers=live.headers, timeout=10)
        assert r.status_code == 200, r.text
        ids.append(r.json()["jobId"])
        assert requests.post(f"{live.admin}/clock", json={"advance": 600}, timeout=10).status_code == 200
    return ids


def test_security_delivery_log_keeps_at_most_its_entry_limit(serve: Any, receiver: Any) -> None:
    live = serve(background=True, webhook_log_limit=8)
    ids = finish_jobs(live, 20, receiver.url)
    deadline = time.monotonic() + 30  # real time: deliveries go over loopback from the worker thread
    while len(receiver.calls) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.calls) == 20
    log = requests.get(f"{live.admin}/webhooks", timeout=10).json()
    assert len(log) <= 8 + live.sim.deliveries.pending(), len(log)
    while live.sim.deliveries.pending() and time.monotonic() < deadline:  # the receiver sees an attempt
        time.sleep(0.02)                                                   # a moment before it is logged
    ids += finish_jobs(live, 1, receiver.url)  # one more enqueue trims what had finished meanwhile
    deadline = time.monotonic() + 30
    while len(receiver.calls) < 21 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = requests.get(f"{live.admin}/webhooks", timeout=10).json()
    assert len(log) == 8, [d["state"] for d in log]
    assert [d["jobId"] for d in log] == ids[::-1][:8]  # the newest kept, newest first
    assert live.sim.store.index_count(LOG) == 8


def test_security_delivery_log_is_bounded_in_bytes_and_keeps_pending(serve: Any) -> None:
    live = serve(webhook_log_limit=10_000, webhook_log_bytes=200_000)
    deliveries = live.sim.deliveries
    body = {"prompt": "b" * 10_000}
    one = record_size({"id": "job-00000", "jobId": "job-00000", "url": "http://127.0.0.1:9/h", "body": body,
                       "attempts": [], "state": "pending", "created_ms": 0, "fail_first": 0, "size": 0}, 3)
    for i in range(60):
        (delivery_id,) = deliveries.enqueue(f"job-{i:05d}", "http://127.0.0.1:9/h", body)
        deliveries.record(delivery_id, ok=True, status=200, error=None, duration_ms=1, max_attempts=3)
    size = live.sim.store.get_meta(LOG_BYTES_KEY)
    kept = live.sim.store.index_count(LOG)
    assert size <= 200_000 + one and kept <= 200_000 // one + 1, (size, kept, one)
    assert [d["id"] for d in deliveries.log(0, 2)] == ["job-00059", "job-00058"]  # the newest stay
    # Deliveries still due are never dropped, whatever the budget says.
    pending = [deliveries.enqueue(f"due-{i}", "http://127.0.0.1:9/h", body)[0] for i in range(30)]
    assert {d["id"] for d in deliveries.log(0, 100)} >= set(pending)
    assert deliveries.pending() == 30
    # An attempt's error is clipped before it is logged.
    record = deliveries.record(pending[0], ok=False, status=None, error="e" * 100_000, duration_ms=1, max_attempts=3)
    assert record is not None and len(record["attempts"][0]["error"]) <= 301


def test_security_delivery_log_reads_fast_at_its_cap(serve: Any) -> None:
    cap = 400
    live = serve(webhook_log_limit=cap)
    deliveries = live.sim.deliveries
    for i in range(cap + 50):
        (delivery_id,) = deliveries.enqueue(f"job-{i:05d}", "http://127.0.0.1:9/h", {"prompt": "x" * 500})
        deliveries.record(delivery_id, ok=True, status=200, error=None, duration_ms=1, max_attempts=3)
    assert live.sim.store.index_count(LOG) == cap
    timings = {}
    for name, url in (("webhooks", f"{live.admin}/webhooks"), ("dashboard", f"{live.admin}/dashboard/data")):
        t0 = time.perf_counter()
        r = requests.get(url, timeout=30)
        timings[name] = time.perf_counter() - t0
        assert r.status_code == 200
    assert len(requests.get(f"{live.admin}/webhooks", timeout=10).json()) == cap
    assert max(timings.values()) < 2.0, timings  # figures: docs/reliability.md
