"""Webhook faults: duplicates, late and out-of-order deliveries, failing first; the delivery log.

The receiver is a real HTTP server on a loopback port. Deliveries are made by the simulator's
worker thread in real time once the simulated job end has passed, so after advancing the clock
each test polls the receiver for a second or two.
"""

from __future__ import annotations

import time
from typing import Any

from contracts.spec import get_contract


def job_model_errors(body: Any) -> list[str]:
    """What the contract says about a webhook body (it is the GET /assets/{jobId} job model)."""
    return get_contract().operations["getJob"].response_check(200, "application/json").errors(body)


def start(client: Any, receiver: Any, ref: str) -> str:
    return client.create_image("A red fox", reply_url=receiver.url, reply_ref=ref).job_id


def deliveries_of(ltx_mock: Any, job_id: str) -> list[dict[str, Any]]:
    return [d for d in ltx_mock.admin.webhooks() if d["jobId"] == job_id]


def settled_deliveries_of(ltx_mock: Any, job_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The job's delivery log once no delivery is pending or retrying: the receiver sees an attempt a moment before
    the simulator has logged its answer (a retry's too: after a failed first attempt the state is "retrying")."""
    deadline = time.monotonic() + timeout
    logs = deliveries_of(ltx_mock, job_id)
    while any(d["state"] in ("pending", "retrying") for d in logs) and time.monotonic() < deadline:
        time.sleep(0.02)
        logs = deliveries_of(ltx_mock, job_id)
    return logs


def test_webhook_delivered_once_by_default_and_logged(ltx_mock: Any, client: Any, receiver: Any) -> None:
    job_id = start(client, receiver, "one")
    ltx_mock.admin.advance(60)
    calls = receiver.wait_for(1)
    assert len(calls) == 1
    body = calls[0]["body"]
    assert body["jobId"] == job_id and body["replyRef"] == "one" and body["status"]["type"] == "completed"
    assert job_model_errors(body) == []
    time.sleep(0.2)
    assert len(receiver.calls) == 1
    [log] = settled_deliveries_of(ltx_mock, job_id)
    assert log["state"] == "delivered" and [a["status"] for a in log["attempts"]] == [200]
    assert log["url"] == receiver.url


def test_webhook_fault_delivered_twice(ltx_mock: Any, client: Any, receiver: Any) -> None:
    ltx_mock.admin.next_outcome("completed", webhook={"copies": 2})
    job_id = start(client, receiver, "twice")
    ltx_mock.admin.advance(60)
    calls = receiver.wait_for(2)
    assert len(calls) == 2
    assert calls[0]["body"] == calls[1]["body"] and calls[0]["body"]["jobId"] == job_id
    assert job_model_errors(calls[1]["body"]) == []
    logs = settled_deliveries_of(ltx_mock, job_id)
    assert sorted(d["id"] for d in logs) == [f"{job_id}#0", f"{job_id}#1"]
    assert all(d["state"] == "delivered" for d in logs)


def test_webhook_fault_late_delivery(ltx_mock: Any, client: Any, receiver: Any) -> None:
    ltx_mock.admin.next_outcome("completed", webhook={"delay_s": 0.6})
    job_id = start(client, receiver, "late")
    ltx_mock.admin.advance(60)
    assert client.get_job(job_id).is_done  # polling already sees it finished ...
    assert deliveries_of(ltx_mock, job_id)[0]["state"] == "pending"  # ... the webhook is not sent yet
    calls = receiver.wait_for(1)
    assert len(calls) == 1
    [log] = settled_deliveries_of(ltx_mock, job_id)
    assert log["attempts"][0]["at_ms"] - log["created_ms"] >= 600  # queued at the job's end, sent 0.6 s later


def test_webhook_fault_out_of_order(ltx_mock: Any, client: Any, receiver: Any) -> None:
    """Job A ends first but its webhook arrives after job B's."""
    ltx_mock.admin.next_outcome("completed", webhook={"delay_s": 1.2})
    first = start(client, receiver, "A")
    ltx_mock.admin.advance(60)  # A ends now; its webhook waits 1.2 s
    second = start(client, receiver, "B")
    ltx_mock.admin.advance(60)  # B ends after A, its webhook goes at once
    calls = receiver.wait_for(2, timeout=4)
    assert [c["body"]["replyRef"] for c in calls] == ["B", "A"]
    assert [c["body"]["jobId"] for c in calls] == [second, first]


def test_webhook_fault_fail_first_is_retried(ltx_mock: Any, client: Any, receiver: Any) -> None:
    """fail_first: the simulator's first attempt fails (no request sent); the retry delivers."""
    ltx_mock.admin.next_outcome("completed", webhook={"fail_first": 1})
    job_id = start(client, receiver, "retry")
    ltx_mock.admin.advance(60)
    calls = receiver.wait_for(1, timeout=3)
    assert len(calls) == 1 and len(receiver.calls) == 1
    [log] = settled_deliveries_of(ltx_mock, job_id)
    assert [a["ok"] for a in log["attempts"]] == [False, True]
    assert log["attempts"][0]["error"] == "injected failure (fail_first)"
    assert log["state"] == "delivered"


def test_webhook_receiver_failing_first_gets_a_retry(ltx_mock: Any, client: Any, receiver: Any) -> None:
    """A replyUrl answering 500 once: the attempt and its status are logged, the retry succeeds."""
    receiver.fail_first = 1
    job_id = start(client, receiver, "flaky")
    ltx_mock.admin.advance(60)
    accepted = receiver.wait_for(1, timeout=3)
    assert len(accepted) == 1 and [c["status"] for c in receiver.calls] == [500, 200]
    [log] = settled_deliveries_of(ltx_mock, job_id)
    assert [a["status"] for a in log["attempts"]] == [500, 200]
    assert log["attempts"][0]["error"] == "HTTP 500"
