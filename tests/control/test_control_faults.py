"""Faults through the ``ltx_mock`` fixture, seen by plain HTTP, the contract checks and the reference client.

HTTP faults (status, latency, dropped connection; next N or a seeded fraction), job faults
(fail at a progress, stall until released, completed before the artifact exists) and account
faults (expired session, drained credits, shrunk maxJobs).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from client import (
    AuthenticationError,
    BadRequestError,
    CapacityError,
    JobFailedError,
    PaymentRequiredError,
    ServerError,
    TransportError,
)
from contracts import validate

IMAGES = "/v1/ltxstudio/images/create"
DEMO = "demo@example.com"
ERROR_CLASSES = {400: BadRequestError, 401: AuthenticationError, 402: PaymentRequiredError, 429: CapacityError,
                 500: ServerError, 502: ServerError, 503: ServerError, 504: ServerError}


def create(ltx_mock: Any, **body: Any) -> requests.Response:
    return requests.post(ltx_mock.base_url + "/images/create", json={"prompt": "A red fox", **body},
                         headers=ltx_mock.headers, timeout=10)


# -- HTTP faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 402, 429, 500, 502, 503, 504])
def test_fault_status_answers_like_the_service(ltx_mock: Any, client: Any, status: int) -> None:
    """The injected answer has the service's {error, code} body; documented statuses pass the contract."""
    rule = ltx_mock.admin.fault(method="POST", path=IMAGES, status=status, count=1)
    assert rule["count"] == 1 and rule["status"] == status
    resp = create(ltx_mock)
    assert resp.status_code == status
    body = resp.json()
    assert body["code"] == status and isinstance(body["error"], str) and body["error"]
    assert validate.validate_response("createImage", resp) == body  # 4xx and 5XX are documented
    assert ltx_mock.admin.faults() == []  # count=1 is used up
    # the client retries a 429 (3 times: no job was made) and nothing else on a POST
    tries = 4 if status == 429 else 1
    ltx_mock.admin.fault(method="POST", path=IMAGES, status=status, count=tries)
    with pytest.raises(ERROR_CLASSES[status]) as info:
        client.create_image("A red fox")
    assert info.value.status == status and info.value.error == body["error"]
    assert ltx_mock.admin.count_requests(method="POST", path=IMAGES) == 1 + tries
    assert ltx_mock.admin.jobs()["total"] == 0


def test_fault_429_is_retried_by_the_client_until_it_passes(ltx_mock: Any, client: Any, sim_time: Any) -> None:
    ltx_mock.admin.fault(method="POST", path=IMAGES, status=429, count=2)
    created = client.create_image("A red fox")
    assert created.job_id
    statuses = [e["status"] for e in reversed(ltx_mock.admin.requests(method="POST", path=IMAGES))]
    assert statuses == [429, 429, 200]
    assert sim_time.slept == [0.5, 1.0]  # the client's back-off, spent in simulated time


def test_fault_post_503_is_not_retried_but_get_503_is(ltx_mock: Any, client: Any) -> None:
    """A POST that failed with 5xx may have created a job: the client must not resend it; a GET it may."""
    ltx_mock.admin.fault(method="POST", path=IMAGES, status=503, count=1)
    with pytest.raises(ServerError):
        client.create_image("A red fox")
    assert ltx_mock.admin.count_requests(method="POST", path=IMAGES) == 1
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/accounts", status=503, count=2)
    accounts = client.list_accounts()
    assert DEMO in accounts
    assert [e["status"] for e in reversed(ltx_mock.admin.requests(path="/v1/ltxstudio/accounts"))] == [503, 503, 200]


def test_fault_matches_method_and_path_glob_and_counts_down(ltx_mock: Any) -> None:
    rule = ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/scheduler*", status=502, count=2)
    assert create(ltx_mock).status_code == 200  # another path: untouched
    get = lambda p: requests.get(ltx_mock.base_url + p, headers=ltx_mock.headers, timeout=10)  # noqa: E731
    assert get("/scheduler/available").status_code == 502
    assert ltx_mock.admin.faults()[0]["count"] == 1 and ltx_mock.admin.faults()[0]["hits"] == 1
    assert get("/scheduler").status_code == 502
    assert get("/scheduler").status_code == 200
    assert ltx_mock.admin.faults() == []
    # journal entries say which fault answered them
    entries = ltx_mock.admin.requests(status=502)
    assert [e["fault"] for e in entries] == [rule["id"], rule["id"]]


