"""Session secrets never leave in clear: journal, dashboard, snapshots, admin views, logs (issue 19).

The masks are built on the rules' own cookie parser (``mock_server/cookies.py``); hypothesis writes
cookies in every syntax that parser reads (spacing, case, order, extra parts, ``=`` in values, JSON
``\\uXXXX`` escapes, form and multipart encodings) and checks that no live token survives anywhere.
"""

from __future__ import annotations

import json
import logging
import random
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.cookies import SECRET_FIELDS, parse_cookie
from mock_server.journal import raw_body
from mock_server.masking import SECURED, mask_raw, mask_text

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text(encoding="utf-8"))
# the contract's check on POST /accounts' cookie (before the parser): both names at a part's start, then '=' and a value
COOKIE_RULE = re.compile(SPEC["components"]["schemas"]["CreateAccountRequest"]["properties"]["cookie"]["allOf"][0]
                         ["pattern"])
SERVER_LOGGERS = {"werkzeug", "ltx_mock", "granian", "waitress"}  # the simulator's; not this test's own client's
TOKEN = "demo-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPACES = st.sampled_from(["", " ", "  ", "\t", " \t "])
VALUE_CHARS = string.ascii_letters + string.digits + "-_.~+/="


def _json_escape(text: str, rnd: random.Random, fraction: float) -> str:
    """``text`` as a JSON string literal with a random share of its characters written as ``\\uXXXX``."""
    out = []
    for ch in text:
        if rnd.random() < fraction or ch in '"\\' or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@st.composite
def cookie_syntax(draw: Any, secrets: dict[str, str], lt_id: str) -> tuple[str, bool]:
    """A cookie carrying ``secrets`` in some syntax; True when the rules (exact-case names) can read it."""
    exact_case = draw(st.booleans())
    parts = []
    for name, value in secrets.items():
        spelled = name if exact_case else draw(st.sampled_from([name.upper(), name.title(), "Lt_" + name[3:]]))
        parts.append(f"{draw(SPACES)}{spelled}{draw(SPACES)}={draw(SPACES)}{value}{draw(SPACES)}")
    parts.append(f"{draw(SPACES)}lt_id={lt_id}")
    extras = draw(st.lists(st.tuples(st.sampled_from(["x-country-code", "successfulLogin", "a", "lt_tokenx"]),
                                     st.text(VALUE_CHARS, max_size=8)), max_size=3))
    parts += [f"{n}={v}" for n, v in extras]
    order = draw(st.permutations(range(len(parts))))
    return ";".join(parts[i] for i in order) + draw(st.sampled_from(["", ";", "; "])), exact_case


# -- the masks against the parser, with no server --------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(data=st.data(), secret=st.text(VALUE_CHARS, min_size=12, max_size=40).filter(lambda s: not s.startswith("=")),
       refresh=st.text(VALUE_CHARS, min_size=12, max_size=40).filter(lambda s: not s.startswith("=")))
def test_security_masks_hide_whatever_the_rules_read(data: Any, secret: str, refresh: str) -> None:
    """For any cookie syntax: every value the rules' parser reads as a session secret is gone after masking,
    as plain text, as a JSON body (with escapes), and as a logged body."""
    cookie, _ = data.draw(cookie_syntax({"lt_token": secret, "lt_refresh_token": refresh}, "abc123"))
    read = {k.lower(): v for k, v in parse_cookie(cookie).items() if k.lower() in SECRET_FIELDS}
    assert read, cookie  # the parser does see the secrets (in some case)
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    body = '{"cookie": ' + _json_escape(cookie, rnd, data.draw(st.sampled_from([0.0, 0.2, 1.0]))) + "}"
    assert json.loads(body)["cookie"] == cookie  # the JSON parser gives the rules exactly this cookie
    for shown in (mask_text(cookie), mask_raw(body), raw_body(body.encode(), "application/json"),
                  raw_body(body.encode(), "text/plain")):
        for value in read.values():
            assert value.strip() not in shown, (cookie, shown)
    assert SECURED in mask_text(cookie)


def test_security_mask_leaves_other_text_alone() -> None:
    text = "x-country-code=US; lt_id=abc; successfulLogin=true"
    assert mask_text(text) == text
    assert mask_raw('{"prompt": "a fox", "n": 1}') == '{"prompt": "a fox", "n": 1}'


