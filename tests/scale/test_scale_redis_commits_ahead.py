"""Issue 28: ``ltx-mock serve`` on Redis sends each write's commit ahead of its reply (``rsgi.py``: ``_writes``;
``RedisStore.request_end(behind=True)``): the write thread runs the next queued writes while a commit is on its way,
and answers it once its reply is in. What a client sees must not change:

Sixteen clients create jobs on one account at once, twelve through the served worker and four through another
simulator on the same Redis (whose writes make some of the worker's commits sent ahead be refused, and run again).
The clock is frozen, so every admitted job stays running: exactly ``maxJobs`` creates are admitted, the rest get the
documented 429; every admitted job answers 200 at once from the other process; the store holds exactly the jobs
admitted, each charged once (the balance is the start less their charges); no answer is a 5xx.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import redis
import requests
from helpers import free_port
from scale_helpers import Serve

from mock_server import SimConfig, create_app
from mock_server.server import ServerThread
from mock_server.sim.records import get_jobs

TOKEN = "ahead-writes-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/v1/ltxstudio"
EMAIL = "demo@example.com"
MAX_JOBS = 60
CREDITS = 1_000_000
CLIENTS = 16
CREATES = 12  # per client: 192 in all, for 60 places


def test_scale_writes_sent_ahead_admit_exactly_max_jobs_charge_once_and_are_seen_at_once(redis_url: str,
                                                                                          tmp_path: Path) -> None:
    store_url = f"{redis_url}?prefix=ltxaheadw-{uuid.uuid4().hex[:8]}:"
    main = Serve(free_port(), "--store", store_url, "--token", TOKEN, "--paused", log=tmp_path / "serve.log")
    other = None
    raw = redis.Redis.from_url(redis_url)
    try:
        main.wait_up()
        app = create_app(SimConfig(store_url=store_url, tokens=[TOKEN], background=False))
        other = ServerThread(app).start()
        for path, body in ((f"/__admin/accounts/{EMAIL}", {"token": TOKEN, "maxJobs": MAX_JOBS}),
                           (f"/__admin/ltx-users/{EMAIL}", {"credits": CREDITS})):
            resp = requests.patch(main.url + path, json=body, timeout=30)
            assert resp.status_code == 200, resp.text

        lock = threading.Lock()
        statuses: Counter[int] = Counter()
        acked: list[str] = []
        problems: list[str] = []

        def client(i: int) -> None:
            here, there = (main.url, other.url) if i % 4 else (other.url, main.url)
            with requests.Session() as session, requests.Session() as reader:
                for n in range(CREATES):
                    resp = session.post(f"{here}{API}/images/create", json={"prompt": f"ahead {i} {n}"},
                                        headers=AUTH, timeout=60)
                    with lock:
                        statuses[resp.status_code] += 1
                    if resp.status_code == 429:
                        continue
                    if resp.status_code != 200:
                        with lock:
                            problems.append(f"create: {resp.status_code} {resp.text[:300]}")
                        continue
                    job_id = resp.json()["jobId"]
                    seen = reader.get(f"{there}{API}/assets/{job_id}", headers=AUTH, timeout=60)
                    with lock:
                        acked.append(job_id)
                        if seen.status_code != 200 or seen.json()["jobId"] != job_id:
                            problems.append(f"{job_id} not seen at once: {seen.status_code} {seen.text[:200]}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not problems, problems[:5]
        assert statuses[200] == MAX_JOBS and statuses[429] == CLIENTS * CREATES - MAX_JOBS, statuses
        assert len(set(acked)) == len(acked) == MAX_JOBS

        store = app.extensions["ltx_sim"].store
        store.request_begin(write=False)
        try:
            jobs = get_jobs(store, store.index_range("jobs"))
            user = app.extensions["ltx_sim"].ltx.get_user(EMAIL)
        finally:
            store.request_end()
        assert sorted(j.jobId for j in jobs) == sorted(acked)  # none lost, none twice (a refused write ran again)
        charged = sum(j.credits for j in jobs)
        assert user is not None and charged > 0
        assert user.credits == CREDITS - charged
    finally:
        raw.close()
        if other is not None:
            other.stop()
        main.stop()
