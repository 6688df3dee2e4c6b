"""Through the proxy, the README's flows answer byte for byte as direct calls, and nothing is reported: in front of
the default ``ltx-mock serve`` (granian), the werkzeug helper and a CDN-like upstream (tests/proxy/conftest.py)."""

from __future__ import annotations

import gzip
import http.client
import json
from urllib.parse import urlsplit

import brotli
import pytest
import requests
from cdn_upstream import HOP_HEADER
from proxy_helpers import API, Flow, proxy_in_front, violations


def test_proxy_flows_are_byte_identical_and_clean(api_upstream: str) -> None:
    """The README's read/write flow (accounts, upload, create, poll, list, cancel, the 4xx answers): through the
    proxy every answer is the upstream's, byte for byte, and not one is reported, whatever the upstream's
    header case, compression or framing."""
    origin = api_upstream
    direct = Flow(origin, origin).run()
    requests.post(f"{origin}/__admin/reset", timeout=10).raise_for_status()
    with proxy_in_front(origin) as (proxy, _app):
        proxied = Flow(proxy, origin).run()
        found = violations(proxy)
        seen = requests.get(f"{proxy}/__proxy/operations", timeout=10).json()
    statuses = {step: status for step, status, _ in direct}
    assert statuses["402"] == 402 and statuses["429"] == 429 and statuses["404"] == 404
    assert statuses["cancel"] == 204 and statuses["upload"] == 200
    assert [(s, st) for s, st, _ in proxied] == [(s, st) for s, st, _ in direct]
    for (step, _, want), (_, _, got) in zip(direct, proxied, strict=True):
        assert got == want, f"{step}: proxied body differs\n direct: {want[:300]!r}\nproxied: {got[:300]!r}"
    assert found == []
    assert seen["POST /images/create"] == 4 and seen["DELETE /scheduler/{jobId}"] == 1


def _exchange(conn: http.client.HTTPConnection, path: str, accept: str) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request("GET", path, headers={"Authorization": "Bearer demo-token", "Accept-Encoding": accept})
    resp = conn.getresponse()
    return resp, resp.read()


@pytest.mark.parametrize("accept", ["gzip", "br", "identity"])
def test_proxy_keeps_the_connection_and_the_upstreams_headers(api_upstream: str, accept: str) -> None:
    """One connection to the proxy carries several exchanges (keep-alive), each answer has one ``Server`` and one
    ``Date`` (the upstream's), no hop-by-hop header of the upstream's hop (``Connection``, the headers it names,
    ``Transfer-Encoding``), and the upstream's encoding and bytes as they were."""
    with proxy_in_front(api_upstream) as (proxy, _app):
        conn = http.client.HTTPConnection(urlsplit(proxy).netloc, timeout=10)
        sockets = set()
        try:
            for _ in range(4):  # the CDN-like upstream cycles keep-alive, close, no header, a named hop header
                resp, raw = _exchange(conn, f"{API}/accounts", accept)
                assert resp.status == 200
                sockets.add(id(conn.sock))
                names = [name.lower() for name, _ in resp.getheaders()]
                assert names.count("server") == 1 and names.count("date") == 1, resp.getheaders()
                assert HOP_HEADER not in names and "keep-alive" not in names
                assert resp.getheader("Connection", "").lower() != "close"
                direct = requests.get(f"{api_upstream}{API}/accounts", stream=True, timeout=10,
                                      headers={"Authorization": "Bearer demo-token", "Accept-Encoding": accept})
                assert resp.getheader("Content-Encoding") == direct.headers.get("Content-Encoding")
                assert resp.getheader("Server") == direct.headers.get("Server")
                body = _decode(raw, resp.getheader("Content-Encoding") or "")
                assert json.loads(body)["demo@example.com"]["email"] == "demo@example.com"
        finally:
            conn.close()
        assert len(sockets) == 1, "the proxy closed the connection between exchanges"
        assert violations(proxy) == []


