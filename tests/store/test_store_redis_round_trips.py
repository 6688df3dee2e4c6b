"""Redis round trips per API request, counted on the wire, not by the store's own tally.

Issue 17: at most 2. Issue 28: no request takes a lock. A read (any GET, the journal included: its entries are
kept per process and written only when the journal is read) catches up in one round trip; a write sends its transaction
in one (its reads are checked there, so it need not catch up first); a read that finds work due (a job that ended)
catches up, then sends the transaction that settles it: 2. A record or index
the process never read costs one more, once (the cache keeps it).

Every command, script call or pipeline the store sends is one ``sendall`` on its socket (``wire.py`` packs each
whole; redis-py sends a command in one call too, or in more for a large one: counted more, never fewer); the
counter wraps ``socket.socket.sendall``, so a store that talked to Redis by any route, its own socket or
redis-py's, would be counted too. Flask's test client on a Redis-backed simulator:
in-process, milliseconds per request. The old store (before the mirror) made 13 per GET and 23 per
POST (docs/redis.md shows this test failing on it).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mock_server import SimConfig, create_app
from mock_server.store.redis import wire as wire_module

TOKEN = "rt-token"
API = "/v1/ltxstudio"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITE = 1  # its transaction (its reads checked there, nothing to catch up first)
READ = 1  # catch up
SETTLING_READ = 2  # catch up; the job the POST before made has ended: its transaction


class WireCounter:
    """Counts what the request's thread sends to Redis, by wrapping every way a link sends (``Link.send``, and
    ``socket.socket.sendall`` for what goes around it): the store's own thread, which writes the journal when a
    read asks, is not the request's; Flask's test client serves in the calling thread and opens no socket."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        request_thread = threading.current_thread()
        inside = threading.local()

        def counting(original: Any) -> Any:
            def counted(target: Any, data: Any, *args: Any) -> Any:
                outer = not getattr(inside, "on", False)
                if outer and threading.current_thread() is request_thread:
                    self.sent += 1
                inside.on = True
                try:
                    return original(target, data, *args)
                finally:
                    inside.on = not outer

            return counted

        for cls in {wire_module.Link, wire_module.HiredisLink, wire_module.PyLink}:
            if "send" in vars(cls):
                monkeypatch.setattr(cls, "send", counting(vars(cls)["send"]))
        monkeypatch.setattr(socket.socket, "sendall", counting(socket.socket.sendall))


@pytest.fixture
def app_and_wire(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, WireCounter]]:
    url = f"{redis_url}?prefix=ltxrt-{uuid.uuid4().hex[:8]}:"
    app = create_app(SimConfig(store_url=url, tokens=[TOKEN], background=False, speed=100000))
    client = app.test_client()
    assert client.patch("/__admin/ltx-users/demo@example.com", json={"credits": 10**9}).status_code == 200
    yield app, WireCounter(monkeypatch)
    store = app.extensions["ltx_sim"].store
    store.clear()
    store.close()


def _trips(wire: WireCounter, call: Any) -> int:
    before = wire.sent
    resp = call()
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return wire.sent - before


def test_redis_round_trips_per_api_request(app_and_wire: tuple[Any, WireCounter]) -> None:
    app, wire = app_and_wire
    client = app.test_client()
    body = {"prompt": "A serene mountain landscape at sunset"}
    job_id = client.post(f"{API}/images/create", json=body, headers=AUTH).get_json()["jobId"]
    trips = {"POST /images/create": [], "GET /scheduler/available": [], "GET /assets/{jobId}": []}
    for _ in range(5):  # jobs end within a millisecond at this speed: the finish work is part of each request
        trips["POST /images/create"].append(_trips(wire, lambda: client.post(f"{API}/images/create", json=body,
                                                                           headers=AUTH)))
        trips["GET /scheduler/available"].append(_trips(wire, lambda: client.get(f"{API}/scheduler/available",
                                                                                headers=AUTH)))
        trips["GET /assets/{jobId}"].append(_trips(wire, lambda: client.get(f"{API}/assets/{job_id}",
                                                                           headers=AUTH)))
    assert trips["POST /images/create"] == [WRITE] * 5, trips
    # each POST's job ends (at this speed) before one of the two GETs after it, which settles it; the other reads
    pairs = zip(trips["GET /scheduler/available"], trips["GET /assets/{jobId}"], strict=True)
    assert all(sorted(pair) == [READ, SETTLING_READ] for pair in pairs), trips


