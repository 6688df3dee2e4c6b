"""Issue 28 on the Redis store: the request journal off the request path, and reads that never wait for a writer.

* Each process keeps its journal entries, raw and bounded as the in-memory ring is, and writes them only when
  someone reads the journal (every live process is asked first: ``store/redis/peers.py``) or when it stops:
  nothing reaches Redis on a timer (checked by the journal's keys in Redis after the other process's thread has
  beaten several times; the store before this change wrote them within 50 ms, and the test fails on it). Only the
  handshake brings another process's entries (0 of 2 when ``Peers.gather`` runs only this process's work).
* The journal keeps entries in the order they were answered, whenever they arrive: numbered in that order when a
  read first sees them, trimmed oldest-answered first (ordered by arrival, as before, the late batch is listed
  first and the newest are trimmed: the test fails).
* A clear or a reset drops every process's entries answered before it, also ones written later.
* A process killed without saying goodbye is not waited for once its heartbeat is stale.
* A read (a GET, journal on) takes no lock: it answers while another process holds the store's exclusive lock.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from mock_server import SimConfig, create_app
from mock_server.sim import journal as sim_journal
from mock_server.sim.journal import Journal, RequestRing
from mock_server.store.memory import MemoryStore
from mock_server.store.redis import RedisStore, peers

TOKEN = "deferred-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _entry(path: str, time_ms: int = 1) -> dict[str, Any]:
    return {"method": "GET", "path": path, "status": 200, "body": None, "response": "", "headers": {}, "query": {},
            "time_ms": time_ms}


class _Answered:
    """What the HTTP layer appends (``journal.Entry``'s protocol): answered at ``time_us``."""

    def __init__(self, path: str, time_us: int, size: int = 300) -> None:
        self.path, self.time_us, self.size = path, time_us, size

    def masked(self) -> dict[str, Any]:
        return {**_entry(self.path, self.time_us // 1000), "body": "x" * (self.size - 300)}


def _journal_keys(store: RedisStore) -> dict[str, int]:
    """How many entries Redis holds in the journal and its staging area, read directly."""
    raw = store.wire
    return {part: int(raw.call("HLEN" if part in "eq" else "ZCARD", store.keys.journal(part))) for part in "eipq"}


def _heartbeats(store: RedisStore, n: int) -> None:
    """Until ``store``'s thread has beaten ``n`` more times (each beat is one turn of its loop)."""
    deadline = time.monotonic() + 10
    last = store.wire.call("ZSCORE", store.keys.procs, store.peers.token)
    while n:
        assert time.monotonic() < deadline, "the store's thread does not beat"
        time.sleep(0.01)
        now = store.wire.call("ZSCORE", store.keys.procs, store.peers.token)
        if now is not None and now != last:
            last, n = now, n - 1


def test_a_journal_read_gathers_every_process_s_entries_and_nothing_reaches_redis_before(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "HEARTBEAT_S", 0.02)  # the thread turns often: it must still write nothing
    a, b = RedisStore(url), RedisStore(url)
    try:
        writer, reader = Journal(a), Journal(b)
        assert writer.deferred and reader.deferred
        writer.append(_entry("/one"))
        writer.append(_entry("/two"))
        _heartbeats(a, 3)
        assert _journal_keys(a) == {"e": 0, "i": 0, "p": 0, "q": 0}  # kept in a's process, not in Redis
        assert writer.unwritten() == 2
        assert reader.count() == 2  # b asked a (its thread) to write them
        assert writer.unwritten() == 0
        assert [e["path"] for e in reader.page(0, 10)] == ["/two", "/one"]
    finally:
        a.close()
        b.close()


def test_the_journal_keeps_the_answer_order_whenever_entries_arrive(url: str) -> None:
    """A batch answered earlier that arrives after a read (a process that wrote late) is listed below the entries
    answered after it, keeps the ids a read gave the others, takes the next ones, and is trimmed first."""
    store = RedisStore(url)
    try:
        t = time.time_ns() // 1000
        journal = Journal(store, limit=6)
        for k in (20, 40, 60):  # this process: answered at t+20, t+40, t+60 µs, written when read
            journal.append(_Answered(f"/a{k}", t + k))
        other = [_Answered(f"/b{k}", t + k) for k in (10, 30, 50)]  # another process, answered in between
        store.journal_append([e.masked() for e in other], [e.size for e in other], limit=6, max_bytes=10**6,
                             times_us=[e.time_us for e in other])
        listed = journal.page(0, 10)
        assert [e["path"] for e in listed] == ["/a60", "/b50", "/a40", "/b30", "/a20", "/b10"]
        assert [e["id"] for e in listed] == [6, 5, 4, 3, 2, 1]  # numbered in answer order when first read
        journal.append(_Answered("/a70", t + 70))
        late = [_Answered(f"/c{k}", t + k) for k in (15, 35, 55)]  # answered in between too, but arriving now
        store.journal_append([e.masked() for e in late], [e.size for e in late], limit=6, max_bytes=10**6,
                             times_us=[e.time_us for e in late])
        listed = journal.page(0, 10)
        assert [e["path"] for e in listed] == ["/a70", "/a60", "/c55", "/b50", "/a40", "/c35"]  # the oldest went
        assert [e["id"] for e in listed] == [10, 6, 9, 5, 4, 8]  # the ids given stay; the late ones take the next
        assert journal.count() == 6 and journal.get(4) == {**listed[4], "id": 4}
        assert [e["path"] for e in journal.query(since=6)[0]] == ["/a70", "/c55", "/c35"]  # new to a reader at 6
    finally:
        store.close()


def test_a_backlog_larger_than_a_script_s_batch_is_kept_and_numbered_in_answer_order(url: str) -> None:
    """1,300 entries arriving in no particular order, written and merged a batch (500) per script: the newest 1,000
    answered are kept, numbered 1..1,000 in answer order; the byte counts add up."""
    store = RedisStore(url)
    try:
        t = time.time_ns() // 1000
        order = list(range(1300))
        random.Random(28).shuffle(order)
        entries = [_Answered(f"/{k}", t + k, size=300 + k % 5) for k in order]
        store.journal_append([e.masked() for e in entries], [e.size for e in entries], limit=1000, max_bytes=10**7,
                             times_us=[e.time_us for e in entries])
        listed = store.journal_page(0, None)
        assert [e["path"] for e in listed] == [f"/{k}" for k in range(1299, 299, -1)]
        assert [e["id"] for e in listed] == list(range(1000, 0, -1))
        assert store.journal_bytes() == sum(300 + k % 5 for k in range(300, 1300))
        assert int(store.wire.call("HGET", store.keys.journal("s"), "pbytes")) == 0
    finally:
        store.close()


def test_the_journal_in_redis_keeps_and_trims_as_the_generic_one_does(url: str) -> None:
    """Redis keeps the journal apart (scripts, not cached): the same appends, each read once written, give the same
    entries, ids and bytes as the generic methods over records and indexes (the memory store's); the caps hold; a
    clear keeps the ids. Appends nobody read in between give the same entries and bytes, numbered when read (an
    entry trimmed before any read took no id)."""
    redis_store, memory, unread = RedisStore(url), MemoryStore(), RedisStore(url + "u:")  # a prefix under url's
    try:
        for i in range(12):
            entries = [{**_entry(f"/{i}-{k}"), "body": "x" * (i * 40)} for k in range(i % 3 + 1)]
            for store in (redis_store, memory, unread):
                store.journal_append(entries, [100 + 40 * i] * len(entries), limit=9, max_bytes=2_000)
            redis_store.journal_count()  # read: numbered now, as the generic methods number on arrival
        assert redis_store.journal_page(0, None) == memory.journal_page(0, None)
        assert len(memory.journal_page(0, None)) <= 9 and memory.journal_bytes() <= 2_000
        assert redis_store.journal_bytes() == memory.journal_bytes() == unread.journal_bytes()
        assert redis_store.journal_count() == memory.journal_count()
        assert redis_store.journal_page(2, 3) == memory.journal_page(2, 3)
        assert ([{**e, "id": 0} for e in unread.journal_page(0, None)]
                == [{**e, "id": 0} for e in memory.journal_page(0, None)])
        assert [e["id"] for e in unread.journal_page(0, None)] == [3, 2, 1]
        newest = memory.journal_page(0, 1)[0]
        assert redis_store.journal_get(str(newest["id"])) == newest and redis_store.journal_get("1") is None
        assert redis_store.count("request") == 0 and not redis_store.cache.indexes.get("journal")  # not mirrored
        for store in (redis_store, memory):
            store.journal_clear()
            store.journal_append([_entry("/after")], [10], limit=9, max_bytes=2_000,
                                 times_us=[time.time_ns() // 1000])  # answered after the clear
        assert redis_store.journal_page(0, None) == memory.journal_page(0, None)
        assert memory.journal_page(0, None)[0]["id"] == newest["id"] + 1
    finally:
        redis_store.close()
        unread.close()


class _Refusing(MemoryStore):
    """A store that defers the journal (its work runs when read) and refuses the first write (Redis unreachable for
    a moment)."""

    shared = True
    refusals = 1

    def defer(self, work: Any) -> bool:
        self.work = work
        return True

    def gather(self) -> None:
        self.work()

    def journal_append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int,
                       max_bytes: int, times_us: list[int] | None = None) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("down")
        super().journal_append(entries, sizes, limit=limit, max_bytes=max_bytes, times_us=times_us)


def test_a_buffered_batch_the_store_refused_is_written_by_the_next_flush() -> None:
    journal = Journal(_Refusing())
    journal.append(_entry("/first"))
    with pytest.raises(ConnectionError):
        journal.flush()
    journal.append(_entry("/second"))
    journal.flush()
    assert [e["path"] for e in journal.page(0, 10)] == ["/second", "/first"]


def test_a_flush_refused_half_way_writes_the_rest_later_and_nothing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_journal, "WRITE_BATCH", 2)
    store = _Refusing()
    store.refusals = 0
    journal = Journal(store)
    for k in range(5):
        journal.append(_entry(f"/{k}"))
    writes, refused = store.journal_append, []

    def second_refused(entries: list[dict[str, Any]], sizes: list[int], **kwargs: Any) -> None:
        if entries[0]["path"] == "/2" and not refused:  # the second part, the first time
            refused.append(True)
            raise ConnectionError("down")
        writes(entries, sizes, **kwargs)

    monkeypatch.setattr(store, "journal_append", second_refused)
    with pytest.raises(ConnectionError):
        journal.flush()
    assert journal.unwritten() == 3  # /2, /3, /4 kept; /0, /1 written
    assert [e["path"] for e in journal.page(0, 10)] == ["/4", "/3", "/2", "/1", "/0"]


def test_what_a_process_keeps_unwritten_is_bounded_as_the_in_memory_ring() -> None:
    """The newest ``limit`` entries within ``max_bytes``, the oldest dropped first, the newest always kept: what
    the in-memory journal keeps of the same appends."""
    for limit, max_bytes in ((5, 10**6), (50, 2_000), (50, 100)):
        store = _Refusing()
        store.refusals = 0
        ring, journal = RequestRing(limit, max_bytes), Journal(store, limit, max_bytes)
        t = time.time_ns() // 1000
        for k in range(40):
            entry = _Answered(f"/{k}", t + k, size=300 + 37 * (k % 7))
            ring.append(entry)
            journal.append(entry)
        assert journal.unwritten() == ring.count() <= limit
        assert [e["path"] for e in journal.page(0, 100)] == [e["path"] for e in ring.page(0, 100)]


def test_a_clear_or_a_reset_drops_what_other_processes_answered_before_it(redis_url: str) -> None:
    """Entries another process kept (unwritten) from before a ``DELETE /__admin/requests`` or a reset (``POST
    /__admin/reset``, which clears the journal too, or ``POST /__admin/scenario``, which only resets) do not come
    back when that process writes them at the next read; entries answered after do."""
    url = f"{redis_url}?prefix=ltxcut-{uuid.uuid4().hex[:8]}:"
    a, b = (create_app(SimConfig(store_url=url, tokens=[TOKEN], background=False)) for _ in range(2))
    ca, cb = a.test_client(), b.test_client()
    try:
        def count() -> int:
            return int(cb.get("/__admin/requests/count").get_json()["count"])

        assert ca.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200  # kept by a
        assert cb.delete("/__admin/requests").status_code == 204
        assert count() == 0  # a wrote it when asked; the clear had cut it off
        assert ca.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200
        assert count() == 1
        for reset in ({"path": "/__admin/reset"}, {"path": "/__admin/scenario", "json": {}}):  # a reset's own cut
            assert ca.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200
            assert cb.post(**reset).status_code == 200
            assert count() == 0
            assert ca.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200
            assert [e["id"] for e in cb.get("/__admin/requests").get_json()["items"]] == [1]  # ids from 1 again
    finally:
        for app in (a, b):
            sim = app.extensions["ltx_sim"]
            if app is a:
                sim.store.clear()
            sim.close()


def test_a_process_not_heard_from_is_not_waited_for(url: str) -> None:
    store = RedisStore(url)
    try:
        Journal(store)
        stale = int(time.time() * 1000) - peers.STALE_MS - 1000  # a killed process's last heartbeat
        store.wire.call("ZADD", store.keys.procs, stale, "gone")
        t0 = time.monotonic()
        store.gather()
        assert time.monotonic() - t0 < peers.GATHER_TIMEOUT_S / 2
    finally:
        store.close()


def test_a_reader_waits_for_a_process_that_started_writing_not_for_a_silent_one(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that said it started is waited for until it is done, past ``GATHER_TIMEOUT_S`` (writing a whole
    journal takes ~1 s on a busy machine); one listed as alive that never answers (frozen) only that long."""
    monkeypatch.setattr(peers, "GATHER_TIMEOUT_S", 0.05)
    monkeypatch.setattr(peers, "HEARTBEAT_S", 0.02)
    a, b = RedisStore(url), RedisStore(url)
    try:
        writer, reader = Journal(a), Journal(b)
        flush = writer.flush

        def slow_flush() -> None:
            time.sleep(0.2)  # longer than GATHER_TIMEOUT_S
            flush()

        a.peers.works[:] = [slow_flush]
        _heartbeats(a, 1)
        writer.append(_entry("/slow"))
        assert reader.count() == 1
        a.peers.works[:] = []
        b.wire.call("ZADD", b.keys.procs, int(time.time() * 1000), "frozen")  # alive, by its heartbeat; silent
        t0 = time.monotonic()
        assert reader.count() == 1
        assert time.monotonic() - t0 < 1
    finally:
        a.close()
        b.close()


def test_a_read_answers_while_another_process_holds_the_write_lock(redis_url: str) -> None:
    url = f"{redis_url}?prefix=ltxdeferred-{uuid.uuid4().hex[:8]}:"
    app = create_app(SimConfig(store_url=url, tokens=[TOKEN], background=False))
    client = app.test_client()
    assert client.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200
    other = RedisStore(url)  # another process, in the middle of a write
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with other.atomic():
            other.put_meta("held", True)
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        assert redis.Redis.from_url(redis_url).get(other.keys.lock) is not None  # the store's lock is taken
        for _ in range(5):
            t0 = time.monotonic()
            assert client.get("/v1/ltxstudio/scheduler/available", headers=AUTH).status_code == 200
            assert time.monotonic() - t0 < 0.5
    finally:
        release.set()
        thread.join(10)
        other.close()
        store = app.extensions["ltx_sim"].store
        store.clear()
        store.close()