# -- the live simulator -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A simulator of this module's own (hypothesis runs many examples against one server), with its access log
    in a file (``--access-log FILE``): the log is one more place no secret may show."""
    log = tmp_path_factory.mktemp("access") / "access.log"
    server, _ = start_simulator(access_log=str(log))
    server.access_log = log
    yield server
    server.stop()


def _everything_shown(url: str, admin: AdminClient) -> dict[str, str]:
    """Every place a token could surface: journal, the dashboard (document and each entry), snapshot,
    admin user views, webhooks log, the API's account list."""
    session = requests.Session()
    texts = {path: session.get(url + path, headers=AUTH if path.startswith("/v1") else {}, timeout=30).text
             for path in ("/__admin/requests?limit=1000", "/__admin/dashboard/data?requests_limit=200",
                          "/__admin/snapshot", "/__admin/ltx-users", "/__admin/webhooks", "/v1/ltxstudio/accounts",
                          "/__admin/requests.har", "/__admin/metrics")}
    for entry in admin.requests(limit=1000):
        path = f"/__admin/dashboard/requests/{entry['id']}"
        texts[path] = session.get(url + path, timeout=10).text
    for user in admin._call("GET", "/ltx-users"):
        path = f"/__admin/ltx-users/{user['email']}"
        texts[path] = session.get(url + path, timeout=10).text
    return texts


def _live_secrets(app_sim: Any) -> list[str]:
    out = []
    for user in app_sim.ltx.list_users(0, 1000):
        out += [user.lt_token, user.lt_refresh_token]
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_security_no_token_in_clear_anywhere_over_cookie_syntax(live: Any, data: Any,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    sim_url = live.url
    caplog.clear()  # one caplog for all examples: only this example's records
    admin = AdminClient(sim_url)
    admin.reset()
    created = admin.create_ltx_user(email="carol@example.com")
    fields = parse_cookie(created["cookie"])
    issued = [fields["lt_token"], fields["lt_refresh_token"]]
    cookie, exact = data.draw(cookie_syntax({k: fields[k] for k in SECRET_FIELDS}, fields["lt_id"]))
    logged = live.access_log.stat().st_size
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    encoding = data.draw(st.sampled_from(["json", "json-escaped", "json-all-escaped", "text/plain", "form",
                                          "multipart", "query", "header"]))
    url = f"{sim_url}/v1/ltxstudio/accounts"
    with caplog.at_level(logging.DEBUG):
        if encoding.startswith("json"):
            fraction = {"json": 0.0, "json-escaped": 0.3, "json-all-escaped": 1.0}[encoding]
            raw = '{"cookie": ' + _json_escape(cookie, rnd, fraction) + ', "maxJobs": 3}'
            resp = requests.post(url, data=raw.encode(), headers={**AUTH, "Content-Type": "application/json"},
                                 timeout=10)
        elif encoding == "text/plain":
            resp = requests.post(url, data=json.dumps({"cookie": cookie}).encode(),
                                 headers={**AUTH, "Content-Type": "text/plain"}, timeout=10)
        elif encoding == "form":
            resp = requests.post(url, data={"cookie": cookie}, headers=AUTH, timeout=10)
        elif encoding == "multipart":
            resp = requests.post(url, files={"cookie": (None, cookie)}, headers=AUTH, timeout=10)
        elif encoding == "query":
            resp = requests.get(f"{sim_url}/v1/ltxstudio/assets/", params={"cookie": cookie}, headers=AUTH,
                                timeout=10)
        else:
            resp = requests.get(f"{sim_url}/v1/ltxstudio/accounts", headers={**AUTH, "X-Debug": cookie.strip()},
                                timeout=10)
    assert resp.status_code < 500, resp.text
    if encoding in ("json", "json-escaped", "json-all-escaped", "form", "multipart") and exact \
            and COOKIE_RULE.search(cookie):
        assert resp.status_code == 200, (cookie, resp.text)  # the rules read this syntax: a session secret
    server_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in SERVER_LOGGERS)
    live.app.extensions["ltx_observer"].flush()  # the access log's writer thread would write it within 0.1 s
    access = live.access_log.read_text(encoding="utf-8")
    request_line = access.encode()[logged:].decode().splitlines()[-1]  # this example's request, logged once
    assert f" {resp.status_code} " in request_line and ("listAccounts" in request_line or "createAccount"
                                                        in request_line or "listAssets" in request_line)
    shown = {**_everything_shown(sim_url, admin), "server logs": server_logs, "the answer": resp.text,
             "the access log": access}
    for secret in issued + _live_secrets(live.app.extensions["ltx_sim"]):
        leaks = [where for where, text in shown.items() if secret in text]
        assert not leaks, f"{encoding}: {cookie!r} shown in clear by {leaks}"