@pytest.mark.parametrize("journal", [True, False])
def test_redis_round_trips_of_a_read_only_request_is_one(app_and_wire: tuple[Any, WireCounter], journal: bool) -> None:
    """A GET with nothing due writes nothing, journal on or off: it catches up, in one round trip, once the process
    has read the records it needs (the first GET fetches them; the store before issue 28 took the lock for every
    request while the journal was on: 2)."""
    app, wire = app_and_wire
    app.extensions["ltx_sim"].config.journal = journal
    client = app.test_client()
    assert _trips(wire, lambda: client.get(f"{API}/scheduler/available", headers=AUTH)) <= 3  # the first: misses
    assert _trips(wire, lambda: client.get(f"{API}/scheduler/available", headers=AUTH)) == 1


def test_a_conflicting_request_runs_again_and_answers_once(app_and_wire: tuple[Any, WireCounter],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process changes the LTX user a create has read, between its read and its commit: Redis refuses the
    commit (Conflict) and the pipeline runs the request again on fresh data. One job, one charge on top of the
    other process's change, one journal entry, a 200 (not a 503 or 500)."""
    from mock_server.sim import Simulator

    app, _ = app_and_wire
    sim = app.extensions["ltx_sim"]
    client = app.test_client()
    other = create_app(SimConfig(store_url=sim.config.store_url, tokens=[TOKEN], background=False))
    other_client = other.test_client()
    before = client.get("/__admin/ltx-users/demo@example.com").get_json()["credits"]
    client.delete("/__admin/requests")
    real_end = Simulator.end_request
    interfered: list[bool] = []

    def end_request(self: Simulator) -> None:
        if self is sim and not interfered:
            interfered.append(True)  # once: the second attempt commits
            assert other_client.patch("/__admin/ltx-users/demo@example.com",
                                      json={"credits": before + 1000}).status_code == 200
        real_end(self)

    monkeypatch.setattr(Simulator, "end_request", end_request)
    events: list[tuple[str, int]] = []
    sim.ctx.listeners.append(lambda event, amount: events.append((event, amount)))
    conflicts = sim.store.stats["conflicts"]
    resp = client.post(f"{API}/images/create", json={"prompt": "a lighthouse"}, headers=AUTH)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert sim.store.stats["conflicts"] == conflicts + 1  # refused once, then sent again
    job_id = resp.get_json()["jobId"]
    monkeypatch.undo()
    jobs = client.get("/__admin/jobs?limit=100").get_json()
    ids = [j["jobId"] for j in jobs["items"]] if isinstance(jobs, dict) else [j["jobId"] for j in jobs]
    assert ids.count(job_id) == 1 and len(ids) == len(set(ids))
    after = client.get("/__admin/ltx-users/demo@example.com").get_json()["credits"]
    charged = before + 1000 - after
    assert 0 < charged < 1000  # charged once, on top of the other process's change (not lost, not twice)
    assert [e for e in events if e[0] == "credits.charged"] == [("credits.charged", charged)]  # the metrics: once
    entries = client.get("/__admin/requests").get_json()
    posts = [e for e in (entries["items"] if isinstance(entries, dict) else entries)
             if e.get("method") == "POST" and "images/create" in e.get("path", "")]
    assert len(posts) == 1 and posts[0]["status"] == 200
    other.extensions["ltx_sim"].store.close()


def test_a_request_refused_again_and_again_runs_last_with_the_store_s_lock(app_and_wire: tuple[Any, WireCounter],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight conflicts in a row (another process changes the user every time): the ninth attempt takes the store's
    exclusive lock, cannot conflict, and answers 200; the job is there once and charged once."""
    from mock_server.pipeline import CONFLICT_RETRIES
    from mock_server.sim import Simulator

    app, _ = app_and_wire
    sim = app.extensions["ltx_sim"]
    client = app.test_client()
    other = create_app(SimConfig(store_url=sim.config.store_url, tokens=[TOKEN], background=False))
    other_client = other.test_client()
    real_end = Simulator.end_request
    rounds: list[int] = []

    def end_request(self: Simulator) -> None:
        open_txn = getattr(sim.store._state(), "scope", None) == "txn"  # not the pipeline's clean-up call after one
        if self is sim and open_txn and len(rounds) < CONFLICT_RETRIES:
            rounds.append(len(rounds))
            assert other_client.patch("/__admin/ltx-users/demo@example.com",
                                      json={"credits": 10**9 + len(rounds)}).status_code == 200
        real_end(self)

    monkeypatch.setattr(Simulator, "end_request", end_request)
    conflicts, exclusive = sim.store.stats["conflicts"], sim.store.stats["exclusive"]
    resp = client.post(f"{API}/images/create", json={"prompt": "a lighthouse"}, headers=AUTH)
    monkeypatch.undo()
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert sim.store.stats["conflicts"] == conflicts + CONFLICT_RETRIES
    assert sim.store.stats["exclusive"] == exclusive + 1
    credits = client.get("/__admin/ltx-users/demo@example.com").get_json()["credits"]
    assert 10**9 + CONFLICT_RETRIES - 1000 < credits < 10**9 + CONFLICT_RETRIES  # the last change, charged once
    assert client.get(f"{API}/assets/{resp.get_json()['jobId']}", headers=AUTH).status_code == 200
    other.extensions["ltx_sim"].store.close()


def test_a_poll_for_result_request_sends_its_job_before_it_waits(app_and_wire: tuple[Any, WireCounter]) -> None:
    """pollForResult on Redis: the job is committed before the wait (another process sees it running while the
    request waits), and the request answers the finished job; nothing is created twice."""
    app, _ = app_and_wire
    sim = app.extensions["ltx_sim"]
    client = app.test_client()
    assert client.post("/__admin/clock", json={"speed": 20}).status_code == 200  # a job: ~0.2-1 s of real time
    seen: list[int] = []
    other_app = create_app(SimConfig(store_url=sim.config.store_url, tokens=[TOKEN], background=False))
    other = other_app.test_client()

    def watch() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not seen:
            running = other.get(f"{API}/scheduler", headers=AUTH).get_json()
            if running:
                seen.append(len(running))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    resp = client.post(f"{API}/images/create", json={"prompt": "a lighthouse", "pollForResult": 20}, headers=AUTH)
    watcher.join(10)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["code"] == 200 and resp.get_json()["status"]["type"] == "completed"
    assert seen == [1]  # seen running by another process while the request waited
    jobs = client.get("/__admin/jobs?limit=100").get_json()
    assert len(jobs["items"] if isinstance(jobs, dict) else jobs) == 1
    other_app.extensions["ltx_sim"].store.close()


def test_jobs_expiring_one_per_request_are_read_ahead_not_fetched_one_by_one(redis_url: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A load that outlasts retention: each request finds one job past it. The cache (``MAX_RECORDS``) dropped the
    oldest jobs' records long before: read as each expires, every expiry costs two fetches more (its job, then its
    artifact's asset). Read ahead (``Simulator._read_ahead``, ``Store.warm``): the first expiry fetches the due
    jobs and the next ones in line, and their assets, two round trips for all; those it already held move to the
    cache's newest end, so the trims the fetched ones cause do not drop them before they expire."""
    from mock_server import sim as sim_module
    from mock_server.store.redis import cache

    monkeypatch.setattr(cache, "MAX_RECORDS", 60)  # 40 jobs and their assets do not fit: the oldest are dropped
    monkeypatch.setattr(sim_module, "EXPIRY_READ_AHEAD", 8)  # ... 9 and theirs do (256 of 20,000 when served)
    url = f"{redis_url}?prefix=ltxra-{uuid.uuid4().hex[:8]}:"
    app = create_app(SimConfig(store_url=url, tokens=[TOKEN], background=False, paused=True))
    sim = app.extensions["ltx_sim"]
    client = app.test_client()
    try:
        assert client.patch("/__admin/ltx-users/demo@example.com", json={"credits": 10**9}).status_code == 200
        step_s, n = 600, 40
        jobs = []
        for _ in range(n):  # one every 10 simulated minutes, each done long before the next
            resp = client.post(f"{API}/images/create", json={"prompt": "a lighthouse"}, headers=AUTH)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            jobs.append(resp.get_json()["jobId"])
            assert client.post("/__admin/clock", json={"advance": step_s}).status_code == 200
        assert len(sim.store.cache.records["job"]) < n  # the oldest were dropped
        retention = sim.config.job_retention_s
        assert client.post("/__admin/clock", json={"advance": retention - n * step_s - 1}).status_code == 200
        fetches = sim.store.stats["fetches"]
        for i in range(n):
            assert client.post("/__admin/clock", json={"advance": step_s}).status_code == 200  # job i expires
            assert client.get(f"{API}/assets/{jobs[i]}", headers=AUTH).status_code == 404
            assert client.get("/__admin/state").get_json()["counts"]["job"] == n - i - 1  # one at a time
        # 2 per read-ahead (9 jobs, then their assets: 5 of them for 40 jobs) and none else; one by one: 2 per job
        assert sim.store.stats["fetches"] - fetches <= 10, sim.store.stats["fetches"] - fetches
    finally:
        sim.store.clear()
        sim.store.close()
