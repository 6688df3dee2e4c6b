"""--record: the scenario serves the same accounts, assets and jobs with the local token, keeps no upstream
secret, and the recorded run time is the one the simulator then uses."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from proxy_helpers import API, proxy_in_front

from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.artifacts import render_image
from mock_server.config import DEMO_EMAIL
from mock_server.scenario import dump_yaml, read_scenario

UPSTREAM_TOKEN = "upstream-secret-token-4f1c9a7e"
LOCAL = {"Authorization": "Bearer recorded-token"}


def _job_url(base: str, job_id: str) -> str:
    return f"{base}{API}/assets/{quote(job_id, safe='')}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Traffic through a recording proxy in front of a simulator whose token and sessions are 'real'."""
    server, app = start_simulator(tokens=[UPSTREAM_TOKEN], seed=5)
    sim = app.extensions["ltx_sim"]
    user = sim.ltx.get_user(DEMO_EMAIL)
    secrets = [UPSTREAM_TOKEN, user.lt_token, user.lt_refresh_token]
    path = tmp_path_factory.mktemp("record") / "recorded.yaml"
    up = {"Authorization": f"Bearer {UPSTREAM_TOKEN}"}
    png = render_image("recorded upload", "1:1")
    try:
        with proxy_in_front(server.url, record=True) as (proxy, proxy_app):
            http = requests.Session()
            http.headers.update(up)
            accounts = http.get(f"{proxy}{API}/accounts", timeout=10).json()
            http.get(f"{proxy}{API}/accounts/{DEMO_EMAIL}", timeout=10)
            upload = http.post(f"{proxy}{API}/assets/?type=image", data=png, headers={"Content-Type": "image/png"},
                               timeout=10).json()
            image = http.post(f"{proxy}{API}/images/create", json={"prompt": "A lighthouse", "aspectRatio": "1:1"},
                              timeout=10).json()["jobId"]
            waited = 0
            while http.get(_job_url(proxy, image), timeout=10).json()["status"]["type"] == "active":
                requests.post(f"{server.url}/__admin/clock", json={"advance": 1}, timeout=10)
                waited += 1
                assert waited < 100
            video = http.post(f"{proxy}{API}/videos/ltx-create",
                              json={"prompt": "Waves", "startAssetId": upload["asset"]["fileId"]}, timeout=10).json()
            requests.post(f"{server.url}/__admin/clock", json={"advance": 2}, timeout=10)
            video_view = http.get(_job_url(proxy, video["jobId"]), timeout=10).json()
            assert proxy_app.violations.snapshot() == []
            proxy_app.finish(record=str(path))
        planned = sim.jobs.find(image).total_ms / 1000
    finally:
        server.stop()
    return {"path": path, "secrets": secrets, "accounts": accounts, "upload": upload, "png": png, "image": image,
            "video": video["jobId"], "video_view": video_view, "planned": planned, "waited": waited}


def test_record_keeps_no_upstream_secret(recorded: dict[str, Any]) -> None:
    text = recorded["path"].read_text(encoding="utf-8")
    for secret in recorded["secrets"]:
        assert secret not in text
    doc = yaml.safe_load(text)
    assert doc["tokens"] == ["recorded-token"]
    assert "Bearer recorded-token" in text.splitlines()[2]
    for user in doc["ltx_users"]:
        assert not {"lt_token", "lt_refresh_token", "lt_id"} & set(user)
    for account in doc["accounts"]:
        assert "cookie" not in account


def test_record_serves_the_same_accounts_assets_and_jobs(recorded: dict[str, Any]) -> None:
    read_scenario(recorded["path"])  # what `ltx-mock serve --scenario FILE` checks first
    server, _app = start_simulator(scenario=str(recorded["path"]))
    try:
        base = server.url
        accounts = requests.get(f"{base}{API}/accounts", headers=LOCAL, timeout=10).json()
        assert set(accounts) == set(recorded["accounts"]) == {DEMO_EMAIL}
        assert accounts[DEMO_EMAIL]["maxJobs"] == recorded["accounts"][DEMO_EMAIL]["maxJobs"]
        assets = requests.get(f"{base}{API}/assets/", headers=LOCAL, timeout=10).json()
        file_ids = [item["signedAsset"]["asset"]["fileId"] for item in assets["items"]]
        assert recorded["upload"]["asset"]["fileId"] in file_ids
        upload_item = next(i for i in assets["items"]
                           if i["signedAsset"]["asset"]["fileId"] == recorded["upload"]["asset"]["fileId"])
        assert requests.get(upload_item["signedAsset"]["assetUrl"], timeout=10).content == recorded["png"]
        image = requests.get(_job_url(base, recorded["image"]), headers=LOCAL, timeout=10).json()
        assert image["jobId"] == recorded["image"] and image["status"]["type"] == "completed"
        video = requests.get(_job_url(base, recorded["video"]), headers=LOCAL, timeout=10).json()
        assert video["jobId"] == recorded["video"] and video["status"]["type"] == "active"
        assert video["status"]["progress"] == recorded["video_view"]["status"]["progress"]
        # the upstream's own token means nothing here
        assert requests.get(f"{base}{API}/accounts", headers={"Authorization": f"Bearer {UPSTREAM_TOKEN}"},
                            timeout=10).status_code == 401
    finally:
        server.stop()


