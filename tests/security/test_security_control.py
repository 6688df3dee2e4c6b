"""The control API refuses cross-site requests and, with ``--admin-token``, anyone without the token (issue 19)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from ltxstudio_mock.admin_client import AdminClient, AdminError
from ltxstudio_mock.pytest_plugin import start_simulator
from mock_server import SimConfig, create_app
from mock_server.cli import exposure_warning
from mock_server.cli import main as cli

DASHBOARD_JS = Path(__file__).resolve().parents[2] / "mock_server" / "dashboard" / "static" / "dashboard.js"


def _tenants(url: str) -> int:
    return AdminClient(url).state()["counts"]["tenant"]


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_security_control_refuses_non_json_bodies(ltx_mock: Any, content_type: str) -> None:
    """What a foreign page can send without a preflight: refused with 415, nothing changed."""
    before = _tenants(ltx_mock.url)
    resp = requests.post(f"{ltx_mock.url}/__admin/tokens", data=b'{"token": "planted-by-a-page"}',
                         headers={"Content-Type": content_type}, timeout=10)
    assert resp.status_code == 415
    assert resp.json()["code"] == 415 and "JSON" in resp.json()["error"]
    assert _tenants(ltx_mock.url) == before
    # the same body as JSON is accepted
    ok = requests.post(f"{ltx_mock.url}/__admin/tokens", json={"token": "planted-by-a-page"}, timeout=10)
    assert ok.status_code == 200 and _tenants(ltx_mock.url) == before + 1


def test_security_control_refuses_a_body_without_content_type(ltx_mock: Any) -> None:
    resp = requests.post(f"{ltx_mock.url}/__admin/clock", data=b'{"advance": 60}', timeout=10,
                         headers={"Content-Type": ""})
    assert resp.status_code == 415


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"])
def test_security_control_refuses_foreign_origin(ltx_mock: Any, origin: str) -> None:
    """Bodyless cross-site POSTs (a form, fetch no-cors) carry Origin: refused with 403, state unchanged."""
    clock = ltx_mock.admin.clock()["now"]
    ltx_mock.admin.advance(60)
    resp = requests.post(f"{ltx_mock.url}/__admin/reset", headers={"Origin": origin}, timeout=10)
    assert resp.status_code == 403 and resp.json()["code"] == 403
    assert ltx_mock.admin.clock()["now"] == clock + 60_000  # not reset
    for method, path, body in (("POST", "/clock", {"advance": 1}), ("DELETE", "/requests", None),
                               ("GET", "/snapshot", None)):
        assert requests.request(method, f"{ltx_mock.url}/__admin{path}", json=body, headers={"Origin": origin},
                                timeout=10).status_code == 403


def test_security_control_accepts_its_own_origin(ltx_mock: Any) -> None:
    resp = requests.post(f"{ltx_mock.url}/__admin/clock", json={"advance": 1}, headers={"Origin": ltx_mock.url},
                         timeout=10)
    assert resp.status_code == 200
    assert requests.post(f"{ltx_mock.url}/__admin/clock", json={"advance": 1}, timeout=10,
                         headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert requests.post(f"{ltx_mock.url}/__admin/clock", json={"advance": 1}, timeout=10,
                         headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403


def test_security_control_refuses_a_rebinding_host(ltx_mock: Any) -> None:
    """A DNS-rebinding page is same-origin with itself: its Host is its own name, refused on a loopback bind."""
    port = ltx_mock.url.rsplit(":", 1)[1]
    resp = requests.post(f"{ltx_mock.url}/__admin/tokens", json={"token": "rebound"}, timeout=10,
                         headers={"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"})
    assert resp.status_code == 403
    assert requests.get(f"{ltx_mock.url}/__admin/state", headers={"Host": f"localhost:{port}"},
                        timeout=10).status_code == 200
    # the API itself answers any Host (its URLs then name that host, for that answer only)
    assert requests.get(f"{ltx_mock.base_url}/accounts", headers={**ltx_mock.headers, "Host": "other.example"},
                        timeout=10).status_code == 200


def test_security_control_check_bites_without_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proof that the tests above can fail: with the guard disabled the planted token is accepted."""
    from mock_server.admin import guard

    monkeypatch.setattr(guard.AdminGuard, "check", lambda self, req: None)
    client = create_app(SimConfig(background=False)).test_client()
    resp = client.post("/__admin/tokens", data=b'{"token": "planted"}', headers={"Content-Type": "text/plain",
                                                                                  "Origin": "http://evil.example"})
    assert resp.status_code == 200  # the hole the guard closes


# -- --admin-token -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded() -> Any:
    server, _ = start_simulator(admin_token="s3cret-admin-token")
    yield server
    server.stop()


