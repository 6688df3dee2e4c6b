"""The semantic checks on their own: each passes a good answer and names the defect in a bad one."""

from __future__ import annotations

import pytest
from contracts_helpers import FILE_ID, JOB, VIDEO_JOB, fake_response, get_job, job_body

from contracts.checks import (
    CheckFailure,
    JobHistory,
    Observation,
    check_artifacts_arrived,
    check_asset_id_format,
    check_job_id_format,
    check_job_status,
    check_pagination,
    check_refusal_side_effects,
    check_response,
    check_scheduler_capacity,
    check_secrets_masked,
    operation_for,
    semantic_failures,
)

SECURED = "…secured…"


def account(**cookie: str) -> dict:
    return {"email": "demo@example.com", "maxJobs": 20,
            "cookie": {"lt_id": "abc", "lt_token": SECURED, "lt_refresh_token": SECURED, **cookie}}


# -- operation matching --------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/v1/ltxstudio/assets/", "listAssets"),
    ("GET", "/v1/ltxstudio/assets", "listAssets"),
    ("GET", f"/v1/ltxstudio/assets/{JOB}", "getJob"),
    ("DELETE", f"/proxy/ltx/scheduler/{JOB}", "cancelJob"),  # mounted under another prefix
    ("POST", "/v1/ltxstudio/images/create", "createImage"),
    ("PATCH", "/v1/ltxstudio/accounts", None),
])
def test_contracts_operation_for_matches_with_or_without_prefix(method: str, path: str, expected: str | None) -> None:
    op = operation_for(method, path)
    assert (op.operation_id if op else None) == expected


# -- jobId -----------------------------------------------------------------------
def test_contracts_job_id_accepts_documented_shapes() -> None:
    check_job_id_format(fake_response("POST", "/images/create", 200, {"jobId": JOB, "generationId": "g"}))
    check_job_id_format(fake_response("GET", "/scheduler", 200, [{"jobId": JOB, "email": "demo@example.com"}]))
    check_job_id_format(get_job("active", 10))


@pytest.mark.parametrize(("path", "body", "request_json", "defect"), [
    ("/images/create", {"jobId": "email:demo@example.com-job:7a34b8219fd0405ea21b4abc6f7839e7----type:image",
                        "generationId": "g"}, None, "malformed jobId"),
    ("/images/create", {"jobId": VIDEO_JOB, "generationId": "g"}, None, "wrong media type"),
    ("/videos/ltx-create", {"jobId": JOB, "generationId": "g"}, None, "wrong media type"),
    ("/images/create", {"jobId": JOB, "generationId": "g"}, {"prompt": "x", "email": "other@example.com"},
     "another account"),
])
def test_contracts_job_id_defects_are_named(path: str, body: dict, request_json: dict | None, defect: str) -> None:
    with pytest.raises(CheckFailure, match=defect):
        check_job_id_format(fake_response("POST", path, 200, body, request_json=request_json))


def test_contracts_job_id_entry_email_must_match() -> None:
    resp = fake_response("GET", "/scheduler", 200, [{"jobId": JOB, "email": "other@example.com"}])
    with pytest.raises(CheckFailure, match="another account") as exc:
        check_job_id_format(resp)
    assert exc.value.expected


def test_contracts_get_job_must_return_the_job_asked_for() -> None:
    from urllib.parse import quote

    resp = fake_response("GET", "/assets/" + quote(JOB, safe=""), 200, job_body("active", 1, job_id=JOB.replace(
        "7a34b821", "7a34b822")))
    with pytest.raises(CheckFailure, match="another job returned"):
        check_job_id_format(resp)


# -- asset ids -------------------------------------------------------------------
def test_contracts_upload_file_id_carries_the_sent_mime_type() -> None:
    good = {"asset": {"type": "image", "fileId": FILE_ID, "mimeType": "image/png"}}
    check_asset_id_format(fake_response("POST", "/assets/", 200, good, data=b"x",
                                        headers={"Content-Type": "image/png"}))
    with pytest.raises(CheckFailure, match="another MIME type"):
        check_asset_id_format(fake_response("POST", "/assets/", 200, good, data=b"x",
                                            headers={"Content-Type": "image/jpeg"}))
    bad = {"asset": {"type": "image", "fileId": "asset:3b18-type:image/png", "mimeType": "image/png"}}
    with pytest.raises(CheckFailure, match="malformed asset id"):
        check_asset_id_format(fake_response("POST", "/assets/", 200, bad, data=b"x",
                                            headers={"Content-Type": "image/png"}))


