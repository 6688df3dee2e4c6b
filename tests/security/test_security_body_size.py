"""Bodies over the limit are 413 however they arrive: with a Content-Length or chunked, JSON or form
(a chunked JSON body over the limit used to be cut by werkzeug and answered 400 "not valid JSON")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

LIMIT = 4096


@pytest.fixture
def store_url() -> None:
    """The store plays no part in body sizes: memory only."""
    return None


def chunks(*parts: bytes) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    yield from parts


@pytest.mark.parametrize(("mimetype", "head", "tail"), [
    ("application/json", b'{"prompt": "', b'"}'),
    ("application/x-www-form-urlencoded", b"prompt=", b""),
])
def test_security_chunked_body_over_the_limit_is_413(serve: Any, mimetype: str, head: bytes, tail: bytes) -> None:
    live = serve(max_upload_bytes=LIMIT)
    headers = {**live.headers, "Content-Type": mimetype}
    url = f"{live.api}/images/create"
    over = requests.post(url, data=chunks(head, b"a" * (LIMIT + 10), tail), headers=headers, timeout=10)
    assert over.status_code == 413, over.text[:300]
    assert over.json() == {"error": f"Request body exceeds the {LIMIT} byte limit", "code": 413}
    sized = requests.post(url, data=head + b"a" * (LIMIT + 10) + tail, headers=headers, timeout=10)
    assert sized.status_code == 413, sized.text[:300]  # with a Content-Length (and the journal still records it)
    under = requests.post(url, data=chunks(head, b"a" * 100, tail), headers=headers, timeout=10)
    assert under.status_code == 200, under.text[:300]
    assert requests.get(f"{live.admin}/state", timeout=10).json()["counts"]["job"] == 1
    journal = requests.get(f"{live.admin}/requests", timeout=10).json()["items"]
    assert [e["status"] for e in journal] == [200, 413, 413]


def test_security_chunked_json_over_20_mib_is_413_on_the_production_server(tmp_path: Any) -> None:
    """The same through granian (``ltx-mock serve``), with its default 20 MiB limit."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port),
                             "--paused"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/__admin/state", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        mib = b"a" * (1 << 20)
        r = requests.post(f"{base}/v1/ltxstudio/images/create", data=chunks(b'{"prompt": "', *[mib] * 21, b'"}'),
                          headers={"Authorization": "Bearer demo-token", "Content-Type": "application/json"},
                          timeout=60)
        assert r.status_code == 413, r.text[:300]
        assert r.json()["code"] == 413
    finally:
        proc.terminate()
        proc.wait(timeout=30)
