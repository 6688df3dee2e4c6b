"""Four worker processes on one Redis, hammered by 32 threads, one worker SIGKILLed mid-run.

``ltx-mock serve --workers 4 --store redis://...`` runs in a subprocess (granian pre-fork);
32 client threads create, poll, cancel and re-post accounts (maxJobs 2) for a few seconds of
real time while the clock runs at x30 (and again at x300). Then every rule is checked against the shared state:

* no ``GET /scheduler/available`` ever showed ``executing`` above ``maxJobs``, and the jobs'
  own start/end/cancel times never overlap more than ``maxJobs`` deep per account;
* credits balance exactly: start - every charge + every failed job's refund, per user;
* every acknowledged job is in the store, has a unique id, and answers 200 from another
  simulator (a second, independent one on the same Redis) and from the workers;
* every webhook due is delivered, none twice (bar the one unavoidable case: a copy sent by
  the killed worker just before it died, before it could record it), none for a cancelled job;
* no 5xx, and the killed worker is replaced.
"""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Receiver, free_port
from scale_helpers import Serve, deepest

from mock_server.sim.records import get_jobs
from mock_server.store.redis import RedisStore

TOKEN = "scale-token"
MAX_JOBS = 2
USERS = 3
CREDITS = 100_000
PROBE = "lag-probe"  # a POST the test sends the receiver at the kill, to measure how late it records one
# How much later than the probe the receiver may record the killed worker's last POST: it shares this process's GIL
# with the 32 load threads, and at x300 beside a CPU burner it recorded one 96 ms after the kill, its probe 14 ms.
LATE_S = 1.0
THREADS = 32
LOAD_S = 7.0
# Simulated time at x30, and at x300: ten times the jobs ending, settling and webhooks per second, each slot a tenth
# as long in real time. At x300 (before the fixes) 4 runs in 6 delivered a webhook twice with no process killed and 1
# overlapped three jobs of a maxJobs 2 account; at x30 the overlap was seen once in CI.
SPEEDS = (30.0, 300.0)
FAILING = 12  # queued failed outcomes: their credits must come back exactly once


