"""Stubs (per-test answers) as a user writes them: through the fixture's ``ltx.admin.stub``, over plain HTTP,
in the in-process mode, and in a scenario file; what the journal says, and what strict mode does about a stub
that answers outside the contract."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ltxstudio_mock import mock_ltxstudio

DEMO = "demo@example.com"


def get(ltx_mock: Any, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else ltx_mock.headers
    return requests.get(ltx_mock.base_url + path, headers=headers, timeout=10)


def test_stub_answers_a_fixed_body_times_n_then_expires(ltx_mock: Any) -> None:
    stub = ltx_mock.admin.stub("listAccounts", body={"x@example.com": {"email": "x@example.com"}}, times=2)
    assert stub["remaining"] == 2 and stub["hits"] == 0
    assert get(ltx_mock, "/accounts").json() == {"x@example.com": {"email": "x@example.com"}}
    assert ltx_mock.admin.stubs()[0]["hits"] == 1
    assert get(ltx_mock, "/accounts").json() == {"x@example.com": {"email": "x@example.com"}}
    assert ltx_mock.admin.stubs() == []  # expired after two answers
    assert DEMO in get(ltx_mock, "/accounts").json()  # the simulator answers again


def test_stub_raw_html_from_a_cdn_and_an_empty_200(ltx_mock: Any) -> None:
    ltx_mock.admin.stub(method="GET", path="/v1/ltxstudio/accounts", status=502, text="<html>Bad gateway</html>",
                        headers={"Content-Type": "text/html", "X-Cache": "MISS"}, times=1)
    resp = get(ltx_mock, "/accounts")
    assert (resp.status_code, resp.headers["Content-Type"], resp.headers["X-Cache"], resp.text) == \
        (502, "text/html", "MISS", "<html>Bad gateway</html>")
    ltx_mock.admin.stub("listAccounts", status=200, times=1)
    resp = get(ltx_mock, "/accounts")
    assert resp.status_code == 200 and resp.content == b""


def test_stub_patch_lets_the_simulator_answer_then_sets_fields(ltx_mock: Any) -> None:
    ltx_mock.admin.stub("listAccounts", patch={f"$['{DEMO}'].maxJobs": 99, f"$['{DEMO}'].addedYesterday": True})
    body = get(ltx_mock, "/accounts").json()
    assert body[DEMO]["maxJobs"] == 99 and body[DEMO]["addedYesterday"] is True
    assert body[DEMO]["email"] == DEMO  # the rest is the simulator's


def test_stub_matches_on_tenant_and_body_fields_and_newest_wins(ltx_mock: Any) -> None:
    ltx_mock.admin.add_token("other-token", demo_account=True)
    ltx_mock.admin.stub("createImage", token="other-token", body_matches={"$.prompt": "fox"}, status=402,
                        body={"error": "stubbed", "code": 402})
    url = ltx_mock.base_url + "/images/create"
    assert requests.post(url, json={"prompt": "fox"}, headers=ltx_mock.headers, timeout=10).status_code == 200
    other = {"Authorization": "Bearer other-token"}
    assert requests.post(url, json={"prompt": "cat"}, headers=other, timeout=10).status_code == 200
    resp = requests.post(url, json={"prompt": "fox"}, headers=other, timeout=10)
    assert resp.status_code == 402 and resp.json()["error"] == "stubbed"
    ltx_mock.admin.stub("createImage", status=503, body={"error": "newest", "code": 503}, times=1)
    assert requests.post(url, json={"prompt": "fox"}, headers=other, timeout=10).json()["error"] == "newest"
    listed = ltx_mock.admin.stubs()
    assert [s["hits"] for s in listed] == [1] and "token" not in listed[0]["match"]  # the secret is not echoed


def test_stub_in_the_journal_and_strict_mode_blames_the_stub(ltx_mock: Any) -> None:
    """The fixture runs in strict mode: a stub's answer outside the contract is sent as asked (not turned into
    the 500 a simulator violation gets) and the journal entry names the stub and the violation."""
    stub = ltx_mock.admin.stub("listAccounts", body={"not": "an account map"}, times=1)
    resp = get(ltx_mock, "/accounts")
    assert resp.status_code == 200 and resp.json() == {"not": "an account map"}
    entry = ltx_mock.admin.requests(path="/v1/ltxstudio/accounts", limit=1)[0]
    assert entry["stub"] == stub["id"]
    assert entry["stub_violation"].startswith(f"stub {stub['id']} answered outside openapi.yaml")
    ltx_mock.admin.stub("listAccounts", patch={"$.extra": 1}, times=1)
    get(ltx_mock, "/accounts")
    assert "stub_violation" in ltx_mock.admin.requests(limit=1)[0]
    get(ltx_mock, "/accounts")
    assert "stub" not in ltx_mock.admin.requests(limit=1)[0]  # the simulator's own answer


def test_stub_removed_one_or_all_and_refused_when_malformed(ltx_mock: Any) -> None:
    a = ltx_mock.admin.stub("listAccounts", status=500, body={"error": "a", "code": 500})
    ltx_mock.admin.stub("getSchedulerAvailable", status=500, body={"error": "b", "code": 500})
    ltx_mock.admin.remove_stub(a["id"])
    assert [s["match"]["operationId"] for s in ltx_mock.admin.stubs()] == ["getSchedulerAvailable"]
    ltx_mock.admin.clear_stubs()
    assert ltx_mock.admin.stubs() == []
    admin = f"{ltx_mock.url}/__admin/stubs"
    for bad, says in [({"match": {}, "answer": {"status": 200}}, "operationId"),
                      ({"match": {"operationId": "listAccounts"}, "answer": {}}, "answer needs"),
                      ({"match": {"operationId": "x"}, "answer": {"status": 200}}, "not an operation"),
                      ({"match": {"path": "/x", "body": {"$[?": 1}}, "answer": {"status": 200}}, "JSONPath"),
                      ({"match": {"path": "/x"}, "answer": {"patch": {}, "body": 1}}, "patch")]:
        resp = requests.post(admin, json=bad, timeout=10)
        assert resp.status_code == 400 and says in resp.json()["error"], resp.text
    assert requests.delete(f"{admin}/stub-999", timeout=10).status_code == 404


def test_stub_in_a_scenario_and_its_snapshot(ltx_mock: Any) -> None:
    doc = {"version": 1, "stubs": [{"match": {"operationId": "listAccounts", "token": "demo-token"},
                                    "answer": {"status": 200, "body": {}}, "times": 3}],
           "retry_after": {"seconds": 5}}
    ltx_mock.admin.load_scenario(doc)
    assert get(ltx_mock, "/accounts").json() == {}
    snap = ltx_mock.admin.snapshot()
    assert snap["stubs"] == [{"match": {"operationId": "listAccounts", "token": "demo-token"},
                              "answer": {"status": 200, "body": {}}, "times": 2}]
    assert snap["retry_after"] == {"seconds": 5, "format": "seconds"}
    bad = requests.post(f"{ltx_mock.url}/__admin/scenario", json={"stubs": [{"match": {}, "answer": {"status": 1}}]},
                        timeout=10)
    assert bad.status_code == 400


def test_own_429_has_retry_after_only_when_a_scenario_says(ltx_mock: Any) -> None:
    url = ltx_mock.base_url + "/images/create"
    body = {"prompt": "fox", "maxJobs": 1}
    requests.post(url, json=body, headers=ltx_mock.headers, timeout=10).raise_for_status()
    refused = requests.post(url, json=body, headers=ltx_mock.headers, timeout=10)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers  # as documented
    ltx_mock.admin.load_scenario({"version": 1, "retry_after": {"seconds": 12}})
    requests.post(url, json=body, headers=ltx_mock.headers, timeout=10).raise_for_status()
    refused = requests.post(url, json=body, headers=ltx_mock.headers, timeout=10)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "12"


@pytest.mark.parametrize("lib", ["requests", "httpx"])
def test_stub_in_process(lib: str) -> None:
    with mock_ltxstudio() as ltx:
        ltx.admin.stub("listAccounts", body={"from": "stub"}, times=1)
        if lib == "requests":
            answer = requests.get(ltx.base_url + "/accounts", headers=ltx.headers, timeout=10).json()
        else:
            import httpx

            answer = httpx.get(ltx.base_url + "/accounts", headers=ltx.headers).json()
        assert answer == {"from": "stub"}
