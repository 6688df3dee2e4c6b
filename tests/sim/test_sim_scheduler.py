"""GET /scheduler, GET /scheduler/available, DELETE /scheduler/{jobId}, capacity (429) and load balancing."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sim_helpers import DEMO_EMAIL, Api


def iso_ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def set_max_jobs(api: Api, admin: Any, n: int, email: str = DEMO_EMAIL) -> None:
    """Through the public API: POST /accounts again with the user's cookie and a new maxJobs."""
    cookie = admin.new_session(email)
    assert api.ok(api.post("/accounts", json={"cookie": cookie, "maxJobs": n}))["maxJobs"] == n


def test_scheduler_lists_running_jobs(api: Api, admin: Any) -> None:
    start = admin.clock()["now"]
    a = api.create("videos/veo-create", {"model": "veo3", "replyUrl": "http://127.0.0.1:9/cb", "replyRef": "r-1"})
    admin.advance(5)
    b = api.create("videos/veo-create", {"model": "veo3"})
    running = api.ok(api.get("/scheduler"))
    assert [e["jobId"] for e in running] == [a["jobId"], b["jobId"]]
    first, second = running
    assert first["email"] == DEMO_EMAIL
    assert iso_ms(first["started"]) == start and first["started"].endswith("Z")
    assert first["elapsed"] == "00:05" and second["elapsed"] == "00:00"
    assert first["replyUrl"] == "http://127.0.0.1:9/cb" and first["replyRef"] == "r-1"
    assert "replyUrl" not in second and "replyRef" not in second
    admin.advance(70)
    running = api.ok(api.get("/scheduler"))
    assert [e["elapsed"] for e in running] == ["01:15", "01:10"]


def test_scheduler_finished_jobs_leave_the_list(api: Api, admin: Any) -> None:
    job = api.create("images/create", {"prompt": "p"})["jobId"]
    assert [e["jobId"] for e in api.ok(api.get("/scheduler"))] == [job]
    admin.advance(120)
    assert api.ok(api.get("/scheduler")) == []
    resp = api.delete(f"/scheduler/{job}")
    assert resp.status_code == 404
    assert resp.json() == {"error": f"Unable to locate running jobId {job}", "code": 404}


def test_scheduler_available_per_account(api: Api, admin: Any, second_account: str) -> None:
    set_max_jobs(api, admin, 5)
    set_max_jobs(api, admin, 3, second_account)
    job = api.create("images/create", {"prompt": "p", "email": DEMO_EMAIL, "replyRef": "x"})["jobId"]
    admin.advance(1)
    api.create("images/create", {"prompt": "p", "email": DEMO_EMAIL})
    body = api.ok(api.get("/scheduler/available"))
    available = {a["email"]: a for a in body["available"]}
    assert available[DEMO_EMAIL] == {"email": DEMO_EMAIL, "maxJobs": 5, "executing": 2, "available": 3}
    assert available[second_account] == {"email": second_account, "maxJobs": 3, "executing": 0, "available": 3}
    assert len(body["executing"]) == 2
    assert body["executing"][0]["jobId"] == job and body["executing"][0]["replyRef"] == "x"
    admin.advance(120)
    after = {a["email"]: a for a in api.ok(api.get("/scheduler/available"))["available"]}
    assert after[DEMO_EMAIL]["executing"] == 0 and after[DEMO_EMAIL]["available"] == 5


def test_scheduler_delete_stops_tracking(api: Api, admin: Any) -> None:
    job = api.create("images/create", {"prompt": "p"})["jobId"]
    resp = api.delete(f"/scheduler/{quote(job, safe='')}")
    assert resp.status_code == 204 and resp.content == b""
    assert api.ok(api.get("/scheduler")) == []
    assert api.ok(api.get("/scheduler/available"))["available"][0]["executing"] == 0
    again = api.delete(f"/scheduler/{job}")
    assert again.status_code == 404
    assert again.json() == {"error": f"Unable to locate running jobId {job}", "code": 404}
    # The job still runs at LTX Studio; the API only stopped tracking it.
    assert api.job(job).status_code == 200