class Load:
    """What the client threads saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.transport_errors: Counter[str] = Counter()
        self.over_capacity: list[str] = []
        self.invisible: list[str] = []
        self.observations = 0

    def status(self, resp: requests.Response, what: str) -> None:
        with self.lock:
            self.statuses[resp.status_code] += 1
            if resp.status_code >= 500:
                self.server_errors.append(f"{what}: {resp.status_code} {resp.text[:300]}")


def _client(i: int, url: str, emails: list[str], cookies: dict[str, str], hook: str, load: Load,
            deadline: float) -> None:
    rng = random.Random(i)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    base = f"{url}/v1/ltxstudio"
    while time.monotonic() < deadline:
        roll = rng.random()
        try:
            if roll < 0.45:
                email = rng.choice([*emails, None])
                body: dict[str, Any] = {"prompt": f"scale {i}", "replyUrl": hook, "replyRef": f"t{i}"}
                if email:
                    body["email"] = email
                resp = session.post(f"{base}/images/create", json=body, timeout=60)
                load.status(resp, "create")
                if resp.status_code == 200:
                    with load.lock:
                        load.acked.append(resp.json()["jobId"])
                elif resp.status_code != 429:
                    with load.lock:
                        load.server_errors.append(f"create: {resp.status_code} {resp.text[:300]}")
            elif roll < 0.65 and load.acked:
                job_id = rng.choice(load.acked[-50:])
                resp = session.get(f"{base}/assets/{job_id}", timeout=60)
                load.status(resp, "poll")
                if resp.status_code != 200:
                    with load.lock:
                        load.invisible.append(f"{job_id}: {resp.status_code} {resp.text[:200]}")
            elif roll < 0.75 and load.acked:
                resp = session.delete(f"{base}/scheduler/{rng.choice(load.acked[-20:])}", timeout=60)
                load.status(resp, "cancel")
            elif roll < 0.85:
                email = rng.choice(emails)
                resp = session.post(f"{base}/accounts", json={"cookie": cookies[email], "maxJobs": MAX_JOBS},
                                    timeout=60)
                load.status(resp, "account")
                if resp.status_code != 200:
                    with load.lock:
                        load.server_errors.append(f"account: {resp.status_code} {resp.text[:300]}")
            else:
                resp = session.get(f"{base}/scheduler/available", timeout=60)
                load.status(resp, "available")
                if resp.status_code == 200:
                    with load.lock:
                        load.observations += 1
                        for entry in resp.json()["available"]:
                            if entry["executing"] > MAX_JOBS or entry["maxJobs"] != MAX_JOBS:
                                load.over_capacity.append(repr(entry))
        except requests.RequestException as exc:  # the killed worker's connections
            with load.lock:
                load.transport_errors[type(exc).__name__] += 1
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {TOKEN}"


@pytest.mark.slow
@pytest.mark.parametrize("speed", SPEEDS)
def test_scale_four_workers_on_redis_keep_every_rule_under_load_and_a_sigkill(redis_url: str, tmp_path: Path,
                                                                             speed: float) -> None:
    store_url = f"{redis_url}?prefix=ltxscale-{uuid.uuid4().hex[:8]}:&lock_ttl_ms=1500"
    port = free_port()
    # The lease above the 5 s delivery timeout, as --help and docs/redis.md ask: at 2 s, a receiver slowed to 2.6 s
    # (a CPU-starved run) let another worker take a delivery still in flight, and it arrived twice.
    main = Serve(port, "--workers", "4", "--store", store_url, "--token", TOKEN, "--empty", "--seed", "7",
                 "--speed", str(speed), "--webhook-lease", "6", "--threads", "8", log=tmp_path / "serve.log")
    receiver = Receiver()
    other = None
    store = RedisStore(store_url)
    try:
        main.wait_up()
        # A second, independent simulator on the same Redis: every job must be visible there too.
        from mock_server import SimConfig, create_app
        from mock_server.server import ServerThread

        other = ServerThread(create_app(SimConfig(store_url=store_url, tokens=[TOKEN], demo=False,
                                                  background=False))).start()
        admin = f"{main.url}/__admin"
        emails, cookies = [], {}
        for n in range(USERS):
            user = requests.post(f"{admin}/ltx-users", json={"email": f"scale{n}@example.com", "credits": CREDITS},
                                 timeout=30).json()
            emails.append(user["email"])
            cookies[user["email"]] = user["cookie"]
            resp = requests.post(f"{main.url}/v1/ltxstudio/accounts", json={"cookie": user["cookie"],
                                 "maxJobs": MAX_JOBS}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            assert resp.status_code == 200, resp.text
        resp = requests.post(f"{admin}/next-outcome", json={"outcome": "failed", "progress": 50, "count": FAILING},
                             timeout=30)
        assert resp.status_code == 200, resp.text
        workers_before = main.worker_pids()
        assert len(workers_before) == 4

        load = Load()
        t0 = time.monotonic()
        deadline = t0 + LOAD_S
        threads = [threading.Thread(target=_client, args=(i, main.url, emails, cookies, receiver.url, load,
                                                          deadline)) for i in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(LOAD_S * 0.45)
        victim = random.Random(1).choice(workers_before)
        kill_time = time.time()
        import os

        os.kill(victim, signal.SIGKILL)
        # How late this receiver (sharing the test process, and its GIL, with the load threads) records a POST
        # sent now: the killed worker's last POST, sent before the kill, may be recorded as late as that.
        sent = time.time()
        requests.post(receiver.url, json={"jobId": PROBE}, timeout=30)
        receiver_lag = max(c["time"] for c in receiver.calls if (c["body"] or {}).get("jobId") == PROBE) - sent
        for t in threads:
            t.join(120)
        load_s = time.monotonic() - t0

        # Let every job end (simulated time), then wait (real time) for the webhooks.
        assert requests.post(f"{admin}/clock", json={"advance": 300}, timeout=30).status_code == 200
        ids = store.index_range("jobs")
        jobs = {j.jobId: j.to_dict() for j in get_jobs(store, ids)}  # the public records
        due = {jid for jid, j in jobs.items() if j.get("replyUrl") and not j.get("cancelled_ms")}
        wait_until = time.monotonic() + 20
        while time.monotonic() < wait_until:
            if due <= set(receiver.by_job()) and store.index_count("deliveries:due") == 0:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # a late duplicate would land now

        # -- the client's view ------------------------------------------------------------
        acked = list(load.acked)
        assert not load.server_errors, load.server_errors[:5]
        assert not load.over_capacity, load.over_capacity[:5]
        assert not load.invisible, load.invisible[:5]
        assert load.statuses[200] > 100 and load.statuses[429] > 0 and load.observations > 10, load.statuses
        assert len(set(acked)) == len(acked), "two admissions got the same jobId"

        # -- the shared state ---------------------------------------------------------------
        assert set(acked) <= set(jobs), "an acknowledged job is missing from the store"
        lost_answers = len(jobs) - len(acked)  # admitted, but the answer died with the killed worker
        assert 0 <= lost_answers <= sum(load.transport_errors.values())
        for email in emails:
            mine = [j for j in jobs.values() if j["email"] == email]
            spent = sum(j["credits"] for j in mine if j["outcome"] != "failed")
            user = requests.get(f"{admin}/ltx-users/{email}", timeout=30).json()
            assert user["credits"] == CREDITS - spent, f"{email}: credits {user['credits']} != {CREDITS - spent}"
            spans = {j["jobId"]: (j["start_ms"], min(j["end_ms"], j.get("cancelled_ms") or j["end_ms"])) for j in mine}
            over = deepest(list(spans.values()))
            assert len(over) <= MAX_JOBS, f"{email}: {len(over)} jobs overlapped in time: " + ", ".join(
                f"{jid} {span} ({jobs[jid]['outcome']})" for jid, span in spans.items() if span in over)
        assert sum(1 for j in jobs.values() if j["outcome"] == "failed") == FAILING
        accounts = requests.get(f"{other.url}/v1/ltxstudio/accounts", timeout=30,
                                headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert sorted(accounts) == sorted(emails)  # create-or-update never duplicated an account

        # -- every acknowledged job, from the other simulator and from the workers ----------
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        for url in (other.url, main.url):
            for job_id in acked:
                resp = session.get(f"{url}/v1/ltxstudio/assets/{job_id}", timeout=30)
                assert resp.status_code == 200, f"{url}: {job_id}: {resp.status_code} {resp.text[:200]}"
                assert resp.json()["status"]["type"] in ("completed", "failed")

        # -- webhooks: each due one delivered once; none for cancelled jobs ------------------
        got = receiver.by_job()
        got.pop(PROBE)
        assert due <= set(got), f"{len(due - set(got))} webhooks never delivered"
        assert set(got) <= due, "a webhook for a cancelled (or unknown) job"
        deliveries = {d["jobId"]: d for d in store.get_many("delivery", sorted(due)) if d}
        for job_id, times in got.items():
            if len(times) == 1:
                continue
            # At-least-once across a crash: the killed worker POSTed, then died before recording
            # it, and the lease let another worker deliver again. Nothing else may duplicate: two live
            # deliveries would record two attempts (as the worker's unleased claims did, fixed).
            ok_attempts = [a for a in deliveries[job_id]["attempts"] if a["ok"]]
            assert len(times) == 2 and min(times) <= kill_time + receiver_lag + LATE_S and len(ok_attempts) == 1, (
                f"{job_id} delivered {len(times)} times: {times}, kill at {kill_time} (receiver lag "
                f"{receiver_lag:.3f} s), record {deliveries[job_id]}")

        # -- the killed worker was replaced and the server is still whole --------------------
        assert main.proc.poll() is None
        workers_after = main.worker_pids()
        assert victim not in workers_after and len(workers_after) == 4
        print(f"\nscale: {len(acked)} jobs acked in {load_s:.1f}s, {sum(load.statuses.values())} answers "
              f"{dict(load.statuses)}, {load.observations} observations, {lost_answers} answers lost to SIGKILL, "
              f"transport errors {dict(load.transport_errors)}, {len(due)} webhooks")
    finally:
        if other is not None:
            other.stop()
        main.stop()
        receiver.stop()
        store.clear()
        store.close()
