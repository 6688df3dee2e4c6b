"""The request journal: what was sent, what was answered, secrets masked, filtered, counted, cleared."""

from __future__ import annotations

import time
from typing import Any

import requests

IMAGES = "/v1/ltxstudio/images/create"
VEO = "/v1/ltxstudio/videos/veo-create"


def test_journal_asserts_exactly_one_veo2_request(ltx_mock: Any, client: Any, png: Any) -> None:
    """The issue's example: "exactly one POST /videos/veo-create with model veo2 was sent"."""
    start = client.upload_asset(png(), content_type="image/png", type="reference-image").file_id
    client.create_image("A red fox")
    client.create_veo_video(prompt="A fox running through snow", model="veo2", start_asset_id=start)
    client.create_veo_video(prompt="A fox sleeping", model="veo3")
    assert ltx_mock.admin.count_requests(method="POST", path=VEO) == 2
    veo2 = [e for e in ltx_mock.admin.requests(method="POST", path=VEO) if e["body"]["model"] == "veo2"]
    assert len(veo2) == 1
    assert ltx_mock.admin.count_requests(method="POST", path=VEO, contains='"model": "veo2"') == 1
    assert ltx_mock.admin.count_requests(operation="createVeoVideo", status=200) == 2


def test_journal_entry_has_request_and_answer_with_secrets_masked(ltx_mock: Any, client: Any) -> None:
    user = ltx_mock.admin.create_ltx_user(email="carol@example.com")
    client.create_account(user["cookie"], max_jobs=3)
    [entry] = ltx_mock.admin.requests(method="POST", path="/v1/ltxstudio/accounts")
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["operation"] == "createAccount"
    assert entry["headers"]["Authorization"] == "Bearer …secured…"
    assert ltx_mock.token not in str(entry)
    cookie = entry["body"]["cookie"]
    assert "lt_token=…secured…" in cookie and "lt_refresh_token=…secured…" in cookie
    assert user["cookie"].split("lt_token=")[1] not in str(entry)
    assert entry["body"]["maxJobs"] == 3
    assert entry["response"]["email"] == "carol@example.com"  # the answer, as sent (already masked)
    assert entry["duration_ms"] >= 0 and entry["time_ms"] > 0 and entry["sim_ms"] > 0


def test_journal_records_query_and_errors(ltx_mock: Any) -> None:
    requests.get(ltx_mock.base_url + "/assets/", params={"limit": 5, "page": 2}, headers=ltx_mock.headers,
                 timeout=10)
    requests.get(ltx_mock.base_url + "/accounts", headers={"Authorization": "Bearer wrong"}, timeout=10)
    [listing] = ltx_mock.admin.requests(path="/v1/ltxstudio/assets/")
    assert listing["query"] == {"limit": "5", "page": "2"} and listing["status"] == 200
    [denied] = ltx_mock.admin.requests(status=401)
    assert denied["response"] == {"error": "Unauthorized", "code": 401}
    assert denied["headers"]["Authorization"] == "Bearer …secured…"


def test_journal_filters_since_and_pagination(ltx_mock: Any, client: Any) -> None:
    client.list_accounts()
    mark = ltx_mock.admin.requests(limit=1)[0]["id"]
    t_mark = int(time.time() * 1000) + 1  # a millisecond no entry so far has: since is inclusive, and the entry
    while time.time() * 1000 < t_mark:  # above may have been answered in the millisecond this line runs in
        time.sleep(0.0005)
    for _ in range(3):
        client.create_image("A red fox")
    client.scheduler_available()
    newer = ltx_mock.admin.requests(since=mark)
    assert [e["path"] for e in newer] == ["/v1/ltxstudio/scheduler/available"] + [IMAGES] * 3  # newest first
    assert ltx_mock.admin.count_requests(since=t_mark) == 4  # since: epoch ms works too
    assert ltx_mock.admin.count_requests(path="/v1/ltxstudio/*") == 5  # path is a glob
    assert ltx_mock.admin.count_requests(method="get") == 2
    page = ltx_mock.admin.requests(method="POST", limit=2, offset=1)
    assert len(page) == 2 and all(e["method"] == "POST" for e in page)


def test_journal_delete_clears_and_admin_calls_are_not_journaled(ltx_mock: Any, client: Any) -> None:
    client.list_accounts()
    ltx_mock.admin.state()
    assert ltx_mock.admin.count_requests() == 1  # /__admin calls are not in the journal
    ltx_mock.admin.clear_requests()
    assert ltx_mock.admin.count_requests() == 0 and ltx_mock.admin.requests() == []
    client.list_accounts()
    assert ltx_mock.admin.count_requests(path="/v1/ltxstudio/accounts") == 1


def test_journal_large_and_binary_bodies_are_summarised(ltx_mock: Any, client: Any, png: Any) -> None:
    data = png()
    client.upload_asset(data, content_type="image/png")
    [entry] = ltx_mock.admin.requests(path="/v1/ltxstudio/assets/", method="POST")
    assert entry["body"] == f"<{len(data)} bytes image/png>"
    assert entry["response"]["asset"]["mimeType"] == "image/png"