# -- the issue's exact bypasses ---------------------------------------------------------------------
def test_security_issue_bypasses_are_masked(ltx_mock: Any) -> None:
    """``lt_token\\u003d<token>`` (accepted, 200) and ``lt_token= X`` spacing: both masked in the journal."""
    user = ltx_mock.admin.create_ltx_user(email="dave@example.com")
    f = parse_cookie(user["cookie"])
    escaped = ('{"cookie": "lt_token\\u003d' + f["lt_token"] + '; lt_refresh_token\\u003d'
               + f["lt_refresh_token"] + '; lt_id=' + f["lt_id"] + '"}')
    ok = requests.post(ltx_mock.base_url + "/accounts", data=escaped,
                       headers={**ltx_mock.headers, "Content-Type": "application/json"}, timeout=10)
    assert ok.status_code == 200, ok.text
    spaced = requests.post(ltx_mock.base_url + "/accounts", json={"cookie": f"lt_token= {f['lt_token']}"},
                           headers=ltx_mock.headers, timeout=10)
    assert spaced.status_code == 400
    text = json.dumps(ltx_mock.admin.requests(), ensure_ascii=False)
    assert f["lt_token"] not in text and f["lt_refresh_token"] not in text
    assert text.count("lt_token=…secured…") >= 2


def test_security_masking_check_bites_on_the_old_regex() -> None:
    """The old journal regex (``lt_token=`` then no spaces) misses both bypasses: the tests above would fail."""
    import re

    old = re.compile(r"(lt_token|lt_refresh_token)=([^;\s\"']+)")
    escaped = '{"cookie": "lt_token\\u003dSECRETSECRET"}'
    spaced = "lt_token= SECRETSECRET"
    assert "SECRETSECRET" in old.sub(lambda m: f"{m[1]}={SECURED}", escaped)
    assert "SECRETSECRET" in old.sub(lambda m: f"{m[1]}={SECURED}", spaced)
    assert "SECRETSECRET" not in mask_raw(escaped) and "SECRETSECRET" not in mask_text(spaced)


# -- snapshots and admin views ----------------------------------------------------------------------
def test_security_snapshot_carries_definitions_not_live_tokens(ltx_mock: Any) -> None:
    admin = ltx_mock.admin
    user = admin.create_ltx_user(email="erin@example.com", credits=77)
    requests.post(ltx_mock.base_url + "/accounts", json={"cookie": user["cookie"]}, headers=ltx_mock.headers,
                  timeout=10).raise_for_status()
    live = _live_secrets(ltx_mock.simulator)
    snap = admin.snapshot()
    text = json.dumps(snap)
    assert not any(secret in text for secret in live)
    [erin] = [u for u in snap["ltx_users"] if u["email"] == "erin@example.com"]
    assert erin["credits"] == 77 and "lt_token" not in erin and "lt_refresh_token" not in erin
    assert all("lt_token" not in a["cookie"] for a in snap["accounts"])
    # loading it issues fresh sessions that work, valid as long as the written ones
    admin.load_scenario(snap)
    fresh = admin.new_session("erin@example.com")
    assert parse_cookie(fresh)["lt_token"] not in live
    assert requests.post(ltx_mock.base_url + "/accounts", json={"cookie": fresh}, headers=ltx_mock.headers,
                         timeout=10).status_code == 200
    reloaded = {u.email: u for u in ltx_mock.simulator.ltx.list_users(0, 100)}
    assert reloaded["demo@example.com"].token_expire == \
        next(u for u in snap["ltx_users"] if u["email"] == "demo@example.com")["tokenExpire"]
    assert admin.snapshot() == snap  # loads back to the same definitions


def test_security_admin_views_mask_cookies_except_when_issued(ltx_mock: Any) -> None:
    admin = ltx_mock.admin
    created = admin.create_ltx_user(email="frank@example.com")
    secrets = [parse_cookie(created["cookie"])[k] for k in SECRET_FIELDS]  # shown once: the issuing answer
    for view in (admin.get_ltx_user("frank@example.com"), admin.patch_ltx_user("frank@example.com", credits=5),
                 admin._call("GET", "/ltx-users")):
        text = json.dumps(view)
        assert not any(s in text for s in secrets)
    masked = admin.get_ltx_user("frank@example.com")["cookie"]
    assert "lt_token=…secured…" in masked and "lt_refresh_token=…secured…" in masked
    renewed = admin.new_session("frank@example.com")
    assert parse_cookie(renewed)["lt_token"] not in (SECURED, secrets[0])


def test_security_logs_mask_secrets_in_paths_and_queries(ltx_mock: Any, caplog: pytest.LogCaptureFixture) -> None:
    """werkzeug's access log and the simulator's own log lines go through the same mask."""
    user = ltx_mock.admin.create_ltx_user(email="gina@example.com")
    token = parse_cookie(user["cookie"])["lt_token"]
    with caplog.at_level(logging.INFO):
        requests.get(f"{ltx_mock.base_url}/accounts/lt_token={token}", params={"c": f"lt_token={token}"},
                     headers=ltx_mock.headers, timeout=10)
        logging.getLogger("ltx_mock").warning("echo lt_token=%s", token)
    server_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.split(".")[0] in SERVER_LOGGERS)
    assert "/accounts/lt_token=…secured…" in server_logs  # werkzeug's access line, masked
    assert token not in server_logs
    assert token not in json.dumps(ltx_mock.admin.requests())
