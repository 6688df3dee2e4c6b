"""Issue 28 on the Redis store: the request journal off the request path, and reads that never wait for a writer.

* Each process buffers its journal entries; a thread of its store writes them every few ms, and a reader asks
  every live process to write its buffer first (``store/redis/peers.py``). With the periodic write switched
  off (``DEFER_S`` of a minute) only that handshake can bring another process's entries: the first test fails
  without it (checked by making ``Peers.gather`` run only this process's work: 0 entries instead of 2).
* A process killed without saying goodbye is not waited for once its heartbeat is stale.
* A read (a GET, journal on) takes no lock: it answers while another process holds the store's exclusive lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis

from mock_server import SimConfig, create_app
from mock_server.sim.journal import Journal
from mock_server.store.memory import MemoryStore
from mock_server.store.redis import RedisStore, peers

TOKEN = "deferred-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _entry(path: str) -> dict[str, Any]:
    return {"method": "GET", "path": path, "status": 200, "body": None, "response": "", "headers": {}, "query": {},
            "time_ms": 1}


def test_a_journal_read_gathers_every_process_s_buffered_entries(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "DEFER_S", 60.0)  # no periodic write: only the handshake brings them
    a, b = RedisStore(url), RedisStore(url)
    try:
        writer, reader = Journal(a), Journal(b)
        assert writer.deferred and reader.deferred
        deadline = time.monotonic() + 10
        while a.wire.call("ZSCORE", a.keys.procs, a.peers.token) is None:  # a's thread has said it is there
            assert time.monotonic() < deadline
            time.sleep(0.01)
        writer.append(_entry("/one"))
        writer.append(_entry("/two"))
        assert a.count("request") == 0  # buffered in a's process, not in Redis
        assert reader.count() == 2
        assert [e["path"] for e in reader.page(0, 10)] == ["/two", "/one"]
    finally:
        a.close()
        b.close()


def test_the_journal_in_redis_keeps_and_trims_as_the_generic_one_does(url: str) -> None:
    """Redis keeps the journal apart (one script, not cached): the same appends give the same entries, ids and bytes
    as the generic methods over records and indexes (the memory store's); the caps hold; a clear keeps the ids."""
    redis_store, memory = RedisStore(url), MemoryStore()
    try:
        for store in (redis_store, memory):
            for i in range(12):
                entries = [{**_entry(f"/{i}-{k}"), "body": "x" * (i * 40)} for k in range(i % 3 + 1)]
                store.journal_append(entries, [100 + 40 * i] * len(entries), limit=9, max_bytes=2_000)
        assert redis_store.journal_page(0, None) == memory.journal_page(0, None)
        assert len(memory.journal_page(0, None)) <= 9 and memory.journal_bytes() <= 2_000
        assert redis_store.journal_bytes() == memory.journal_bytes()
        assert redis_store.journal_count() == memory.journal_count()
        assert redis_store.journal_page(2, 3) == memory.journal_page(2, 3)
        newest = memory.journal_page(0, 1)[0]
        assert redis_store.journal_get(str(newest["id"])) == newest and redis_store.journal_get("1") is None
        assert redis_store.count("request") == 0 and not redis_store.cache.indexes.get("journal")  # not mirrored
        for store in (redis_store, memory):
            store.journal_clear()
            store.journal_append([_entry("/after")], [10], limit=9, max_bytes=2_000)
        assert redis_store.journal_page(0, None) == memory.journal_page(0, None)
        assert memory.journal_page(0, None)[0]["id"] == newest["id"] + 1
    finally:
        redis_store.close()


class _Refusing(MemoryStore):
    """A store that defers the journal and refuses the first write (Redis unreachable for a moment)."""

    shared = True
    refusals = 1

    def defer(self, work: Any) -> bool:
        return True

    def journal_append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int,
                       max_bytes: int) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("down")
        super().journal_append(entries, sizes, limit=limit, max_bytes=max_bytes)


def test_a_buffered_batch_the_store_refused_is_written_by_the_next_flush() -> None:
    journal = Journal(_Refusing())
    journal.append(_entry("/first"))
    with pytest.raises(ConnectionError):
        journal.flush()
    journal.append(_entry("/second"))
    journal.flush()
    assert [e["path"] for e in journal.page(0, 10)] == ["/second", "/first"]


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
