"""The dashboard's page and its JSON endpoints, without a browser."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from dashboard_helpers import DEMO_EMAIL, Api
from helpers import Receiver

from mock_server.dashboard.data import SECURED, scrub


def wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    """Webhooks go out on real time (a worker thread): poll briefly for them."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_dashboard_page_is_plain_html_with_static_script(ltx_mock: Any) -> None:
    resp = requests.get(f"{ltx_mock.url}/__admin/dashboard", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert '/__admin/dashboard/static/dashboard.js' in resp.text
    js = requests.get(f"{ltx_mock.url}/__admin/dashboard/static/dashboard.js", timeout=10)
    css = requests.get(f"{ltx_mock.url}/__admin/dashboard/static/dashboard.css", timeout=10)
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert ".innerHTML" not in js.text  # every server value is written as text
    # the dashboard is not part of the API: no token needed, and its traffic stays out of the journal
    assert ltx_mock.admin.count_requests(path="/__admin/*") == 0


def test_dashboard_data_follows_jobs_from_running_to_completed(ltx_mock: Any, api: Api) -> None:
    image = api.image("A lighthouse in a storm")
    video = api.video()
    ltx_mock.admin.advance(1)
    d = api.dashboard()
    assert d["clock"]["paused"] is True
    assert d["counts"]["jobs"] == 2 and d["counts"]["running"] == 2
    running = {j["jobId"]: j for j in d["running"]["items"]}
    assert set(running) == {image, video}
    assert all(j["status"] == "active" and 0 < j["progress"] < 100 for j in running.values())
    [tenant] = d["tenants"]
    assert tenant["hint"] == "…" and tenant["id"].startswith("t_")
    [account] = tenant["accounts"]
    assert account["email"] == DEMO_EMAIL
    assert (account["maxJobs"], account["executing"], account["available"]) == (20, 2, 18)
    assert account["credits"] == ltx_mock.admin.get_ltx_user(DEMO_EMAIL)["credits"] < 28000
    assert account["subscription"] is True and account["tokenExpireUTC"].endswith("Z")
    assert d["ltxUsers"]["total"] == 1 and d["ltxUsers"]["items"][0]["email"] == DEMO_EMAIL

    ltx_mock.admin.advance(600)
    d = api.dashboard()
    assert d["counts"]["running"] == 0 and d["running"]["items"] == []
    jobs = {j["jobId"]: j for j in d["jobs"]["items"]}
    assert jobs[image]["status"] == jobs[video]["status"] == "completed"
    assert jobs[image]["credits"] > 0 and jobs[image]["durationMs"] > 0
    assert jobs[image]["prompt"] == "A lighthouse in a storm"
    # the artifact links are the simulator's own signed /storage URLs, the same the API hands out
    api_url = api.job(image)["status"]["artifact"]["assetUrl"]
    assert jobs[image]["artifact"]["url"].split("?")[0] == api_url.split("?")[0]
    # the page loads previews through /__admin/dashboard/storage: same signature, kept out of the journal
    preview = jobs[image]["artifact"]["previewUrl"]
    assert preview == jobs[image]["artifact"]["url"].replace("/storage/", "/__admin/dashboard/storage/")
    img = requests.get(jobs[image]["artifact"]["thumbnailUrl"], timeout=10)
    assert img.status_code == 200 and img.content.startswith(b"\x89PNG")
    assert ltx_mock.admin.count_requests(path="*/storage/*") == 0
    assert requests.get(preview.replace("Signature=", "Signature=0"), timeout=10).status_code == 403
    mp4 = requests.get(jobs[video]["artifact"]["url"], timeout=10)
    assert mp4.status_code == 200 and mp4.headers["Content-Type"] == "video/mp4"
    poster = requests.get(jobs[video]["artifact"]["thumbnailUrl"], timeout=10)
    assert poster.status_code == 200 and poster.content[8:12] == b"WEBP"


def test_dashboard_data_shows_failures_stalls_and_queued_outcomes(ltx_mock: Any, api: Api) -> None:
    ltx_mock.admin.fail_next("Content policy violation", progress=40)
    assert api.dashboard()["outcomes"][0]["outcome"] == "failed"
    failed = api.image()
    ltx_mock.admin.stall_next(progress=30)
    stalled = api.image()
    ltx_mock.admin.advance(3600)
    d = api.dashboard()
    jobs = {j["jobId"]: j for j in d["jobs"]["items"]}
    assert jobs[failed]["status"] == "failed" and jobs[failed]["message"] == "Content policy violation"
    assert "artifact" not in jobs[failed] and jobs[failed]["refunded"] is True
    assert jobs[stalled]["status"] == "active" and jobs[stalled]["stalled"] is True
    assert jobs[stalled]["progress"] == 30
    assert [j["jobId"] for j in d["running"]["items"]] == [stalled]

    detail = requests.get(f"{ltx_mock.url}/__admin/dashboard/jobs/{stalled}", timeout=10).json()
    assert detail["job"] == api.job(stalled)  # the documented job model, as GET /assets/{jobId} says
    assert detail["plan"]["end_ms"] is None and detail["row"]["stalled"] is True
    assert detail["params"]["prompt"] == "A serene mountain landscape at sunset"
    missing = requests.get(f"{ltx_mock.url}/__admin/dashboard/jobs/email:x-job:nope-type:image", timeout=10)
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_dashboard_data_pages_jobs_newest_first(ltx_mock: Any, api: Api) -> None:
    ids = []
    for i in range(12):
        ids.append(api.image(f"picture {i}"))
        ltx_mock.admin.advance(0.01)
    newest_first = ids[::-1]
    page1 = api.dashboard(jobs_limit=5)["jobs"]
    page3 = api.dashboard(jobs_limit=5, jobs_offset=10)["jobs"]
    assert page1["total"] == page3["total"] == 12
    assert [j["jobId"] for j in page1["items"]] == newest_first[:5]
    assert [j["jobId"] for j in page3["items"]] == newest_first[10:]
    assert api.dashboard(jobs_limit=10**6)["jobs"]["limit"] == 200
    bad = requests.get(f"{ltx_mock.url}/__admin/dashboard/data", params={"jobs_offset": "x"}, timeout=10)
    assert bad.status_code == 400 and "jobs_offset" in bad.json()["error"]


def test_dashboard_requests_filter_and_detail(ltx_mock: Any, api: Api) -> None:
    api.image("journal me")
    api.session.get(f"{api.base}/accounts", timeout=10)
    api.session.get(f"{api.base}/assets/not-a-job", timeout=10)  # 400
    requests.get(f"{api.base}/accounts", timeout=10)  # 401, no token
    d = api.dashboard()["requests"]
    assert d["total"] == 4 and d["filtered"] is False
    assert [r["method"] for r in d["items"]] == ["GET", "GET", "GET", "POST"]
    assert {"id", "time", "method", "path", "status", "durationMs"} <= set(d["items"][0])

    assert [r["status"] for r in api.dashboard(requests_status="4xx")["requests"]["items"]] == [401, 400]
    only_posts = api.dashboard(requests_method="post")["requests"]
    assert only_posts["total"] == 1 and only_posts["items"][0]["path"].endswith("/images/create")
    assert api.dashboard(requests_path="/accounts", requests_status="200")["requests"]["total"] == 1
    assert api.dashboard(requests_path="*/assets/*")["requests"]["total"] == 1
    paged = api.dashboard(requests_path="/v1/", requests_limit=2)["requests"]
    assert len(paged["items"]) == 2 and paged["more"] is True and paged["total"] is None

    post = only_posts["items"][0]
    entry = requests.get(f"{ltx_mock.url}/__admin/dashboard/requests/{post['id']}", timeout=10).json()
    assert entry["body"] == {"prompt": "journal me"}
    assert entry["response"]["jobId"].startswith("email:")
    assert entry["headers"]["Authorization"] == f"Bearer {SECURED}"
    assert requests.get(f"{ltx_mock.url}/__admin/dashboard/requests/99999", timeout=10).status_code == 404


def test_dashboard_lists_webhook_deliveries_with_attempts(ltx_mock: Any, api: Api, receiver: Receiver) -> None:
    ltx_mock.admin.next_outcome("completed", webhook={"fail_first": 1})
    job_id = api.image("hooked", replyUrl=receiver.url, replyRef="ref-1")
    ltx_mock.admin.advance(600)

    def delivered() -> list[dict[str, Any]]:
        items = api.dashboard()["webhooks"]["items"]
        return items if items and items[0]["state"] == "delivered" else []

    [hook] = wait_for(delivered)
    assert hook["jobId"] == job_id and hook["url"] == receiver.url
    assert [a["ok"] for a in hook["attempts"]] == [False, True]
    assert hook["attempts"][0]["error"].startswith("injected failure") and hook["attempts"][1]["status"] == 200
    assert hook["body"]["status"]["type"] == "completed" and hook["body"]["replyRef"] == "ref-1"
    assert json.loads(receiver.calls[0]["raw"])["jobId"] == job_id


def test_dashboard_never_shows_a_secret(ltx_mock: Any, api: Api) -> None:
    token = "sk-dashboard-secret-token-0123456789"
    ltx_mock.admin.add_token(token)
    user = ltx_mock.admin.create_ltx_user(email="secret@example.com", credits=500)
    cookie = user["cookie"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{api.base}/accounts", json={"cookie": cookie}, headers=headers,
                         timeout=10).status_code == 200
    requests.get(f"{api.base}/accounts", headers=headers, timeout=10)
    requests.post(f"{api.base}/images/create", json={"prompt": f"leak {token}", "email": "secret@example.com"},
                  headers=headers, timeout=10)
    api.image()
    ltx_mock.admin.advance(60)

    secrets = {token, cookie, f"Bearer {token}", "demo-token"}
    for name in ("lt_token", "lt_refresh_token"):
        secrets.add(next(p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith(name + "=")))
    for email in ("secret@example.com", DEMO_EMAIL):
        record = ltx_mock.simulator.ltx.get_user(email)
        secrets.update({record.lt_token, record.lt_refresh_token})

    pages = [requests.get(f"{ltx_mock.url}/__admin/dashboard", timeout=10).text]
    d = api.dashboard()
    pages.append(json.dumps(d, ensure_ascii=False))
    for r in api.dashboard(requests_limit=200)["requests"]["items"]:
        pages.append(requests.get(f"{ltx_mock.url}/__admin/dashboard/requests/{r['id']}", timeout=10).text)
    for j in d["jobs"]["items"]:
        pages.append(requests.get(f"{ltx_mock.url}/__admin/dashboard/jobs/{j['jobId']}", timeout=10).text)
    assert len(pages) == 8  # the page, the document, 4 journal entries, 2 jobs
    assert {t["hint"] for t in d["tenants"]} == {"…", "sk-d…"}
    for text in pages:
        for secret in secrets:
            assert secret not in text
    assert "lt_token=" + SECURED in "".join(pages)  # the posted cookie was there, masked


def test_scrub_masks_every_secret_shape() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXh5eg"
    value = {"headers": {"Authorization": "Bearer abc.def"}, "lt_token": "raw", "nested": [{"cookie": "a=b"}],
             "text": f"token {jwt} and lt_refresh_token=xyz; Bearer qqq", "n": 5, "cookieNote": "fine"}
    out = scrub(value, ("my-api-token",))
    assert out["headers"]["Authorization"] == SECURED
    assert out["lt_token"] == SECURED and out["nested"][0]["cookie"] == SECURED
    assert jwt not in out["text"] and "xyz" not in out["text"] and "qqq" not in out["text"]
    assert out["n"] == 5 and out["cookieNote"] == "fine"
    assert scrub("call with my-api-token", ("my-api-token",)) == f"call with {SECURED}"


def test_dashboard_capacity_agrees_with_scheduler_available(ltx_mock: Any, api: Api) -> None:
    """Issue 15/16: one rule gives both views their maxJobs / executing / available, per-request overrides included."""
    admin = ltx_mock.admin
    second = admin.create_ltx_user(email="second@example.com")
    other_token = "other-tenant-token-0123456789"
    admin.add_token(other_token)
    other = requests.Session()
    other.headers["Authorization"] = f"Bearer {other_token}"
    for session, cookie, max_jobs in ((api.session, admin.new_session(DEMO_EMAIL), 2),
                                      (api.session, second["cookie"], 3), (other, second["cookie"], 1)):
        resp = session.post(f"{api.base}/accounts", json={"cookie": cookie, "maxJobs": max_jobs}, timeout=10)
        assert resp.status_code == 200, resp.text
    api.image(email=DEMO_EMAIL)
    api.image(email=DEMO_EMAIL)
    api.image(email=DEMO_EMAIL, maxJobs=5)  # an override: 3 executing on a maxJobs-2 account
    api.image(email="second@example.com")
    resp = other.post(f"{api.base}/images/create", json={"prompt": "p", "maxJobs": 4}, timeout=10)
    assert resp.status_code == 200, resp.text
    admin.advance(1)

    def api_figures(session: requests.Session) -> dict[str, dict[str, Any]]:
        resp = session.get(f"{api.base}/scheduler/available", timeout=10)
        assert resp.status_code == 200, resp.text
        return {row["email"]: row for row in resp.json()["available"]}

    from_api = {"demo": api_figures(api.session), "other": api_figures(other)}
    assert from_api["demo"][DEMO_EMAIL] == {"email": DEMO_EMAIL, "maxJobs": 2, "executing": 3, "available": 0}
    assert from_api["demo"]["second@example.com"]["available"] == 2
    assert from_api["other"]["second@example.com"] == {"email": "second@example.com", "maxJobs": 1, "executing": 1,
                                                       "available": 0}
    shown = {}
    for tenant in api.dashboard()["tenants"]:
        for row in tenant["accounts"]:
            shown[(tenant["hint"], row["email"])] = {k: row[k] for k in ("email", "maxJobs", "executing", "available")}
    hints = {"demo": "…", "other": other_token[:4] + "…"}
    expected = {(hints[t], email): row for t, rows in from_api.items() for email, row in rows.items()}
    assert shown == expected
    admin.advance(600)  # and again once everything has ended
    shown_after = {(t["hint"], r["email"]): r["executing"] for t in api.dashboard()["tenants"] for r in t["accounts"]}
    assert set(shown_after.values()) == {0}
    assert {r["available"] for r in api_figures(api.session).values()} == {2, 3}
