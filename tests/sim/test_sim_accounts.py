"""POST/GET/DELETE /accounts: cookie parsing, session resolution, upsert, masking, time fields."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from sim_helpers import DEMO_EMAIL, Api

MISSING = "Missing required cookie fields: lt_token | lt_refresh_token"
SECURED = "…secured…"
DAY_S = 24 * 3600


def utc_ms(text: str) -> int:
    """``2025-06-03T12:34:56.789Z`` as epoch milliseconds."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def cookie_fields(cookie: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)


def test_accounts_post_parses_cookie_and_masks_secrets(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="alice@example.com")
    fields = cookie_fields(user["cookie"])
    now = admin.clock()["now"]
    body = api.ok(api.post("/accounts", json={"cookie": user["cookie"], "maxJobs": 5}))
    assert body["email"] == "alice@example.com"
    assert body["maxJobs"] == 5
    assert body["cookie"]["lt_id"] == fields["lt_id"]
    assert body["cookie"]["lt_token"] == SECURED
    assert body["cookie"]["lt_refresh_token"] == SECURED
    assert fields["lt_token"] not in json.dumps(body)
    assert body["updated"] == now
    assert body["tokenExpire"] > now and body["refreshTokenExpire"] >= body["tokenExpire"]
    for key in ("updated", "tokenExpire", "refreshTokenExpire"):
        assert isinstance(body[key], int)
        assert utc_ms(body[f"{key}UTC"]) == body[key], key
        assert body[f"{key}UTC"].endswith("Z")


def test_accounts_keep_only_the_ltx_session_cookies(api: Api, admin: Any) -> None:
    """Issue 15: both documented account views show lt_id, lt_token, lt_refresh_token and nothing else."""
    user = admin.create_ltx_user(email="olga@example.com")
    fields = cookie_fields(user["cookie"])
    assert {"optimizelyEndUserId", "x-country-code"} <= set(fields)  # a whole browser Cookie header
    browser = user["cookie"] + "; optimizelySession=2849625738195"
    views = [api.ok(api.post("/accounts", json={"cookie": browser})),
             api.ok(api.get("/accounts"))["olga@example.com"], api.ok(api.get("/accounts/olga@example.com")),
             api.ok(api.get("/accounts"))[DEMO_EMAIL]]  # the demo account too (configured from a browser cookie)
    for view in views:
        assert set(view["cookie"]) == {"lt_id", "lt_token", "lt_refresh_token"}, view["cookie"]
        assert view["cookie"]["lt_token"] == view["cookie"]["lt_refresh_token"] == SECURED
    assert views[0]["cookie"]["lt_id"] == fields["lt_id"]


def test_accounts_lt_id_is_21_url_safe_characters(api: Api, admin: Any) -> None:
    """Like the setup page's example (lt_id=zxcwTYfgHrpxxBbOG3V-K)."""
    ids = [api.ok(api.get("/accounts"))[DEMO_EMAIL]["cookie"]["lt_id"]]
    for i in range(5):
        ids.append(cookie_fields(admin.create_ltx_user(email=f"lt{i}@example.com")["cookie"])["lt_id"])
    for lt_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{21}", lt_id), lt_id
    assert len(set(ids)) == len(ids)


def test_accounts_default_max_jobs_is_20(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="bob@example.com")
    assert api.ok(api.post("/accounts", json={"cookie": user["cookie"]}))["maxJobs"] == 20


@pytest.mark.parametrize("missing", ["lt_token", "lt_refresh_token"])
def test_accounts_missing_cookie_field_has_documented_message(api: Api, missing: str) -> None:
    cookie = "lt_id=abc; lt_token=eyJhbGciOi.payload.sig; lt_refresh_token=r3fr3sh"
    cookie = "; ".join(p for p in cookie.split("; ") if not p.startswith(missing + "="))
    resp = api.post("/accounts", json={"cookie": cookie})
    assert resp.status_code == 400
    assert resp.json() == {"error": MISSING, "code": 400}


def test_accounts_missing_cookie_fields_are_400(api: Api) -> None:
    for cookie in ("lt_id=abc; lt_refresh_token=r", "lt_id=abc; lt_token=t", "lt_id=abc", "garbage",
                   "lt_token=; lt_refresh_token=r"):
        resp = api.post("/accounts", json={"cookie": cookie})
        assert resp.status_code == 400, cookie
        assert resp.json()["code"] == 400