def test_fault_can_be_listed_and_deleted(ltx_mock: Any) -> None:
    a = ltx_mock.admin.fault(path="/v1/ltxstudio/accounts", status=500, count=5)
    b = ltx_mock.admin.fault(path="/v1/ltxstudio/assets/*", latency_ms=1, count=5)
    assert [f["id"] for f in ltx_mock.admin.faults()] == [a["id"], b["id"]]
    resp = requests.delete(f"{ltx_mock.url}/__admin/faults/{a['id']}", timeout=5)
    assert resp.status_code == 204
    assert [f["id"] for f in ltx_mock.admin.faults()] == [b["id"]]
    assert requests.delete(f"{ltx_mock.url}/__admin/faults/{a['id']}", timeout=5).status_code == 404
    ltx_mock.admin.clear_faults()
    assert ltx_mock.admin.faults() == []


def test_fault_rejects_an_undocumented_status(ltx_mock: Any) -> None:
    resp = requests.post(f"{ltx_mock.url}/__admin/faults", json={"path": "/x", "status": 418}, timeout=5)
    assert resp.status_code == 400 and resp.json()["code"] == 400


def test_fault_fixed_latency_delays_the_answer(ltx_mock: Any) -> None:
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/accounts", latency_ms=300, count=1)
    t0 = time.perf_counter()
    resp = requests.get(ltx_mock.base_url + "/accounts", headers=ltx_mock.headers, timeout=10)
    slow = time.perf_counter() - t0
    assert resp.status_code == 200
    validate.validate_response("listAccounts", resp)  # only late, otherwise a normal answer
    t0 = time.perf_counter()
    requests.get(ltx_mock.base_url + "/accounts", headers=ltx_mock.headers, timeout=10)
    fast = time.perf_counter() - t0
    assert slow >= 0.3 and fast < slow
    slow_entry, fast_entry = ltx_mock.admin.requests(path="/v1/ltxstudio/accounts")[::-1]
    assert slow_entry["duration_ms"] >= 300 and slow_entry["fault"] and not fast_entry["fault"]


def test_fault_latency_makes_the_client_time_out(ltx_mock: Any) -> None:
    from client import LTXStudioClient

    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/accounts", latency_ms=600, count=4)
    with LTXStudioClient(ltx_mock.token, base_url=ltx_mock.base_url, timeout=(2, 0.2), retries=0) as c, \
            pytest.raises(TransportError):
        c.list_accounts()


def test_fault_random_latency_stays_in_its_range(ltx_mock: Any) -> None:
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/scheduler", latency_range_ms=[50, 150], count=3)
    for _ in range(3):
        t0 = time.perf_counter()
        assert requests.get(ltx_mock.base_url + "/scheduler", headers=ltx_mock.headers, timeout=10).ok
        assert 0.05 <= time.perf_counter() - t0 < 2.0
    entries = ltx_mock.admin.requests(path="/v1/ltxstudio/scheduler")
    assert all(e["duration_ms"] >= 50 for e in entries)


def test_fault_dropped_connection(ltx_mock: Any, client: Any) -> None:
    ltx_mock.admin.fault(method="POST", path=IMAGES, drop=True, count=1)
    with pytest.raises(requests.RequestException):
        create(ltx_mock)
    # the client sees a transport failure, and does not resend the POST (a job may have been made)
    ltx_mock.admin.fault(method="POST", path=IMAGES, drop=True, count=1)
    with pytest.raises(TransportError):
        client.create_image("A red fox")
    assert ltx_mock.admin.count_requests(method="POST", path=IMAGES) == 2
    # a GET is idempotent: the client retries past a dropped connection
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/accounts", drop=True, count=1)
    assert DEMO in client.list_accounts()


def test_fault_fraction_is_seeded_and_reproducible(ltx_mock: Any) -> None:
    """The same fraction rule after a reset hits the same requests (the simulator runs with seed 1234)."""

    def pattern() -> list[int]:
        ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/scheduler", status=503, fraction=0.3)
        out = [requests.get(ltx_mock.base_url + "/scheduler", headers=ltx_mock.headers, timeout=10).status_code
               for _ in range(40)]
        return [i for i, s in enumerate(out) if s == 503]

    first = pattern()
    assert 4 <= len(first) <= 20  # roughly 30 % of 40
    assert ltx_mock.admin.faults()[0]["hits"] == len(first)  # a fraction rule stays until removed
    ltx_mock.admin.reset()
    assert pattern() == first