def test_contracts_artifact_media_matches_the_job() -> None:
    check_asset_id_format(get_job("completed", 100, artifact=True))
    body = job_body("completed", 100, artifact=True, job_id=JOB)
    body["status"]["artifact"]["asset"].update(mimeType="video/mp4",
                                               fileId="asset:3b18c0de-5a7f-4e21-9b3c-8d4e6f708193-type:video/mp4")
    with pytest.raises(CheckFailure, match="artifact of the wrong media type"):
        check_asset_id_format(fake_response("GET", "/assets/x", 200, body))


# -- secrets -----------------------------------------------------------------------
def test_contracts_masked_accounts_pass() -> None:
    check_secrets_masked(fake_response("GET", "/accounts", 200, {"demo@example.com": account()}))


@pytest.mark.parametrize("body", [
    {"demo@example.com": account(lt_token="abc")},
    {"demo@example.com": account(lt_refresh_token="refresh-secret-value")},
    {"error": "cookie lt_token=eyJhbGciOiJIUzI1NiJ9abc rejected", "code": 400},
    {"error": "bad session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "code": 400},
    {"error": "token demo-token-1234 is not allowed", "code": 400},
])
def test_contracts_leaked_secrets_are_named(body: dict) -> None:
    resp = fake_response("GET", "/accounts", 200, body, headers={"Authorization": "Bearer demo-token-1234"})
    with pytest.raises(CheckFailure, match="secret leaked"):
        check_secrets_masked(resp)


def test_contracts_echoed_reply_ref_is_not_a_leak() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
    resp = fake_response("POST", "/images/create", 200, {"jobId": JOB, "generationId": "g", "replyRef": jwt},
                         request_json={"prompt": "x", "replyRef": jwt})
    check_secrets_masked(resp)
    # ...but a cookie the request sent must not come back
    resp = fake_response("POST", "/accounts", 400, {"error": f"bad cookie lt_token={jwt}", "code": 400},
                         request_json={"cookie": f"lt_token={jwt}; lt_refresh_token=abcdefgh1"})
    with pytest.raises(CheckFailure, match="secret leaked"):
        check_secrets_masked(resp)


def test_contracts_validation_message_quoting_the_cookie_pattern_is_not_a_leak() -> None:
    message = 'cookie: "x" does not match "^(?=(?:.*;\\\\s*)?lt_token=[^;\\\\s]+)"'
    check_secrets_masked(fake_response("POST", "/accounts", 400, {"error": message, "code": 400}))


# -- scheduler capacity -------------------------------------------------------------
def available(executing: int, max_jobs: int = 2, free: int | None = None, listed: int | None = None) -> dict:
    jobs = [{"jobId": JOB.replace("4abc6f7839e7", f"4abc6f78{i:04d}"), "email": "demo@example.com"}
            for i in range(executing if listed is None else listed)]
    return {"executing": jobs, "available": [{"email": "demo@example.com", "maxJobs": max_jobs,
                                              "executing": executing,
                                              "available": max(0, max_jobs - executing) if free is None else free}]}


def test_contracts_scheduler_capacity() -> None:
    check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(2)))
    # above maxJobs is possible (per-request overrides); available is then 0, not negative and not more
    check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(3)))
    with pytest.raises(CheckFailure, match="available is not"):
        check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(3, free=2)))
    with pytest.raises(CheckFailure, match="available is not"):
        check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(1, free=2)))
    with pytest.raises(CheckFailure, match="disagrees with the executing list"):
        check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(1, listed=2)))
    with pytest.raises(CheckFailure, match="disagrees with the executing list"):
        check_scheduler_capacity(fake_response("GET", "/scheduler/available", 200, available(1, listed=0)))


def _admit(history: JobHistory, n: int, overrides: dict[int, int]) -> None:
    for i in range(n):
        body = {"prompt": "p", **({"maxJobs": overrides[i]} if i in overrides else {})}
        job_id = JOB.replace("4abc6f7839e7", f"4abc6f78{i:04d}")
        semantic_failures(fake_response("POST", "/images/create", 200, {"jobId": job_id, "generationId": "g"},
                                        request_json=body), history)