def test_accounts_rejected_cookie_is_not_echoed(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="carol@example.com")
    token = cookie_fields(user["cookie"])["lt_token"]
    resp = api.post("/accounts", json={"cookie": f"lt_id=x; lt_token={token}"})
    assert resp.status_code == 400
    assert token not in resp.text


def test_accounts_unknown_session_is_400(api: Api) -> None:
    resp = api.post("/accounts", json={"cookie": "lt_id=abc; lt_token=eyJ.not.known; lt_refresh_token=nope"})
    assert resp.status_code == 400
    assert resp.json()["error"]
    assert api.job_count() == 0
    assert list(api.ok(api.get("/accounts"))) == [DEMO_EMAIL]


def test_accounts_expired_access_token_is_refreshed(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="dave@example.com")
    first = api.ok(api.post("/accounts", json={"cookie": user["cookie"]}))
    admin.advance(31 * DAY_S)  # past tokenExpire (one month), before the refresh token's 3 months
    now = admin.clock()["now"]
    assert first["tokenExpire"] < now
    again = api.ok(api.post("/accounts", json={"cookie": user["cookie"]}))  # the stale cookie
    assert again["tokenExpire"] > now > first["tokenExpire"]
    assert utc_ms(again["tokenExpireUTC"]) == again["tokenExpire"]
    assert again["updated"] == now
    assert "error" not in again


def test_accounts_revoked_session_is_400(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="erin@example.com")
    admin.expire_token("erin@example.com")
    resp = api.post("/accounts", json={"cookie": user["cookie"]})
    assert resp.status_code == 400
    assert "expired" in resp.json()["error"].lower()
    assert api.get("/accounts/erin@example.com").status_code == 404


def test_accounts_revoked_session_shows_error_on_configured_account(api: Api, admin: Any) -> None:
    admin.expire_token(DEMO_EMAIL)
    body = api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))
    assert body["error"]


def test_accounts_without_subscription_is_402(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="frank@example.com", subscription=False)
    resp = api.post("/accounts", json={"cookie": user["cookie"]})
    assert resp.status_code == 402
    assert resp.json() == {"error": "Subscription required", "code": 402}
    assert "frank@example.com" not in api.ok(api.get("/accounts"))


def test_accounts_402_story_subscription_at_setup_credits_at_generation(api: Api, admin: Any) -> None:
    """Issue 15: "Subscription required" is POST accounts' 402; the generation operations only say credits."""
    admin.patch_ltx_user(DEMO_EMAIL, subscription=False)  # the plan lapsed after the account was configured
    api.create("images/create", {"prompt": "p"})  # credits left: still generates
    admin.patch_ltx_user(DEMO_EMAIL, credits=5)
    for op, body in (("images/create", {"prompt": "p"}), ("videos/veo-create", {"model": "veo3"})):
        resp = api.post(f"/{op}", json=body)
        assert resp.status_code == 402
        assert resp.json() == {"error": "Insufficient credits", "code": 402}
    assert api.balance() == 5
    # verifying the cookie again (POST accounts) is where the missing subscription shows
    resp = api.post("/accounts", json={"cookie": admin.new_session(DEMO_EMAIL)})
    assert resp.json() == {"error": "Subscription required", "code": 402}


def test_accounts_post_twice_updates_never_duplicates(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="gina@example.com")
    api.ok(api.post("/accounts", json={"cookie": user["cookie"], "maxJobs": 3}))
    admin.advance(10)
    second = api.ok(api.post("/accounts", json={"cookie": user["cookie"], "maxJobs": 9}))
    assert second["maxJobs"] == 9
    listing = api.ok(api.get("/accounts"))
    assert sorted(listing) == sorted([DEMO_EMAIL, "gina@example.com"])
    assert listing["gina@example.com"]["maxJobs"] == 9
    assert listing["gina@example.com"]["updated"] == second["updated"]
    avail = api.ok(api.get("/scheduler/available"))["available"]
    assert [a["email"] for a in avail].count("gina@example.com") == 1