# -- job faults ----------------------------------------------------------------------------------
def test_job_fault_fails_at_progress_with_message(ltx_mock: Any, client: Any) -> None:
    ltx_mock.admin.fail_next("Content policy violation", progress=40)
    before = client.get_account(DEMO).balance
    job = client.create_image("A red fox")
    ltx_mock.admin.advance(3)  # about 25 % of a ~12 s flux job: still running
    running = requests.get(f"{ltx_mock.base_url}/assets/{job.job_id}", headers=ltx_mock.headers, timeout=10)
    assert validate.validate_response("getJob", running)["status"]["type"] == "active"
    ltx_mock.admin.advance(60)
    failed = requests.get(f"{ltx_mock.base_url}/assets/{job.job_id}", headers=ltx_mock.headers, timeout=10)
    status = validate.validate_response("getJob", failed)["status"]
    assert status == {"type": "failed", "progress": 40, "message": "Content policy violation"}
    with pytest.raises(JobFailedError, match="Content policy violation") as info:
        client.wait(job)
    assert info.value.job.progress == 40
    assert client.get_account(DEMO).balance == before  # a failed job's credits come back


def test_job_fault_stall_until_released(ltx_mock: Any, client: Any) -> None:
    ltx_mock.admin.stall_next(progress=60)
    job = client.create_image("A red fox")
    ltx_mock.admin.advance(3600)
    stalled = client.get_job(job.job_id)
    assert (stalled.state, stalled.progress) == ("active", 60)
    assert [r.job_id for r in client.list_running_jobs()] == [job.job_id]  # it holds its maxJobs slot
    released = ltx_mock.admin.release_job(job.job_id)
    assert released["status"]["type"] == "active"
    done = client.wait(job)  # the client's polling sleeps advance the simulated clock
    assert done.state == "completed" and done.artifact is not None
    assert client.list_running_jobs() == []


def test_job_fault_completed_before_the_artifact(ltx_mock: Any, client: Any, sim_time: Any) -> None:
    """The out-of-sync case the docs warn about: status completed, no artifact yet."""
    ltx_mock.admin.next_outcome("completed", artifact_delay_s=30)
    job = client.create_image("A red fox")
    ltx_mock.admin.advance(20)  # past the run time, before the artifact
    resp = requests.get(f"{ltx_mock.base_url}/assets/{job.job_id}", headers=ltx_mock.headers, timeout=10)
    status = validate.validate_response("getJob", resp)["status"]
    assert status["type"] == "completed" and "artifact" not in status
    seen = client.get_job(job.job_id)
    assert seen.state == "completed" and not seen.is_done
    done = client.wait(job)  # keeps polling until the artifact appears
    assert done.artifact is not None and done.artifact.asset_url
    assert len(sim_time.slept) >= 2


# -- account faults ------------------------------------------------------------------------------
def test_account_fault_expired_token(ltx_mock: Any, client: Any) -> None:
    job = client.create_image("A red fox")
    ltx_mock.admin.expire_token(DEMO)
    ltx_mock.admin.advance(1)
    with pytest.raises(JobFailedError, match="session expired"):
        client.wait(job)
    resp = requests.get(ltx_mock.base_url + "/accounts", headers=ltx_mock.headers, timeout=10)
    assert "session expired" in validate.validate_response("listAccounts", resp)[DEMO]["error"]
    assert "session expired" in client.get_account(DEMO).error
    with pytest.raises(BadRequestError, match="session expired"):
        client.create_image("Another fox")
    # a fresh login (new cookie posted) brings the account back
    cookie = ltx_mock.admin.patch_ltx_user(DEMO, newSession=True)["cookie"]
    assert client.create_account(cookie).error is None
    assert client.create_image("A third fox").job_id


def test_account_fault_drained_credits(ltx_mock: Any, client: Any) -> None:
    ltx_mock.admin.drain_credits(DEMO)
    assert client.get_account(DEMO).balance.ltx_studio_token == 0
    resp = create(ltx_mock)
    assert resp.status_code == 402
    validate.validate_response("createImage", resp)
    with pytest.raises(PaymentRequiredError, match="Insufficient credits"):
        client.create_image("A red fox")


def test_account_fault_shrunk_max_jobs(ltx_mock: Any) -> None:
    from client import LTXStudioClient

    ltx_mock.admin.set_max_jobs(ltx_mock.token, DEMO, 1)
    with LTXStudioClient(ltx_mock.token, base_url=ltx_mock.base_url, retries=0) as c:
        assert c.get_account(DEMO).max_jobs == 1
        c.create_image("A red fox")
        with pytest.raises(CapacityError, match="maximum capacity"):
            c.create_image("A second fox")
        available = c.scheduler_available()
    assert available.available[0].available == 0
    resp = create(ltx_mock)
    assert resp.status_code == 429
    validate.validate_response("createImage", resp)
