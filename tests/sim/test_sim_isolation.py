"""Tenants: each API token sees only its own accounts, jobs and assets; tokens never leak."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sim_helpers import DEMO_EMAIL, Api


@pytest.fixture
def tok2(api: Api, admin: Any) -> Api:
    """A second tenant with its own configuration of the same demo LTX Studio user."""
    admin.add_token("tok2", demo_account=True)
    return api.as_token("tok2")


def test_isolation_jobs_are_per_token(api: Api, tok2: Api) -> None:
    mine = api.create("images/create", {"prompt": "mine"})["jobId"]
    theirs = tok2.create("images/create", {"prompt": "theirs"})["jobId"]
    assert tok2.job(mine).status_code == 404
    assert api.job(theirs).status_code == 404
    assert tok2.delete(f"/scheduler/{mine}").status_code == 404
    assert [e["jobId"] for e in api.ok(api.get("/scheduler"))] == [mine]
    assert [e["jobId"] for e in tok2.ok(tok2.get("/scheduler"))] == [theirs]
    assert api.ok(api.job(mine))["status"]["type"] == "active"  # the failed cancel changed nothing
    executing = tok2.ok(tok2.get("/scheduler/available"))["executing"]
    assert [e["jobId"] for e in executing] == [theirs]


def test_isolation_assets_are_per_token(api: Api, tok2: Api, admin: Any) -> None:
    mine = api.upload_id()
    theirs = tok2.upload_id()
    job = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(120)
    assert api.ok(api.job(job))["status"]["type"] == "completed"
    my_ids = [i["signedAsset"]["asset"]["fileId"] for i in api.ok(api.get("/assets/"))["items"]]
    their_ids = [i["signedAsset"]["asset"]["fileId"] for i in tok2.ok(tok2.get("/assets/"))["items"]]
    assert mine in my_ids and theirs not in my_ids
    assert their_ids == [theirs]
    assert len(my_ids) == 2  # the upload and the artifact
    edit = tok2.post("/images/edit", json={"prompt": "p", "referenceAssetId": mine})
    assert edit.status_code == 400


def test_isolation_accounts_are_per_token(api: Api, tok2: Api, admin: Any) -> None:
    cookie = admin.new_session(DEMO_EMAIL)
    tok2.ok(tok2.post("/accounts", json={"cookie": cookie, "maxJobs": 2}))
    assert api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))["maxJobs"] == 20
    assert tok2.delete(f"/accounts/{DEMO_EMAIL}").status_code == 204
    assert tok2.get("/accounts").status_code == 404
    assert api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))["email"] == DEMO_EMAIL
    assert tok2.post("/images/create", json={"prompt": "p"}).status_code == 400
    api.create("images/create", {"prompt": "p"})


def test_isolation_capacity_is_per_token(api: Api, tok2: Api, admin: Any) -> None:
    cookie = admin.new_session(DEMO_EMAIL)
    api.ok(api.post("/accounts", json={"cookie": cookie, "maxJobs": 1}))
    api.create("images/create", {"prompt": "p"})
    assert api.post("/images/create", json={"prompt": "p"}).status_code == 429
    tok2.create("images/create", {"prompt": "p"})  # its own configuration, its own slots


def test_isolation_new_token_starts_empty(api: Api, admin: Any) -> None:
    admin.add_token("tok3")
    tok3 = api.as_token("tok3")
    assert tok3.get("/accounts").status_code == 404
    assert tok3.ok(tok3.get("/scheduler")) == []
    resp = tok3.post("/images/create", json={"prompt": "p"})
    assert resp.status_code == 400 and resp.json()["code"] == 400
    assert tok3.post("/assets/", data=b"x", headers={"Content-Type": "image/png"}).status_code == 400


def test_isolation_tokens_never_logged(api: Api, tok2: Api, admin: Any) -> None:
    api.create("images/create", {"prompt": "p"})
    tok2.get("/accounts")
    api.as_token("secret-intruder-token").get("/accounts")
    journal = json.dumps(admin.requests(limit=1000))
    for token in ("demo-token", "tok2", "secret-intruder-token"):
        assert f"Bearer {token}" not in journal
        assert token not in journal
    assert admin.count_requests(status=401) == 1