@pytest.mark.parametrize(("overrides", "ok"), [
    ({}, False),  # three plain jobs on a maxJobs-2 account: the third was admitted above the limit
    ({2: 5}, True),  # the third came with maxJobs 5: fine, and available shows 0
    ({2: 3}, True),
    ({2: 2}, False),  # an override of 2 does not admit a third job
    ({0: 5, 1: 5}, False),  # overrides early on do not excuse a plain third
])
def test_contracts_scheduler_capacity_judges_admissions_with_history(overrides: dict[int, int], ok: bool) -> None:
    history = JobHistory()
    _admit(history, 3, overrides)
    failures = semantic_failures(fake_response("GET", "/scheduler/available", 200, available(3)), history)
    named = [exc for name, exc in failures if name == "check_scheduler_capacity"]
    assert (not named) == ok, named
    if not ok:
        assert "admitted above maxJobs" in str(named[0])


def test_contracts_scheduler_capacity_lowered_limit_is_not_a_defect() -> None:
    history = JobHistory()
    semantic_failures(fake_response("GET", "/accounts/demo@example.com", 200, {**account(), "maxJobs": 3}), history)
    _admit(history, 3, {})
    failures = semantic_failures(fake_response("GET", "/scheduler/available", 200, available(3)), history)
    assert failures == []  # admitted under maxJobs 3, then lowered to 2
    unknown = JobHistory()  # jobs this history never saw admitted: not judged
    assert semantic_failures(fake_response("GET", "/scheduler/available", 200, available(3)), unknown) == []


# -- pagination -----------------------------------------------------------------------
def page(n_items: int, **meta: int) -> dict:
    item = {"id": "x", "signedAsset": {"assetUrl": "http://h/a", "expirationDateString": "1",
                                       "asset": {"type": "image", "fileId": FILE_ID, "mimeType": "image/png"}}}
    return {"items": [item] * n_items, "meta": meta}


@pytest.mark.parametrize(("query", "body", "defect"), [
    ("?page=2&limit=3", page(3, totalItems=7, itemCount=3, itemsPerPage=3, totalPages=3, currentPage=2), None),
    ("?page=3&limit=3", page(1, totalItems=7, itemCount=1, itemsPerPage=3, totalPages=3, currentPage=3), None),
    ("", page(0, totalItems=0, itemCount=0, itemsPerPage=20, totalPages=0, currentPage=1), None),
    ("?limit=3", page(3, totalItems=7, itemCount=2, itemsPerPage=3, totalPages=3, currentPage=1), "itemCount"),
    ("?limit=3", page(3, totalItems=7, itemCount=3, itemsPerPage=3, totalPages=2, currentPage=1), "totalPages"),
    ("?page=2&limit=3", page(3, totalItems=7, itemCount=3, itemsPerPage=3, totalPages=3, currentPage=1),
     "currentPage"),
    ("?limit=5", page(3, totalItems=3, itemCount=3, itemsPerPage=3, totalPages=1, currentPage=1), "itemsPerPage"),
    ("?page=3&limit=3", page(3, totalItems=7, itemCount=3, itemsPerPage=3, totalPages=3, currentPage=3), "holds"),
])
def test_contracts_pagination_meta(query: str, body: dict, defect: str | None) -> None:
    resp = fake_response("GET", "/assets/" + query, 200, body)
    if defect is None:
        check_pagination(resp)
    else:
        with pytest.raises(CheckFailure, match=defect):
            check_pagination(resp)


# -- job status history ----------------------------------------------------------------------
def test_contracts_job_status_moves_forward() -> None:
    history = JobHistory()
    for resp in (get_job("active", 0), get_job("active", 40), get_job("completed", 100),
                 get_job("completed", 100, artifact=True)):
        check_job_status(resp, history)
    assert history.pending_artifacts() == []


@pytest.mark.parametrize(("first", "then", "defect"), [
    (("completed", 100), ("active", 50), "went back"),
    (("failed", 30), ("active", 30), "went back"),
    (("failed", 30), ("completed", 100), "went back"),
    (("active", 60), ("active", 40), "progress fell"),
])
def test_contracts_job_status_regressions_are_named(first: tuple, then: tuple, defect: str) -> None:
    history = JobHistory()
    check_job_status(get_job(*first), history)
    with pytest.raises(CheckFailure, match=defect):
        check_job_status(get_job(*then), history)