def test_accounts_secrets_never_in_responses_or_journal(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="hank@example.com")
    secrets = cookie_fields(user["cookie"])
    bodies = [
        api.post("/accounts", json={"cookie": user["cookie"]}).text,
        api.post("/accounts", files={"cookie": (None, user["cookie"]), "maxJobs": (None, "4")}).text,
        api.get("/accounts").text,
        api.get("/accounts/hank@example.com").text,
        api.post("/accounts", json={"cookie": user["cookie"], "maxJobs": 0}).text,  # a rejected one
        api.get("/scheduler/available").text,
    ]
    journal = json.dumps(admin.requests(limit=1000))
    for name in ("lt_token", "lt_refresh_token"):
        for text in bodies:
            assert secrets[name] not in text, name
        assert secrets[name] not in journal, name
    assert admin.count_requests(path="/v1/ltxstudio/accounts") >= 4


def test_accounts_urlencoded_cookie_is_masked_in_journal(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="ivy@example.com")
    secret = cookie_fields(user["cookie"])["lt_token"]
    resp = api.post("/accounts", data={"cookie": user["cookie"]})
    assert resp.status_code == 200
    assert secret not in resp.text
    assert secret not in json.dumps(admin.requests(limit=1000))


def test_accounts_list_404_when_none(api: Api) -> None:
    assert api.delete(f"/accounts/{DEMO_EMAIL}").status_code == 204
    resp = api.get("/accounts")
    assert resp.status_code == 404
    assert resp.json() == {"error": "Configuration not found. To create configuration use POST /accounts",
                           "code": 404}


def test_accounts_get_one_has_balance_and_latest_created(api: Api, admin: Any) -> None:
    before = api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))
    assert before["email"] == DEMO_EMAIL
    assert before["balance"] == {"LTXStudio_token": 28000}
    assert "latestCreatedAtMs" not in before
    admin.advance(5)
    now = admin.clock()["now"]
    api.create("images/create", {"prompt": "A red fox"})
    after = api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))
    assert after["balance"]["LTXStudio_token"] < 28000
    assert after["latestCreatedAtMs"] == {"LTXStudio_token": now}


def test_accounts_delete_then_404(api: Api) -> None:
    assert api.delete(f"/accounts/{DEMO_EMAIL}").status_code == 204
    for resp in (api.delete(f"/accounts/{DEMO_EMAIL}"), api.get(f"/accounts/{DEMO_EMAIL}")):
        assert resp.status_code == 404
        assert resp.json()["code"] == 404
    assert api.get("/accounts/nobody@example.com").status_code == 404


def test_accounts_multipart_post_works_like_json(api: Api, admin: Any) -> None:
    user = admin.create_ltx_user(email="jack@example.com")
    resp = api.post("/accounts", files={"cookie": (None, user["cookie"]), "maxJobs": (None, "7")})
    assert resp.request.headers["Content-Type"].startswith("multipart/form-data")
    body = api.ok(resp)
    assert body["email"] == "jack@example.com"
    assert body["maxJobs"] == 7
    assert body["cookie"]["lt_token"] == SECURED
    bad = api.post("/accounts", files={"cookie": (None, user["cookie"]), "maxJobs": (None, "101")})
    assert bad.status_code == 400
    missing = api.post("/accounts", files={"cookie": (None, "lt_id=only")})
    assert missing.status_code == 400


@pytest.mark.parametrize("max_jobs", [0, 101, -1, "5", 2.5, None])
def test_accounts_max_jobs_out_of_range_is_400(api: Api, admin: Any, max_jobs: Any) -> None:
    cookie = admin.new_session(DEMO_EMAIL)
    resp = api.post("/accounts", json={"cookie": cookie, "maxJobs": max_jobs})
    assert resp.status_code == 400
    assert resp.json()["code"] == 400
    assert api.ok(api.get(f"/accounts/{DEMO_EMAIL}"))["maxJobs"] == 20


@pytest.mark.parametrize("max_jobs", [1, 100])
def test_accounts_max_jobs_bounds_accepted(api: Api, admin: Any, max_jobs: int) -> None:
    cookie = admin.new_session(DEMO_EMAIL)
    assert api.ok(api.post("/accounts", json={"cookie": cookie, "maxJobs": max_jobs}))["maxJobs"] == max_jobs


def test_accounts_cookie_missing_or_wrong_type_is_400(api: Api) -> None:
    for body in ({}, {"cookie": ""}, {"cookie": 5}, {"maxJobs": 3}):
        resp = api.post("/accounts", json=body)
        assert resp.status_code == 400, body
        assert resp.json()["code"] == 400
