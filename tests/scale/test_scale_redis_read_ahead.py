"""Issue 28: reads served by ``ltx-mock serve`` on Redis are caught up by each worker's event loop
(``mock_server/store/redis/ahead.py``), and still see every write acknowledged before they were sent.

Two granian workers and an independent simulator in this process share one Redis. Every job created through the
simulator in this process is seen at once (a new connection, either worker) in the running count and as a record,
then by many concurrent readers; after time passes (advanced through that simulator) every worker says each job
has ended. Without the loop's catch-up (a read told it is current without one) the count is the old one.
Each worker's loop has its connection (``CLIENT LIST``: named ``ltx-mock-ahead``), and it is the one sending the
read catch-ups (its last command is the catch-up script).
"""

from __future__ import annotations

import concurrent.futures
import signal
import time
import uuid
from pathlib import Path

import redis
import requests
from helpers import free_port
from scale_helpers import Serve

from mock_server import SimConfig, create_app
from mock_server.server import ServerThread

TOKEN = "ahead-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/v1/ltxstudio"


def _get(url: str) -> requests.Response:
    with requests.Session() as s:  # a new connection each time: granian hands it to either worker
        return s.get(url, headers=AUTH, timeout=30)


def test_scale_reads_on_every_worker_see_each_write_acknowledged_before_them(redis_url: str, tmp_path: Path) -> None:
    store_url = f"{redis_url}?prefix=ltxahead-{uuid.uuid4().hex[:8]}:"
    main = Serve(free_port(), "--workers", "2", "--store", store_url, "--token", TOKEN, "--threads", "4",
                 log=tmp_path / "serve.log")
    other = None
    raw = redis.Redis.from_url(redis_url)
    try:
        main.wait_up()
        other = ServerThread(create_app(SimConfig(store_url=store_url, tokens=[TOKEN], background=False))).start()
        created: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for n in range(16):  # the demo account's maxJobs is 20
                # Written by the other process (the workers' own commits would bring their caches up to date).
                resp = requests.post(f"{other.url}{API}/images/create", json={"prompt": f"ahead {n}"}, headers=AUTH,
                                     timeout=30)
                assert resp.status_code == 200, resp.text
                job_id = resp.json()["jobId"]
                created.append(job_id)
                # Sent after the create was acknowledged: the running job is counted (an index the workers hold).
                now = _get(f"{main.url}{API}/scheduler/available")
                assert now.status_code == 200 and now.json()["available"][0]["executing"] == n + 1, now.text
                first = _get(f"{main.url}{API}/assets/{job_id}")
                assert first.status_code == 200, first.text
                assert first.json()["jobId"] == job_id and first.json()["status"]["type"] == "active"
                answers = list(pool.map(_get, [f"{main.url}{API}/assets/{job_id}"] * 8))
                assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
            listing = list(pool.map(_get, [f"{main.url}{API}/scheduler/available"] * 16))
            assert {r.status_code for r in listing} == {200}
            assert {r.json()["available"][0]["executing"] for r in listing} == {16}, [r.text for r in listing][:2]
            # Time passes (through the other simulator): every job has ended, and every worker says so at once.
            # (Records every worker holds already: a record it lacks would be fetched, catching its cache up.)
            assert requests.post(f"{other.url}/__admin/clock", json={"advance": 600}, timeout=30).status_code == 200
            after = list(pool.map(_get, [f"{main.url}{API}/scheduler/available"] * 16))
            assert {r.json()["available"][0]["executing"] for r in after} == {0}, [r.text for r in after][:2]
            states = list(pool.map(_get, [f"{main.url}{API}/assets/{j}" for j in created * 4]))
        assert {r.status_code for r in states} == {200}
        assert {r.json()["status"]["type"] for r in states} <= {"completed", "failed"}, [r.text for r in states][:2]

        ahead = [c for c in raw.client_list() if c.get("name") == "ltx-mock-ahead"]
        assert len(ahead) == 2, raw.client_list()  # one per worker (the in-process simulator has no event loop)
        assert {c["cmd"] for c in ahead} <= {"evalsha", "eval"}, ahead
    finally:
        raw.close()
        if other is not None:
            other.stop()
        main.stop()


def test_scale_liveness_answers_at_once_while_redis_is_frozen(tmp_path: Path) -> None:
    """A frozen Redis (SIGSTOP) holds the API's reads for the loop's catch-up (up to 2 s, then their threads'
    own), but never ``/__admin/health/live``: a liveness probe (1 s timeouts are common) would restart the server.
    The reads that wait are answered once Redis runs again."""
    from redis_server import RedisServer

    with RedisServer() as server:
        main = Serve(free_port(), "--store", f"{server.url}?prefix=ltxlive-{uuid.uuid4().hex[:8]}:", "--token", TOKEN,
                     log=tmp_path / "serve.log")
        try:
            main.wait_up()
            for _ in range(5):  # the worker's read-ahead connection is up
                assert _get(f"{main.url}{API}/scheduler/available").status_code == 200
            assert server.proc is not None
            pool = concurrent.futures.ThreadPoolExecutor(1)
            server.proc.send_signal(signal.SIGSTOP)
            try:
                held = pool.submit(_get, f"{main.url}{API}/scheduler/available")
                t0 = time.monotonic()
                live = requests.get(f"{main.url}/__admin/health/live", timeout=10)
                took = time.monotonic() - t0
                assert live.status_code == 200 and live.json()["live"] is True
                assert took < 1.0, took
                assert not held.done()
            finally:
                server.proc.send_signal(signal.SIGCONT)
                pool.shutdown(wait=False)
            assert held.result(timeout=60).status_code == 200
        finally:
            main.stop()
