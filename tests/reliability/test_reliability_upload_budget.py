"""Uploaded bytes are bounded (issue 26): a total budget (``--upload-budget``, default 512 MiB), a documented 507
past it, and a reset gives the memory back.

Before: no cap; 20 x 10 MB uploads added 230-325 MB to the server's RSS and ``POST /__admin/reset`` gave back
about 30 MB (glibc kept the freed blocks in its heap; on granian a finished request's body stayed referenced).
"""

from __future__ import annotations

import os
import time

import requests
from werkzeug.test import Client

from benchmarks import simulator
from mock_server.app import create_app
from mock_server.config import SimConfig

API = "/v1/ltxstudio"
HEADERS = {"Authorization": "Bearer demo-token", "Content-Type": "image/png"}
PNG = b"\x89PNG\r\n\x1a\n"


def test_an_upload_past_the_budget_is_507_in_the_contract_and_stores_nothing() -> None:
    app = create_app(SimConfig(upload_budget_bytes=2500, strict_responses=True, background=False))
    sim = app.extensions["ltx_sim"]
    client = Client(app)
    assert client.post(f"{API}/assets/?type=image", data=PNG + b"x" * 992, headers=HEADERS).status_code == 200
    assert client.post(f"{API}/assets/?type=image", data=PNG + b"x" * 992, headers=HEADERS).status_code == 200
    before = sim.counts()["asset"]
    refused = client.post(f"{API}/assets/?type=image", data=PNG + b"x" * 992, headers=HEADERS)
    assert refused.status_code == 507  # strict mode: a status outside openapi.yaml would be a 500 here
    assert refused.json == {"code": 507, "error": "Upload budget spent: 2000 bytes of uploads are stored, this upload "
                                                  "of 1000 bytes would pass the 2500-byte budget (--upload-budget); "
                                                  "POST /__admin/reset frees it"}
    assert sim.counts()["asset"] == before and sim.assets.stored_bytes() == 2000
    small = client.post(f"{API}/assets/?type=image", data=PNG + b"x" * 492, headers=HEADERS)
    assert small.status_code == 200  # what fits still fits: exactly the budget
    assert client.post("/__admin/reset", json={}).status_code == 200
    assert sim.assets.stored_bytes() == 0
    assert client.post(f"{API}/assets/?type=image", data=PNG + b"x" * 992, headers=HEADERS).status_code == 200


def test_a_reset_gives_the_uploads_memory_back_on_the_production_server() -> None:
    """12 x 4 MiB against a 40 MiB budget on ``ltx-mock serve``: 10 stored, 2 refused (507); RSS grows by about
    what is stored, and a reset gives it back (within 12 MiB of where it started)."""
    size = 4 * 1024 * 1024
    blob = PNG + os.urandom(size - len(PNG))
    with simulator("--upload-budget", "40", name="budget") as srv:
        time.sleep(0.3)
        start = srv.rss_mb()
        codes = [requests.post(f"{srv.url}{API}/assets/?type=image", data=blob, headers=HEADERS, timeout=60)
                 .status_code for _ in range(12)]
        full = srv.rss_mb()
        assert requests.post(f"{srv.url}/__admin/reset", json={}, timeout=30).status_code == 200
        time.sleep(0.3)
        after = srv.rss_mb()
    assert codes == [200] * 10 + [507] * 2
    assert 38 <= full - start < 60, (start, full)  # the 40 MiB stored, not copies of every body received
    assert after - start < 12, (start, full, after)