def test_security_admin_token_required(guarded: Any) -> None:
    url = guarded.url
    resp = requests.get(f"{url}/__admin/state", timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(f"{url}/__admin/state", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code \
        == 401
    assert requests.get(f"{url}/__admin/state", headers={"X-Admin-Token": "s3cret-admin-token"},
                        timeout=10).status_code == 200
    assert requests.get(f"{url}/__admin/state", headers={"Authorization": "Bearer s3cret-admin-token"},
                        timeout=10).status_code == 200
    # the token holder is trusted whatever the Origin (a foreign page cannot know it); JSON is still required
    assert requests.post(f"{url}/__admin/clock", json={"advance": 1}, timeout=10,
                         headers={"X-Admin-Token": "s3cret-admin-token", "Origin": "http://tool.example"}
                         ).status_code == 200
    assert requests.post(f"{url}/__admin/clock", data=b'{"advance": 1}', timeout=10,
                         headers={"X-Admin-Token": "s3cret-admin-token", "Content-Type": "text/plain"}
                         ).status_code == 415
    # the API itself takes its own bearer tokens, not the admin token
    assert requests.get(f"{url}/v1/ltxstudio/accounts", headers={"Authorization": "Bearer demo-token"},
                        timeout=10).status_code == 200


def test_security_admin_token_dashboard_page_open_data_closed(guarded: Any) -> None:
    url = guarded.url
    assert requests.get(f"{url}/__admin/dashboard", timeout=10).status_code == 200  # no data in the page
    assert requests.get(f"{url}/__admin/dashboard/static/dashboard.js", timeout=10).status_code == 200
    assert requests.get(f"{url}/__admin/dashboard/data", timeout=10).status_code == 401
    assert requests.get(f"{url}/__admin/dashboard/data", headers={"X-Admin-Token": "s3cret-admin-token"},
                        timeout=10).status_code == 200


def test_security_admin_client_with_token(guarded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AdminError, match="401"):
        AdminClient(guarded.url).state()
    assert AdminClient(guarded.url, token="s3cret-admin-token").state()["clock"]
    monkeypatch.setenv("LTX_MOCK_ADMIN_TOKEN", "s3cret-admin-token")
    assert AdminClient(guarded.url).reset()["clock"]


def test_security_snapshot_cli_with_admin_token(guarded: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["snapshot", str(tmp_path / "s.yaml"), "--url", guarded.url])
    assert result.exit_code != 0 and "401" in result.output
    result = CliRunner().invoke(cli, ["snapshot", str(tmp_path / "s.yaml"), "--url", guarded.url,
                                      "--admin-token", "s3cret-admin-token"])
    assert result.exit_code == 0, result.output


# -- binding beyond loopback ---------------------------------------------------------------------------
def test_security_exposed_bind_without_token_warns() -> None:
    warning = exposure_warning(SimConfig(host="0.0.0.0", port=8787))
    assert warning and "0.0.0.0" in warning and "--admin-token" in warning and "control API" in warning
    assert exposure_warning(SimConfig(host="0.0.0.0", port=8787, admin_token="t")) is None
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert exposure_warning(SimConfig(host=host, port=8787)) is None


def test_security_serve_passes_options_and_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ltx-mock serve --host 0.0.0.0``: the warning on stderr; the options reach SimConfig (no socket opened)."""
    from mock_server import server

    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "bind", lambda host, port, **kw: None)  # no socket beyond loopback, ever
    monkeypatch.setattr(server, "run", lambda config, host, port, **kw: seen.update(config=config))
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "9999",
                                      "--public-url", "http://sim.test:9999"])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "--admin-token" in result.output
    config = seen["config"]
    assert config.public_url == "http://sim.test:9999" and config.host == "0.0.0.0" and config.port == 9999
    seen.clear()
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--admin-token", "T"])
    assert result.exit_code == 0 and "WARNING" not in result.output and seen["config"].admin_token == "T"
    result = CliRunner().invoke(cli, ["serve", "--public-url", "not a url"])
    assert result.exit_code != 0 and "--public-url" in result.output


# -- the dashboard keeps working -------------------------------------------------------------------------
def test_security_dashboard_script_posts_json_same_origin() -> None:
    """Every fetch the page makes is same-origin, and every body it posts is JSON (so the guard lets it through)."""
    js = DASHBOARD_JS.read_text(encoding="utf-8")
    calls = re.findall(r"fetch\(([^,]+),", js)
    assert calls and all(c.strip() in ("url", "ADMIN + path") for c in calls)
    assert js.count('credentials: "same-origin"') == len(calls)
    assert re.search(r'payload === undefined \? \{ \.\.\.AUTH \} : \{ "Content-Type": "application/json"', js)
    assert "body: payload === undefined ? undefined : JSON.stringify(payload)" in js


def test_security_dashboard_controls_pass_the_guard(ltx_mock: Any) -> None:
    """The requests the page sends (same Origin, JSON or no body) are accepted."""
    origin = {"Origin": ltx_mock.url, "Sec-Fetch-Site": "same-origin"}
    assert requests.post(f"{ltx_mock.url}/__admin/clock", json={"paused": False}, headers=origin,
                         timeout=10).status_code == 200
    assert requests.delete(f"{ltx_mock.url}/__admin/next-outcome", headers=origin, timeout=10).status_code == 204
    assert requests.get(f"{ltx_mock.url}/__admin/dashboard/data", headers=origin, timeout=10).status_code == 200