def _decode(raw: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "br":
        return brotli.decompress(raw)
    return raw


def test_proxy_streams_headers_and_query_unchanged(werkzeug_upstream: str) -> None:
    origin = werkzeug_upstream
    with proxy_in_front(origin) as (proxy, _app):
        # the caller's own Authorization goes through: a wrong token gets the upstream's 401
        bad = requests.get(f"{proxy}{API}/accounts", headers={"Authorization": "Bearer nope"}, timeout=10)
        direct = requests.get(f"{origin}{API}/accounts", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert (bad.status_code, bad.content) == (direct.status_code, direct.content) == (401, direct.content)
        # a chunked upload (no Content-Length) arrives whole
        body = b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000
        up = requests.post(f"{proxy}{API}/assets/?type=image&email=demo@example.com",
                           data=iter([body[:1000], body[1000:]]),
                           headers={"Authorization": "Bearer demo-token", "Content-Type": "image/png"}, timeout=30)
        assert up.status_code == 200, up.text
        url = up.json()["assetUrl"]
        assert requests.get(url, timeout=10).content == body
        # hop-by-hop headers of the caller's hop stay there, the ones its Connection header names included
        requests.get(f"{proxy}{API}/accounts", timeout=10, headers={
            "Authorization": "Bearer demo-token", "Connection": "keep-alive, X-Client-Hop", "X-Client-Hop": "1",
            "X-End-To-End": "2"})
        (entry,) = requests.get(f"{origin}/__admin/requests?limit=1", timeout=10).json()["items"]
        sent = {name.lower() for name in entry["headers"]}
        assert "x-end-to-end" in sent and "x-client-hop" not in sent, sent
        # non-API paths go to the upstream's origin (its storage, its control API)
        assert requests.get(f"{proxy}/__admin/clock", timeout=10).json()["paused"] is True
        assert violations(proxy) == []


def test_proxy_refuses_spending_on_a_remote_upstream_unless_allowed() -> None:
    from mock_server.proxy import ProxyApp

    remote = ProxyApp("https://api.useapi.net/v1/ltxstudio", stream=None)
    for method, path in (("POST", f"{API}/images/create"), ("POST", f"{API}/accounts"),
                         ("DELETE", f"{API}/scheduler/x"), ("POST", f"{API}/not/documented")):
        reason = remote.refusal(method, path)
        assert reason and "--allow-spend" in reason and "api.useapi.net" in reason
    assert remote.refusal("GET", f"{API}/accounts") is None
    assert ProxyApp("https://api.useapi.net/v1/ltxstudio", stream=None, allow_spend=True).refusal(
        "POST", f"{API}/images/create") is None
    assert ProxyApp("http://127.0.0.1:9/v1/ltxstudio", stream=None).refusal("POST", f"{API}/images/create") is None
    # the refusal is the proxy's own 4xx, in the API's error shape, and nothing is sent anywhere
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"{API}/images/create", "wsgi.input": None}
    got: list[str] = []
    body = b"".join(remote(environ, lambda status, headers: got.append(status)))
    assert got == ["403 Forbidden"]
    assert b'"code": 403' in body and b"--allow-spend" in body


def test_proxy_passes_compressed_answers_through_and_still_judges_them() -> None:
    """A gzip answer reaches the caller as the upstream's bytes, and is decoded for the checks."""
    import gzip
    import json

    from proxy_helpers import upstream
    from werkzeug.wrappers import Request, Response

    body = gzip.compress(json.dumps({"demo@example.com": {"email": "demo@example.com", "maxJobs": "20",
                                                          "cookie": {}}}).encode(), mtime=0)

    @Request.application
    def gzipping(request: Request) -> Response:
        return Response(body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    gzipping.extensions = {}  # type: ignore[attr-defined]  # what ServerThread.stop looks at
    with upstream(gzipping) as origin, proxy_in_front(origin) as (proxy, _app):
        resp = requests.get(f"{proxy}{API}/accounts", headers={"Authorization": "Bearer t"}, stream=True, timeout=10)
        assert resp.raw.read(decode_content=False) == body
        assert resp.headers["Content-Encoding"] == "gzip"
        (found,) = violations(proxy)
    assert found["json_path"] == "demo@example.com.maxJobs" and found["operation"] == "GET /accounts"
