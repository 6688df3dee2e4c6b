"""Scenario files: load, validate with line and field, snapshot, and round-trip to the same API answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from contracts import validate
from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.cli import main as cli
from mock_server.scenario import ScenarioError, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scenario-demo.yaml"
ALICE = "alice@example.com"
TEAM = "team-token"


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start simulators with a given scenario (each on its own port); all stopped at the end."""
    servers = []

    def start(scenario: Path | str | None = None, **config: Any) -> Any:
        server, _ = start_simulator(scenario=str(scenario) if scenario else None, **config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def api_answers(url: str) -> dict[str, Any]:
    """Every read the API offers, for every token, job and account the simulator holds (URLs made host-free)."""
    admin = AdminClient(url)
    snap = admin.snapshot()
    out: dict[str, Any] = {}
    session = requests.Session()

    def get(token: str, path: str, **params: Any) -> None:
        resp = session.get(f"{url}/v1/ltxstudio{path}", params=params, timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
        body = resp.json() if resp.content else None
        if resp.ok and path != "/scheduler/available":
            validate.validate_response(None, resp)
        out[f"{token} GET {path} {sorted(params.items())}"] = (resp.status_code, body)

    for token in snap["tokens"]:
        get(token, "/accounts")
        get(token, "/scheduler")
        get(token, "/scheduler/available")
        for account in [a for a in snap["accounts"] if a["token"] == token]:
            get(token, f"/accounts/{account['email']}")
            get(token, "/assets/", email=account["email"], limit=50)
        for job in [j for j in snap["jobs"] if j["token"] == token]:
            get(token, f"/assets/{job['record']['jobId']}")
    for asset in snap["assets"]:  # the uploaded bytes behind the signed URLs
        listing = out[f"{asset['token']} GET /assets/ {sorted({'email': asset['email'], 'limit': 50}.items())}"][1]
        [item] = [i for i in listing["items"] if i["id"] == asset["uuid"]]
        out[f"bytes {asset['uuid']}"] = session.get(item["signedAsset"]["assetUrl"], timeout=10).content
    out["admin users"] = admin._call("GET", "/ltx-users")
    out["admin clock"] = admin.clock()
    out["admin outcomes"] = admin._call("GET", "/next-outcome")
    out["admin faults"] = [{k: v for k, v in f.items() if k != "hits"} for f in admin.faults()]
    text = json.dumps({k: v if not isinstance(v, bytes) else v.hex() for k, v in out.items()}, sort_keys=True)
    # each simulator signs with its own random key: the bytes fetched above prove each URL works
    return json.loads(re.sub(r"Signature=[0-9a-f]+", "Signature=SIG", text.replace(url, "http://SIMULATOR")))


def snapshot_with_cli(url: str, path: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["snapshot", str(path), "--url", url, *extra])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# -- loading -------------------------------------------------------------------------------------
def test_scenario_example_loads_every_kind_of_state(serve: Any) -> None:
    server = serve(EXAMPLE)
    team = {"Authorization": f"Bearer {TEAM}"}
    base = server.url + "/v1/ltxstudio"
    accounts = validate.validate_response("listAccounts", requests.get(base + "/accounts", headers=team, timeout=10))
    assert sorted(accounts) == [ALICE, "bob@example.com"]
    assert accounts[ALICE]["maxJobs"] == 2 and "error" not in accounts[ALICE]
    assert "session expired" in accounts["bob@example.com"]["error"]
    # the demo data is there too (demo: true), for the server's own token
    demo = requests.get(base + "/accounts", headers={"Authorization": "Bearer demo-token"}, timeout=10).json()
    assert list(demo) == ["demo@example.com"]
    listing = requests.get(base + "/assets/", params={"email": ALICE}, headers=team, timeout=10).json()
    upload = next(i for i in listing["items"] if i["id"] == "5c0ffee0-0000-4000-8000-000000000001")
    assert upload["signedAsset"]["asset"]["fileId"] == "asset:5c0ffee0-0000-4000-8000-000000000001-type:image/png"
    data = requests.get(upload["signedAsset"]["assetUrl"], timeout=10).content
    assert data == (EXAMPLE.parent / "sunflower.png").read_bytes()
    assert any(i.get("jobId", "").endswith("a1-type:image") for i in listing["items"])  # the completed job's artifact

    def status(suffix: str) -> dict[str, Any]:
        job_id = f"email:{ALICE}-job:5c0ffee0-0000-4000-8000-0000000000{suffix}"
        resp = requests.get(f"{base}/assets/{job_id}", headers=team, timeout=10)
        return validate.validate_response("getJob", resp)["status"]

    assert status("a1-type:image")["type"] == "completed" and "artifact" in status("a1-type:image")
    assert status("a2-type:video") == {"type": "active", "progress": 40}
    assert status("a3-type:image") == {"type": "active", "progress": 70}
    assert status("a4-type:image") == {"type": "failed", "progress": 30, "message": "Content policy violation"}
    admin = AdminClient(server.url)
    assert admin.clock()["nowUTC"] == "2025-06-02T09:00:00.000Z" and admin.clock()["paused"] is True
    assert requests.get(base + "/scheduler", headers=team, timeout=10).status_code == 503  # the declared fault
    assert requests.get(base + "/scheduler", headers=team, timeout=10).status_code == 200
    admin.advance(60)
    assert status("a2-type:video")["type"] == "completed"
    assert status("a3-type:image") == {"type": "active", "progress": 70}  # stalled until released
    # the queued outcome: the next job is completed 20 s before its artifact exists
    job = requests.post(base + "/images/create", json={"prompt": "x", "email": ALICE}, headers=team, timeout=10)
    admin.advance(16)
    body = requests.get(f"{base}/assets/{job.json()['jobId']}", headers=team, timeout=10).json()
    assert body["status"]["type"] == "completed" and "artifact" not in body["status"]


def test_scenario_loads_through_the_fixture_until_the_next_reset(ltx_mock: Any) -> None:
    state = ltx_mock.admin.load_scenario(EXAMPLE)
    assert state["counts"]["job"] == 4 and state["counts"]["asset"] == 2  # the upload + a1's artifact
    team = {"Authorization": f"Bearer {TEAM}"}
    assert requests.get(ltx_mock.base_url + "/accounts", headers=team, timeout=10).status_code == 200
    snap = ltx_mock.admin.snapshot()  # a snapshot posted back (JSON, assets inline) gives the same state
    ltx_mock.admin.load_scenario(snap)
    assert ltx_mock.admin.snapshot() == snap
    ltx_mock.admin.reset()
    assert requests.get(ltx_mock.base_url + "/accounts", headers=team, timeout=10).status_code == 401
    assert ltx_mock.admin.state()["counts"]["job"] == 0


def test_scenario_posted_with_a_mistake_is_refused_and_leaves_a_clean_state(ltx_mock: Any) -> None:
    resp = requests.post(f"{ltx_mock.url}/__admin/scenario",
                         json={"accounts": [{"email": "nobody@example.com", "token": "t"}]}, timeout=10)
    assert resp.status_code == 400
    assert "accounts.0.email: no LTX Studio user nobody@example.com" in resp.json()["error"]
    assert ltx_mock.admin.state()["counts"]["account"] == 1  # back to the start-up state
    resp = requests.post(f"{ltx_mock.url}/__admin/scenario", json={"jobs": [{"state": "paused"}]}, timeout=10)
    assert resp.status_code == 400 and "jobs.0.state: must be one of" in resp.json()["error"]


BAD = [
    ("tokens: [a, 7]\n", "S:1: tokens.1: 7 is not of type \"string\""),
    ("ltx_users:\n  - email: a@b.c\n    credit: 5\n", "S:3: ltx_users.0.credit: unknown field 'credit'"),
    ("ltx_users:\n  - email: a@b.c\n  - email: nope\n", "S:3: ltx_users.1.email: not an email address"),
    ("clock:\n  now: yesterday\n", "S:2: clock.now: now must be epoch milliseconds or an ISO 8601 date-time"),
    ("jobs:\n  - state: completed\n\n    progress: 120\n", "S:4: jobs.0.progress: 120 is greater than the maximum"),
    ("assets:\n  - token: t\n    type: image\n", "S:2: assets.0: an asset needs file (a path) or base64"),
    ("faults:\n  - path: /x\n    count: 2\n", "S:2: faults.0: a fault needs one of status, latency_ms"),
    ("faults:\n  - path: /x\n    status: 418\n", "S:3: faults.0.status: must be one of: 400, 401"),
    ("jobs:\n  - record: {}\n", "S:2: jobs.0.record: \"jobId\" is a required property"),
    ("version: 2\n", "S:1: version: 1 was expected"),
    ("- a\n- b\n", "S:1: (top level): a scenario is a mapping"),
    ("tokens: [a\n", "S:2: not valid YAML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1].split(": ")[1] for b in BAD])
def test_scenario_errors_name_the_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(text, "S")
    assert expected in str(info.value)


def test_scenario_rule_errors_name_the_line_too(tmp_path: Path, serve: Any) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokens: [t]\nltx_users:\n  - email: a@example.com\naccounts:\n  - email: a@example.com\n"
                   "assets:\n  - email: a@example.com\n    file: missing.png\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["serve", "--scenario", str(bad), "--port", "1"])
    assert result.exit_code != 0
    assert f"{bad}:8: assets.0.file: no such file 'missing.png'" in result.output
    bad.write_text("jobs:\n  - email: x@example.com\n    state: active\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad.yaml:2: jobs.0.email: Unable to locate LTX Studio account"):
        serve(bad)


# -- snapshots and round trips -------------------------------------------------------------------
def test_scenario_round_trip_example(serve: Any, tmp_path: Path) -> None:
    """Serve the example, snapshot it with the CLI, serve the snapshot: the API answers the same."""
    first = serve(EXAMPLE)
    snap = snapshot_with_cli(first.url, tmp_path / "snap.yaml")
    assert snap["demo"] is False and TEAM in snap["tokens"]
    second = serve(tmp_path / "snap.yaml")
    # a snapshot of the snapshot is the snapshot
    assert snapshot_with_cli(second.url, tmp_path / "snap2.yaml") == snap
    expected = api_answers(first.url)
    assert api_answers(second.url) == expected


def test_scenario_round_trip_of_live_state(ltx_mock: Any, client: Any, serve: Any, tmp_path: Path,
                                           png: Any) -> None:
    """State made through the API (users, accounts, uploads, jobs in every state, faults, outcomes)."""
    admin = ltx_mock.admin
    admin.add_token("second-token", demo_account=True)
    carol = admin.create_ltx_user(email="carol@example.com", credits=999)
    client.create_account(carol["cookie"], max_jobs=4)
    file_id = client.upload_asset(png(color=(1, 2, 3)), content_type="image/png", email="carol@example.com").file_id
    client.create_image("done", email="carol@example.com", reference_asset_id=file_id)
    admin.advance(60)
    admin.fail_next("Upstream timeout", progress=20)
    client.create_image("failing", email="carol@example.com")
    admin.stall_next(progress=30)
    client.create_image("stalled", email="demo@example.com")
    admin.next_outcome("completed", artifact_delay_s=100)
    client.create_image("late artifact", email="demo@example.com")
    client.create_image("running", email="carol@example.com")
    cancelled = client.create_image("cancelled", email="carol@example.com")
    client.cancel_job(cancelled.job_id)
    admin.advance(11)
    admin.expire_token("carol@example.com")
    admin.fault(method="GET", path="/v1/ltxstudio/assets/*", latency_ms=5, count=3)
    admin.next_outcome("failed", "later", count=2, progress=10, webhook={"copies": 2})
    path = tmp_path / "live.yaml"
    snap = snapshot_with_cli(ltx_mock.url, path, "--assets-dir", "live-assets")
    assert snap["assets"][0]["file"].startswith("live-assets/") and (tmp_path / snap["assets"][0]["file"]).is_file()
    expected = api_answers(ltx_mock.url)
    copy = serve(path)
    assert api_answers(copy.url) == expected
    # time goes on the same way in both: the stalled job stays, the late artifact appears
    for url in (ltx_mock.url, copy.url):
        AdminClient(url).advance(120)
    assert api_answers(copy.url) == api_answers(ltx_mock.url)
