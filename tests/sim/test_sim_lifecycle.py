"""A job's life: active with rising progress, completed or failed, credits, retention, pollForResult."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest
from sim_helpers import Api

DAY_S = 24 * 3600


def watch(api: Api, admin: Any, job_id: str, step_s: float = 1.0, limit: int = 400) -> list[dict[str, Any]]:
    """Advance the clock in steps and collect the job's status until it ends."""
    seen = []
    for _ in range(limit):
        status = api.ok(api.job(job_id))["status"]
        seen.append(status)
        if status["type"] != "active":
            return seen
        admin.advance(step_s)
    raise AssertionError(f"job still active after {limit} steps: {seen[-1]}")


@pytest.mark.parametrize(("operation", "body", "mime"), [
    ("images/create", {"prompt": "A castle"}, "image/png"),
    ("videos/veo-create", {"model": "veo3-fast"}, "video/mp4"),
])
def test_lifecycle_active_progress_rises_then_completes(api: Api, admin: Any, operation: str,
                                                        body: dict[str, Any], mime: str) -> None:
    job_id = api.create(operation, body)["jobId"]
    seen = watch(api, admin, job_id, step_s=2)
    active = [s["progress"] for s in seen if s["type"] == "active"]
    assert len(active) >= 3
    assert active == sorted(active) and active[-1] > active[0]
    assert all(0 <= p < 100 for p in active)
    final = seen[-1]
    assert final["type"] == "completed" and final["progress"] == 100
    artifact = final["artifact"]
    assert artifact["asset"]["mimeType"] == mime
    assert artifact["asset"]["type"] == "artifact"
    assert artifact["asset"]["artifactSubtype"]
    assert artifact["assetUrl"].startswith(api.url + "/")
    assert int(artifact["expirationDateString"]) > admin.clock()["now"]
    # Finished jobs stay finished.
    admin.advance(3600)
    assert api.ok(api.job(job_id))["status"]["type"] == "completed"


def test_lifecycle_failed_with_message_and_refund(api: Api, admin: Any) -> None:
    start = api.balance()
    admin.fail_next("Content policy violation", progress=40)
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    charged = api.balance()
    assert charged < start
    seen = watch(api, admin, job_id, step_s=1)
    assert all(s["progress"] <= 40 for s in seen)
    final = seen[-1]
    assert final["type"] == "failed"
    assert final["message"] == "Content policy violation"
    assert final["progress"] == 40
    assert "artifact" not in final
    assert api.balance() == start  # refunded
    admin.advance(3600)
    assert api.balance() == start  # once


def test_lifecycle_completed_job_is_not_refunded(api: Api, admin: Any) -> None:
    start = api.balance()
    job_id = api.create("videos/ltx-create", {"prompt": "p", "endAssetId": api.upload_id()})["jobId"]
    charged = api.balance()
    assert charged < start
    watch(api, admin, job_id, step_s=10)
    assert api.balance() == charged


def test_lifecycle_failure_at_zero_progress(api: Api, admin: Any) -> None:
    admin.fail_next("Rejected", progress=0)
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(1)
    status = api.ok(api.job(job_id))["status"]
    assert status["type"] == "failed" and status["message"] == "Rejected"


def test_lifecycle_stalled_job_stays_active_until_released(api: Api, admin: Any) -> None:
    admin.stall_next(progress=50)
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(3 * 3600)
    status = api.ok(api.job(job_id))["status"]
    assert status == {"type": "active", "progress": 50}
    admin.release_job(job_id)
    assert watch(api, admin, job_id, step_s=5)[-1]["type"] == "completed"


def test_lifecycle_jobs_expire_after_retention(api: Api, admin: Any) -> None:
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(6 * DAY_S)
    assert api.job(job_id).status_code == 200
    admin.advance(2 * DAY_S)
    resp = api.job(job_id)
    assert resp.status_code == 404
    assert resp.json()["code"] == 404 and resp.json()["error"]
    assert api.post("/images/upscale", json={"jobId": job_id}).status_code == 404


def test_lifecycle_session_loss_fails_running_jobs(api: Api, admin: Any) -> None:
    start = api.balance()
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(3)
    admin.expire_token("demo@example.com")
    status = api.ok(api.job(job_id))["status"]
    assert status["type"] == "failed" and status["message"]
    assert api.balance() == start
    assert api.ok(api.get("/scheduler")) == []


def test_lifecycle_get_job_with_encoded_id(api: Api) -> None:
    job_id = api.create("images/create", {"prompt": "p"})["jobId"]
    assert api.ok(api.get(f"/assets/{quote(job_id, safe='')}"))["jobId"] == job_id


def test_lifecycle_get_job_bad_ids(api: Api) -> None:
    resp = api.get("/assets/email:demo@example.com-job:nope-type:image")
    assert resp.status_code == 400 and resp.json()["code"] == 400
    unknown = api.job("email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:video")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404


def test_lifecycle_poll_for_result_with_paused_clock_answers_at_once(api: Api) -> None:
    t0 = time.perf_counter()
    body = api.ok(api.post("/images/create", json={"prompt": "p", "pollForResult": 20}))
    assert time.perf_counter() - t0 < 2
    assert set(body) == {"jobId", "generationId"}


def test_lifecycle_poll_for_result_with_fast_clock_returns_completed(api: Api, admin: Any) -> None:
    admin.clock(paused=False, speed=1000)
    t0 = time.perf_counter()
    body = api.ok(api.post("/images/create", json={"prompt": "p", "pollForResult": 10, "replyRef": "ref-9"}))
    elapsed = time.perf_counter() - t0
    assert elapsed < 2, elapsed
    assert body["code"] == 200
    assert body["status"]["type"] == "completed" and body["status"]["progress"] == 100
    assert body["status"]["artifact"]["asset"]["mimeType"] == "image/png"
    assert body["jobId"].endswith("-type:image") and body["generationId"]
    assert body["replyRef"] == "ref-9"


def test_lifecycle_poll_for_result_window_too_short_returns_job_id(api: Api, admin: Any) -> None:
    admin.clock(paused=False, speed=1000)
    t0 = time.perf_counter()
    body = api.ok(api.post("/videos/veo-create", json={"model": "veo3", "pollForResult": 1}))
    assert time.perf_counter() - t0 < 2
    assert set(body) == {"jobId", "generationId"}
    assert api.ok(api.job(body["jobId"]))["status"]["type"] == "active"