def test_scheduler_delete_unknown_and_malformed(api: Api) -> None:
    unknown = "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image"
    resp = api.delete(f"/scheduler/{unknown}")
    assert resp.status_code == 404
    assert resp.json() == {"error": f"Unable to locate running jobId {unknown}", "code": 404}
    bad = api.delete("/scheduler/not-a-job-id")
    assert bad.status_code in (400, 404) and bad.json()["code"] == bad.status_code


def test_scheduler_full_capacity_is_429(api: Api, admin: Any) -> None:
    set_max_jobs(api, admin, 1)
    api.create("images/create", {"prompt": "p"})
    balance = api.balance()
    for op, body in (("images/create", {"prompt": "p"}),
                     ("videos/veo-create", {"model": "veo3-fast"}),
                     ("videos/ltx-create", {"prompt": "p", "startAssetId": api.upload_id()})):
        resp = api.post(f"/{op}", json=body)
        assert resp.status_code == 429, resp.text
        assert set(resp.json()) == {"error", "code"} and resp.json()["code"] == 429
    assert api.balance() == balance
    assert admin.jobs()["total"] == 1


def test_scheduler_capacity_frees_when_job_ends(api: Api, admin: Any) -> None:
    set_max_jobs(api, admin, 1)
    api.create("images/create", {"prompt": "p"})
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    admin.advance(120)
    api.create("images/create", {"prompt": "p"})


def test_scheduler_deleted_job_frees_capacity(api: Api, admin: Any) -> None:
    set_max_jobs(api, admin, 1)
    job = api.create("images/create", {"prompt": "p"})["jobId"]
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    assert api.delete(f"/scheduler/{job}").status_code == 204
    api.create("images/create", {"prompt": "p"})


def test_scheduler_per_request_max_jobs_override(api: Api, admin: Any) -> None:
    set_max_jobs(api, admin, 1)
    api.create("images/create", {"prompt": "p"})
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    api.create("images/create", {"prompt": "p", "maxJobs": 2})
    assert api.post("/images/create", json={"prompt": "p", "maxJobs": 2}).status_code == 429
    api.create("images/create", {"prompt": "p", "maxJobs": 3})
    assert api.ok(api.get("/scheduler/available"))["available"][0]["executing"] == 3


def test_scheduler_available_is_what_plain_requests_get(api: Api, admin: Any) -> None:
    """Issue 15: maxJobs is the configured limit, executing every running job, available the plain admissions."""
    set_max_jobs(api, admin, 2)

    def figures() -> dict[str, Any]:
        [row] = api.ok(api.get("/scheduler/available"))["available"]
        return row

    api.create("images/create", {"prompt": "p"})
    assert figures() == {"email": DEMO_EMAIL, "maxJobs": 2, "executing": 1, "available": 1}
    api.create("images/create", {"prompt": "p"})
    api.create("images/create", {"prompt": "p", "maxJobs": 5})  # an override runs above the limit
    body = api.ok(api.get("/scheduler/available"))
    assert body["available"] == [{"email": DEMO_EMAIL, "maxJobs": 2, "executing": 3, "available": 0}]
    assert len(body["executing"]) == 3
    refused = api.post("/images/create", json={"prompt": "p"})
    assert refused.status_code == 429 and "3/2" in refused.json()["error"]
    # available counts exactly the plain requests admitted now: once one job ends, still none (3 -> 2 of 2)
    first = body["executing"][0]["jobId"]
    assert api.delete(f"/scheduler/{first}").status_code == 204
    assert figures()["available"] == 0
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    second = api.ok(api.get("/scheduler"))[0]["jobId"]
    assert api.delete(f"/scheduler/{second}").status_code == 204
    row = figures()
    assert row == {"email": DEMO_EMAIL, "maxJobs": 2, "executing": 1, "available": 1}
    for _ in range(row["available"]):
        api.create("images/create", {"prompt": "p"})
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    assert figures()["available"] == 0


