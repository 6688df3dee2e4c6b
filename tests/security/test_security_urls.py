"""URLs the simulator hands out: no Host-header poisoning, no forgeable signatures (issue 19)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server import SimConfig, create_app

AUTH = {"Authorization": "Bearer demo-token"}
OLD_PUBLIC_SECRET = "ltxstudio-mock-signing-secret"  # what every simulator signed with before issue 19


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


def _webhook_body(url: str, admin: AdminClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A job with a replyUrl (a closed loopback port: the body is in the delivery log either way), run to the end."""
    resp = requests.post(f"{url}/v1/ltxstudio/images/create", timeout=10, headers={**AUTH, **(headers or {})},
                         json={"prompt": "p", "replyUrl": "http://127.0.0.1:9/hook"})
    assert resp.status_code == 200, resp.text
    admin.advance(300)
    deadline = time.monotonic() + 5
    while not admin.webhooks() and time.monotonic() < deadline:
        time.sleep(0.05)
    return admin.webhooks()[0]["body"]


@pytest.fixture
def fresh() -> Any:
    """A simulator no request has reached yet (the poisoning needed the *first* request)."""
    servers = []

    def start(**config: Any) -> Any:
        server, _ = start_simulator(**config)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_security_first_request_host_does_not_become_the_webhook_host(fresh: Any) -> None:
    server = fresh()
    evil = {"Host": "evil.example"}
    first = requests.get(f"{server.url}/v1/ltxstudio/accounts", headers={**AUTH, **evil}, timeout=10)
    assert first.status_code == 200
    body = _webhook_body(server.url, AdminClient(server.url), evil)
    artifact = body["status"]["artifact"]["assetUrl"]
    assert artifact.startswith(server.url + "/storage/"), artifact  # the bound address, not evil.example
    assert requests.get(artifact, timeout=10).status_code == 200


def test_security_answer_urls_use_the_requests_own_host(fresh: Any) -> None:
    server = fresh()
    up = requests.post(f"{server.url}/v1/ltxstudio/assets/", data=_png(), timeout=10,
                       headers={**AUTH, "Content-Type": "image/png", "Host": "mine.example"}).json()
    assert up["assetUrl"].startswith("http://mine.example/storage/")  # that answer only
    again = requests.post(f"{server.url}/v1/ltxstudio/assets/", data=_png(), timeout=10,
                          headers={**AUTH, "Content-Type": "image/png"}).json()
    assert again["assetUrl"].startswith(server.url + "/storage/")


def test_security_public_url_is_used_everywhere(fresh: Any) -> None:
    server = fresh(public_url="http://ltx-mock.test:8787")
    up = requests.post(f"{server.url}/v1/ltxstudio/assets/", data=_png(), timeout=10,
                       headers={**AUTH, "Content-Type": "image/png", "Host": "evil.example"}).json()
    assert up["assetUrl"].startswith("http://ltx-mock.test:8787/storage/")
    body = _webhook_body(server.url, AdminClient(server.url))
    assert body["status"]["artifact"]["assetUrl"].startswith("http://ltx-mock.test:8787/storage/")


# -- signatures ------------------------------------------------------------------------------------
def _forge(url: str, secret: str, expires: int) -> str:
    parts = urlsplit(url)
    path = parts.path.split("/storage/lt-infinity-prd/", 1)[1]
    sig = hmac.new(secret.encode(), f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?Expires={expires}&Signature={sig}"


def test_security_signed_urls_cannot_be_forged(ltx_mock: Any) -> None:
    up = requests.post(f"{ltx_mock.base_url}/assets/", data=_png(), timeout=10,
                       headers={**ltx_mock.headers, "Content-Type": "image/png"}).json()
    assert requests.get(up["assetUrl"], timeout=10).status_code == 200
    forged = _forge(up["assetUrl"], OLD_PUBLIC_SECRET, 99999999999999)
    assert requests.get(forged, timeout=10).status_code == 403
    # the check bites: the same forgery signed with the simulator's real key would pass
    key = ltx_mock.simulator.ctx.signing_key().decode()
    assert requests.get(_forge(up["assetUrl"], key, 99999999999999), timeout=10).status_code == 200
    # and the key is shown nowhere
    for path in ("/__admin/snapshot", "/__admin/state", "/__admin/dashboard/data"):
        assert key not in requests.get(ltx_mock.url + path, timeout=10).text


def test_security_each_simulator_has_its_own_key(fresh: Any) -> None:
    a, b = fresh(), fresh()
    up = requests.post(f"{a.url}/v1/ltxstudio/assets/", data=_png(), timeout=10,
                       headers={**AUTH, "Content-Type": "image/png"}).json()
    query = parse_qs(urlsplit(up["assetUrl"]).query)
    path = urlsplit(up["assetUrl"]).path
    # same seed, same upload uuid in b: only the key differs
    requests.post(f"{b.url}/v1/ltxstudio/assets/", data=_png(), timeout=10,
                  headers={**AUTH, "Content-Type": "image/png"}).raise_for_status()
    resp = requests.get(f"{b.url}{path}", params={k: v[0] for k, v in query.items()}, timeout=10)
    assert resp.status_code == 403


def test_security_signing_key_survives_restart_and_reset_on_a_persisted_store(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'state.db'}"
    first = create_app(SimConfig(store_url=store, background=False, paused=True))
    client = first.test_client()
    up = client.post("/v1/ltxstudio/assets/", data=_png(), headers={**AUTH, "Content-Type": "image/png"})
    assert up.status_code == 200
    url = urlsplit(up.get_json()["assetUrl"])
    target = f"{url.path}?{url.query}"
    assert client.get(target).status_code == 200
    first.extensions["ltx_sim"].store.close()
    second = create_app(SimConfig(store_url=store, background=False, paused=True))
    assert second.test_client().get(target).status_code == 200  # signed before the restart, valid after
    key = second.extensions["ltx_sim"].ctx.signing_key()
    second.test_client().post("/__admin/reset")
    assert second.extensions["ltx_sim"].ctx.signing_key() == key
    assert second.extensions["ltx_sim"].store.get_meta("signing-key") == key.decode()
    snapshot = second.test_client().get("/__admin/snapshot").get_data(as_text=True)
    assert key.decode() not in snapshot and "signing" not in json.loads(snapshot)
    second.extensions["ltx_sim"].store.close()