def test_contracts_artifact_may_not_disappear() -> None:
    history = JobHistory()
    check_job_status(get_job("completed", 100, artifact=True), history)
    with pytest.raises(CheckFailure, match="artifact disappeared"):
        check_job_status(get_job("completed", 100), history)


def test_contracts_completed_job_eventually_gets_its_artifact() -> None:
    history = JobHistory()
    check_job_status(get_job("completed", 100), history)
    assert history.pending_artifacts() == [JOB]
    answers = iter([get_job("completed", 100), get_job("completed", 100, artifact=True)])
    waited: list[float] = []
    check_artifacts_arrived(history, lambda job_id: next(answers), timeout_s=10, wait=waited.append)
    assert waited == [1.0]
    assert history.pending_artifacts() == []


def test_contracts_artifact_that_never_arrives_fails_after_the_timeout() -> None:
    history = JobHistory()
    check_job_status(get_job("completed", 100), history)
    waited: list[float] = []
    with pytest.raises(CheckFailure, match="never got an artifact"):
        check_artifacts_arrived(history, lambda job_id: get_job("completed", 100), timeout_s=3,
                                wait=waited.append)
    assert sum(waited) == 3


# -- refusals -------------------------------------------------------------------------------
def test_contracts_refusal_side_effects() -> None:
    refused = fake_response("POST", "/images/create", 429, {"error": "busy", "code": 429})
    before = Observation({"demo@example.com": 100.0}, {"a"})
    check_refusal_side_effects(refused, before, Observation({"demo@example.com": 110.0}, set()))  # a refund
    with pytest.raises(CheckFailure, match="spent credits"):
        check_refusal_side_effects(refused, before, Observation({"demo@example.com": 90.0}, {"a"}))
    with pytest.raises(CheckFailure, match="created a job"):
        check_refusal_side_effects(refused, before, Observation({"demo@example.com": 100.0}, {"a", "b"}))
    accepted = fake_response("POST", "/images/create", 200, {"jobId": JOB, "generationId": "g"})
    check_refusal_side_effects(accepted, before, Observation({"demo@example.com": 90.0}, {"a", "b"}))


# -- all together -----------------------------------------------------------------------------
def test_contracts_semantic_failures_collects_and_check_response_raises() -> None:
    bad = fake_response("GET", "/accounts", 200, {"demo@example.com": account(lt_token="leak")})
    failures = semantic_failures(bad)
    assert [name for name, _ in failures] == ["check_secrets_masked"]
    with pytest.raises(CheckFailure) as exc:
        check_response(bad)
    assert exc.value.defect == "secret leaked"
    assert semantic_failures(fake_response("GET", "/accounts", 200, {"demo@example.com": account()})) == []


def test_contracts_echo_of_the_request_own_fields_is_not_a_leak() -> None:
    """Query values, the path and form fields the caller sent may come back in an error message."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig"
    resp = fake_response("GET", f"/assets/?email={jwt}@x", 400,
                         {"error": f"Unable to locate LTX Studio account {jwt}@x", "code": 400})
    check_secrets_masked(resp)
    form = fake_response("POST", "/images/create", 400, {"error": "replyRef demo-token-1234 echoed", "code": 400},
                         data={"replyRef": "demo-token-1234"}, token="demo-token-1234")
    check_secrets_masked(form)
    cookie = fake_response("POST", "/accounts", 400, {"error": f"cookie lt_token={jwt} refused", "code": 400},
                           data={"cookie": f"lt_token={jwt}"})
    with pytest.raises(CheckFailure, match="secret leaked"):
        check_secrets_masked(cookie)


def test_contracts_scheduler_capacity_orders_admissions_by_started() -> None:
    """Answers of concurrent requests may arrive out of admission order: ``started`` says which came first."""
    history = JobHistory()
    _admit(history, 2, {0: 5})  # answers: the override first, then the plain one
    body = available(2, max_jobs=1)
    body["executing"][0]["started"] = "2025-06-03T12:00:00.500Z"  # the override started after the plain job
    body["executing"][1]["started"] = "2025-06-03T12:00:00.100Z"
    assert semantic_failures(fake_response("GET", "/scheduler/available", 200, body), history) == []
    body["executing"][1]["started"] = "2025-06-03T12:00:00.900Z"  # the plain one came second: above maxJobs 1
    failures = semantic_failures(fake_response("GET", "/scheduler/available", 200, body), history)
    assert [name for name, _ in failures] == ["check_scheduler_capacity"]