def test_record_run_time_is_used_in_simulated_time(recorded: dict[str, Any]) -> None:
    doc = yaml.safe_load(recorded["path"].read_text(encoding="utf-8"))
    timing = {(t["operation"], t["model"]): t for t in doc["timing"]}
    assert set(timing) == {("images/create", "flux")}  # the video never finished: no run time for it
    seconds = timing[("images/create", "flux")]["seconds"]
    # observed on the upstream's simulated clock, polled once a simulated second
    assert recorded["planned"] <= seconds <= recorded["planned"] + 1.001
    assert seconds == recorded["waited"]
    server, _app = start_simulator(scenario=str(recorded["path"]))
    try:
        base = server.url
        job = requests.post(f"{base}{API}/images/create", json={"prompt": "Another lighthouse"}, headers=LOCAL,
                            timeout=10).json()["jobId"]
        requests.post(f"{base}/__admin/clock", json={"advance": seconds - 0.01}, timeout=10)
        assert requests.get(_job_url(base, job), headers=LOCAL, timeout=10).json()["status"]["type"] == "active"
        requests.post(f"{base}/__admin/clock", json={"advance": 0.02}, timeout=10)
        assert requests.get(_job_url(base, job), headers=LOCAL, timeout=10).json()["status"]["type"] == "completed"
    finally:
        server.stop()


def test_record_fetches_or_generates_bytes_of_assets_seen_only_in_a_listing(tmp_path: Path) -> None:
    from mock_server.proxy.recorder import generated_bytes

    server, _app = start_simulator(tokens=[UPSTREAM_TOKEN], seed=6)
    up = {"Authorization": f"Bearer {UPSTREAM_TOKEN}"}
    png = render_image("uploaded before the proxy", "1:1")
    try:
        requests.post(f"{server.url}{API}/assets/?type=image", data=png, headers={**up, "Content-Type": "image/png"},
                      timeout=10).raise_for_status()
        with proxy_in_front(server.url, record=True) as (proxy, proxy_app):
            requests.get(f"{proxy}{API}/assets/", headers=up, timeout=10).raise_for_status()
            doc = proxy_app.recorder.scenario()  # fetched from its assetUrl
            assert base64.b64decode(doc["assets"][0]["base64"]) == png
            proxy_app.recorder.assets[next(iter(proxy_app.recorder.assets))].url = "http://127.0.0.1:9/gone.png"
            doc = proxy_app.recorder.scenario()  # unreachable: generated, of the right type
            assert base64.b64decode(doc["assets"][0]["base64"]).startswith(b"\x89PNG")
    finally:
        server.stop()
    assert generated_bytes("video/mp4", "x")[4:8] == b"ftyp"
    assert generated_bytes("audio/wav", "x").startswith(b"RIFF")
    assert generated_bytes("image/jpeg", "x").startswith(b"\xff\xd8")


def test_record_gives_each_upstream_token_its_own_local_token() -> None:
    from mock_server.proxy.forward import Exchange
    from mock_server.proxy.recorder import Recorder

    recorder = Recorder("https://api.example.invalid/v1/ltxstudio", clock=lambda: 0.0)
    for token, email in (("real-token-one", "a@example.com"), ("real-token-two", "b@example.com"),
                         ("real-token-one", "c@example.com")):
        recorder.observe(Exchange(
            method="GET", path=f"{API}/accounts", query="", request_headers={"authorization": f"Bearer {token}"},
            request_body=b"", status_code=200, headers={"Content-Type": "application/json"},
            content=f'{{"{email}": {{"email": "{email}", "maxJobs": 3}}}}'.encode()))
    doc = recorder.scenario()
    assert doc["tokens"] == ["recorded-token", "recorded-token-2"]
    assert [(a["token"], a["email"], a["maxJobs"]) for a in doc["accounts"]] == [
        ("recorded-token", "a@example.com", 3), ("recorded-token", "c@example.com", 3),
        ("recorded-token-2", "b@example.com", 3)]
    assert "real-token" not in dump_yaml(doc)