def test_scheduler_load_balances_over_accounts(api: Api, second_account: str) -> None:
    emails = Counter()
    for _ in range(20):
        job = api.create("images/create", {"prompt": "p"})["jobId"]
        emails[job.split("-job:")[0].removeprefix("email:")] += 1
    assert set(emails) == {DEMO_EMAIL, second_account}
    assert sum(emails.values()) == 20


def test_scheduler_balancing_skips_full_accounts(api: Api, admin: Any, second_account: str) -> None:
    set_max_jobs(api, admin, 1, second_account)
    api.create("images/create", {"prompt": "p", "email": second_account})
    for _ in range(6):
        job = api.create("images/create", {"prompt": "p"})["jobId"]
        assert job.startswith(f"email:{DEMO_EMAIL}-job:")
    assert api.post("/images/create", json={"prompt": "p", "email": second_account}).status_code == 429


def test_scheduler_expired_session_account_is_skipped(api: Api, admin: Any, second_account: str) -> None:
    admin.expire_token(second_account)
    for _ in range(5):
        assert api.create("images/create", {"prompt": "p"})["jobId"].startswith(f"email:{DEMO_EMAIL}-job:")
    resp = api.post("/images/create", json={"prompt": "p", "email": second_account})
    assert resp.status_code == 400


def test_scheduler_concurrent_admission_never_exceeds_max_jobs(api: Api, admin: Any) -> None:
    set_max_jobs(api, admin, 3)
    statuses: list[int] = []

    def create() -> None:
        statuses.append(api.as_token(api.token).post("/images/create", json={"prompt": "p"}).status_code)

    threads = [threading.Thread(target=create) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [200] * 3 + [429] * 9
    assert api.ok(api.get("/scheduler/available"))["available"][0]["executing"] == 3
    assert admin.jobs()["total"] == 3


def test_scheduler_elapsed_minutes_exceed_99(api: Api, admin: Any) -> None:
    admin.stall_next(progress=10)
    api.create("images/create", {"prompt": "p"})
    admin.advance(2 * 3600 + 5)
    assert api.ok(api.get("/scheduler"))[0]["elapsed"] == "120:05"


def test_scheduler_deleting_the_account_stops_tracking_its_jobs(api: Api, admin: Any, second_account: str,
                                                                 receiver: Any) -> None:
    """Issue 15: with the account's configuration gone useapi.net cannot follow its jobs; one answer everywhere."""
    job = api.create("images/create", {"prompt": "p", "email": second_account, "replyUrl": receiver.url})["jobId"]
    kept = api.create("images/create", {"prompt": "p", "email": DEMO_EMAIL, "replyUrl": receiver.url})["jobId"]
    start = api.balance(second_account)
    assert api.delete(f"/accounts/{second_account}").status_code == 204
    assert [e["jobId"] for e in api.ok(api.get("/scheduler"))] == [kept]
    assert [e["jobId"] for e in api.ok(api.get("/scheduler/available"))["executing"]] == [kept]
    resp = api.delete(f"/scheduler/{job}")
    assert resp.status_code == 404
    assert resp.json() == {"error": f"Unable to locate running jobId {job}", "code": 404}
    assert api.job(job).status_code == 200  # the job record stays, as after DELETE /scheduler/{jobId}
    # configured again while the job still runs upstream: still not tracked, still not cancellable
    api.ok(api.post("/accounts", json={"cookie": admin.new_session(second_account)}))
    assert api.delete(f"/scheduler/{job}").status_code == 404
    assert api.ok(api.get("/scheduler/available"))["executing"][0]["jobId"] == kept
    admin.advance(120)
    assert api.ok(api.job(job))["status"]["type"] == "completed"
    assert api.balance(second_account) == start  # spent at admission, not refunded
    calls = receiver.wait_for(1)  # the tracked job's webhook arrives; none for the one no longer tracked
    assert [c["body"]["jobId"] for c in calls] == [kept]
    assert [c["body"]["jobId"] for c in receiver.wait_for(2, timeout=0.5)] == [kept]
