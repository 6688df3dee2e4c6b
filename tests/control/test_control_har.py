"""Traffic as HAR 1.2: the journal (``GET /__admin/requests.har``) and ``ltx-mock proxy --har FILE``, read back
with a HAR reader (haralyzer: harfile, which writes them, has no reader) and compared with the journal; no
secret (API token, session cookie parts) is in either file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from haralyzer import HarEntry, HarParser
from helpers import free_port

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server.cookies import parse_cookie
from mock_server.masking import SECURED

SECRET_TOKEN = "har-api-token-0123456789"


def _session(api: str, admin: AdminClient) -> list[str]:
    """A client session that carries every kind of secret; returns the secrets it sent."""
    admin.add_token(SECRET_TOKEN)
    user = admin.create_ltx_user(email="har@example.com")
    cookie = user["cookie"]
    auth = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    with requests.Session() as http:
        assert http.post(f"{api}/accounts", json={"cookie": cookie, "maxJobs": 3}, headers=auth,
                         timeout=20).status_code == 200
        assert http.get(f"{api}/accounts", headers=auth, timeout=20).status_code == 200
        created = http.post(f"{api}/images/create", json={"prompt": "a lighthouse"}, headers=auth, timeout=20)
        assert created.status_code == 200
        assert http.get(f"{api}/assets/{created.json()['jobId']}", headers=auth, timeout=20).status_code == 200
        assert http.get(f"{api}/assets/", params={"note": f"lt_token={parse_cookie(cookie)['lt_token']}"},
                        headers=auth, timeout=20).status_code == 200
        assert http.get(f"{api}/accounts", timeout=20).status_code == 401
    fields = parse_cookie(cookie)
    return [SECRET_TOKEN, fields["lt_token"], fields["lt_refresh_token"]]


def _read(text: str) -> list[HarEntry]:
    """The document through the HAR reader; every entry's start time parses and its parts are where HAR puts them."""
    parser = HarParser(json.loads(text))
    assert parser.version == "1.2" and parser.creator["name"] == "ltxstudio-mock"
    entries = [HarEntry(raw) for raw in parser.har_data["entries"]]
    for entry in entries:
        assert isinstance(entry.startTime, datetime)
        assert entry.request.httpVersion == "HTTP/1.1" and isinstance(entry.timings, dict)
        assert entry.response.statusText is not None and entry.raw_entry["cache"] == {}
    return entries


def test_control_har_of_the_journal_round_trips_through_a_har_reader() -> None:
    server, _ = start_simulator()
    try:
        admin = AdminClient(server.url)
        secrets = _session(server.url + "/v1/ltxstudio", admin)
        resp = requests.get(server.url + "/__admin/requests.har", timeout=20)
        assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
        for secret in secrets:
            assert secret not in resp.text
        entries = _read(resp.text)
        journal = list(reversed(admin.requests(limit=1000)))  # oldest first, as HAR lists them
        assert len(entries) == len(journal) == 6
        for entry, logged in zip(entries, journal, strict=True):
            assert entry.request.method == logged["method"]
            assert urlsplit(entry.request.url).path == logged["path"]
            assert entry.response.status == logged["status"]
            assert entry.raw_entry["time"] == logged["duration_ms"]
            assert f"id={logged['id']}" in entry.raw_entry["comment"]
            headers = {h["name"]: h["value"] for h in entry.request.headers}
            if logged["status"] != 401:
                assert headers["Authorization"] == f"Bearer {SECURED}"
            if isinstance(logged["response"], dict | list):
                assert json.loads(entry.response.text) == logged["response"]
        posted = entries[0]
        assert posted.request.mimeType == "application/json" and SECURED in posted.request.text
        query = {q["name"]: q["value"] for q in entries[4].request.queryString}
        assert query == {"note": f"lt_token={SECURED}"}
        filtered = requests.get(server.url + "/__admin/requests.har", params={"status": 401}, timeout=20).json()
        assert [e["response"]["status"] for e in filtered["log"]["entries"]] == [401]
    finally:
        server.stop()


def test_control_har_of_the_proxy_cli(tmp_path: Path) -> None:
    """``ltx-mock proxy --har FILE``: each exchange as it completes; SIGTERM closes a valid document."""
    upstream, _ = start_simulator()
    port = free_port()
    har = tmp_path / "traffic.har"
    log = tmp_path / "proxy.log"
    env = {**os.environ, "LTX_MOCK_PROXY_HAR": str(har)}  # from the environment, like every proxy option
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "proxy", "--upstream",
                                 upstream.url + "/v1/ltxstudio", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        proxy = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(proxy + "/__proxy/operations", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        admin = AdminClient(upstream.url)
        admin.clear_requests()
        secrets = _session(proxy + "/v1/ltxstudio", admin)
        journal = list(reversed(admin.requests(limit=1000)))  # what reached the upstream, oldest first
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        upstream.stop()
    text = har.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in text, log.read_text()
    entries = _read(text)
    assert len(entries) == 6
    assert [(e.request.method, urlsplit(e.request.url).path, e.response.status) for e in entries] == [
        (j["method"], j["path"], j["status"]) for j in journal]
    assert all(e.request.url.startswith(f"http://127.0.0.1:{port}/v1/ltxstudio/") for e in entries)
    listed: Any = json.loads(entries[1].response.text)  # GET /accounts: the upstream's answer, cookie parts masked
    assert listed["har@example.com"]["cookie"]["lt_token"] == SECURED
