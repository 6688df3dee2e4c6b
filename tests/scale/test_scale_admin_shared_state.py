"""The control API acts on the shared state: what one process is told, every process does.

Two granian workers (``ltx-mock serve --workers 2 --store redis://...``) plus an independent
simulator in this process on the same Redis: pausing or advancing the clock, fault rules
(counted once across processes), the request journal, upload and artifact bytes, and a reset,
each seen identically by all of them. Every request opens a new connection, so the workers'
requests are spread. The journal: each process keeps its entries until a read asks for them
(nothing in Redis before), which lists them in the order they were answered (alternately by a
worker and this process), and workers stopped with SIGTERM write theirs before they end.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import redis
import requests
from helpers import free_port
from scale_helpers import Serve

from mock_server import SimConfig, create_app
from mock_server.server import ServerThread

TOKEN = "shared-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_scale_admin_clock_faults_journal_and_reset_act_on_every_process(redis_url: str, tmp_path: Path) -> None:
    store_url = f"{redis_url}?prefix=ltxadmin-{uuid.uuid4().hex[:8]}:"
    main = Serve(free_port(), "--workers", "2", "--store", store_url, "--token", TOKEN, log=tmp_path / "serve.log")
    other = None
    raw = redis.Redis.from_url(redis_url)
    try:
        main.wait_up()
        other = ServerThread(create_app(SimConfig(store_url=store_url, tokens=[TOKEN], background=False))).start()
        urls = [main.url, other.url] * 10
        prefix = store_url.split("prefix=", 1)[1]

        def journal_keys() -> int:
            """Journal entries in Redis (listed or staged), read directly."""
            return sum(int(raw.exists(f"{prefix}j:{part}")) for part in "eipq")

        def admin(url: str, method: str, path: str, body: Any = None) -> Any:
            resp = requests.request(method, f"{url}/__admin{path}", json=body, timeout=30)
            assert resp.status_code in (200, 204), resp.text
            return resp.json() if resp.content else None

        # The clock: paused by one process, paused (at the same instant) for all; advanced likewise.
        now = admin(main.url, "POST", "/clock", {"paused": True})["now"]
        assert {(c["paused"], c["now"]) for c in (admin(u, "GET", "/clock") for u in urls)} == {(True, now)}
        admin(other.url, "POST", "/clock", {"advance": 10})
        assert {admin(u, "GET", "/clock")["now"] for u in urls} == {now + 10_000}

        # A fault rule for the next 4 matching requests fires 4 times in all, wherever they land.
        admin(main.url, "DELETE", "/requests")
        admin(main.url, "POST", "/faults", {"method": "GET", "path": "/v1/ltxstudio/scheduler/available",
                                           "status": 503, "count": 4})
        codes = [requests.get(f"{u}/v1/ltxstudio/scheduler/available", headers={**AUTH, "X-Seq": str(i)},
                              timeout=30).status_code for i, u in enumerate(urls)]
        assert sorted(codes) == [200] * 16 + [503] * 4
        assert admin(other.url, "GET", "/faults") == []  # used up

        # One journal: the 20 requests above, whichever process answered them (alternately a worker and this
        # process). None of them is in Redis before a read asks for them (each process keeps its own); then they
        # are listed in the order they were answered and numbered in that order; an entry's id stays.
        assert journal_keys() == 0
        assert admin(other.url, "GET", "/requests/count")["count"] == 20
        assert admin(main.url, "GET", "/requests/count", None) == {"count": 20}
        listed = admin(main.url, "GET", "/requests?limit=20")["items"]
        assert [e["headers"]["X-Seq"] for e in listed] == [str(i) for i in reversed(range(20))]
        assert [e["id"] for e in listed] == sorted((e["id"] for e in listed), reverse=True)
        assert admin(other.url, "GET", "/requests?limit=20")["items"] == listed
        assert admin(main.url, "GET", f"/dashboard/requests/{listed[5]['id']}")["headers"]["X-Seq"] == "14"

        # A stub for the next 3 matching requests answers 3 times in all, and every process sees it go.
        admin(other.url, "POST", "/stubs", {"match": {"operationId": "getSchedulerAvailable"}, "times": 3,
                                           "answer": {"status": 200, "body": {"stubbed": True}}})
        answers = [requests.get(f"{u}/v1/ltxstudio/scheduler/available", headers=AUTH, timeout=30).json()
                   for u in urls[:8]]
        assert sum(a == {"stubbed": True} for a in answers) == 3
        assert admin(main.url, "GET", "/stubs") == [] and admin(other.url, "GET", "/stubs") == []

        # Bytes: an upload made through one process, and a finished job's artifact, are served by all.
        png = bytes.fromhex("89504e470d0a1a0a") + uuid.uuid4().bytes * 64
        up = requests.post(f"{main.url}/v1/ltxstudio/assets/", data=png, timeout=30,
                           headers={**AUTH, "Content-Type": "image/png"})
        assert up.status_code == 200, up.text
        job = requests.post(f"{other.url}/v1/ltxstudio/images/create", json={"prompt": "bytes"}, headers=AUTH,
                            timeout=30).json()["jobId"]
        admin(main.url, "POST", "/clock", {"advance": 120})
        status = requests.get(f"{main.url}/v1/ltxstudio/assets/{job}", headers=AUTH, timeout=30).json()["status"]
        assert status["type"] == "completed", status
        for signed, want in ((up.json()["assetUrl"], png), (status["artifact"]["assetUrl"], None)):
            path = "/storage/" + signed.split("/storage/", 1)[1]
            got = {requests.get(u + path, timeout=30).content for u in urls[:6]}
            assert len(got) == 1 and (want is None or got == {want}), "processes disagree on an asset's bytes"
            assert got.pop().startswith(bytes.fromhex("89504e47"))
        admin(main.url, "DELETE", "/requests")

        # A reset through one process resets the state every process serves.
        admin(other.url, "POST", "/ltx-users", {"email": "gone@example.com"})
        assert "gone@example.com" in {u["email"] for u in admin(main.url, "GET", "/ltx-users")}
        admin(main.url, "POST", "/reset")
        for u in urls[:4]:
            assert "gone@example.com" not in {x["email"] for x in admin(u, "GET", "/ltx-users")}
            assert admin(u, "GET", "/clock")["paused"] is False
            assert admin(u, "GET", "/requests/count")["count"] == 0

        # The workers stopped with SIGTERM write what they kept before they end: their requests are still listed.
        for i in range(6):
            requests.get(f"{main.url}/v1/ltxstudio/scheduler/available", headers={**AUTH, "X-Seq": f"last-{i}"},
                         timeout=30)
        assert journal_keys() == 0
        main.stop()
        assert [e["headers"]["X-Seq"] for e in admin(other.url, "GET", "/requests")["items"]] == [
            f"last-{i}" for i in reversed(range(6))]
    finally:
        if other is not None:
            other.stop()
        main.stop()
        raw.close()
