"""The API's request path under concurrency: which locks a request takes, the journal ring, lock-free store reads.

On waitress, job creation fell from 752 req/s at one connection to 122 at sixteen (docs/performance.md): request
threads queued on the in-memory store's one lock, which every request took several times (index peeks, the
journal's append). These tests pin down what replaced that: reads and the journal take no store lock, a creation
takes it for its own rule block only, and the ring and the store stay exact under threads. In-process, < 1 s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mock_server import SimConfig, create_app
from mock_server.journal import Entry
from mock_server.sim.journal import Journal, RequestRing, entry_size
from mock_server.store.memory import MemoryStore

AUTH = {"Authorization": "Bearer demo-token"}
API = "/v1/ltxstudio"


class CountingLock:
    """The store's RLock, counting outermost acquisitions: each is a moment other threads must queue behind
    (a re-entrant acquisition by the holder costs nobody anything)."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.count = 0
        self.depth = threading.local()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        got = bool(self.lock.acquire(*args, **kwargs))
        depth = getattr(self.depth, "n", 0)
        if got and depth == 0:
            self.count += 1
        self.depth.n = depth + got
        return got

    def release(self) -> None:
        self.depth.n -= 1
        self.lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.fixture
def app_and_lock() -> Iterator[tuple[Any, CountingLock]]:
    app = create_app(SimConfig(background=False, speed=100000))
    store = app.extensions["ltx_sim"].ctx.store
    assert isinstance(store, MemoryStore)
    counting = CountingLock(store._lock)
    store._lock = counting  # type: ignore[assignment]
    yield app, counting


def test_reads_and_the_journal_take_no_store_lock(app_and_lock: tuple[Any, CountingLock]) -> None:
    app, lock = app_and_lock
    client = app.test_client()
    job = client.post(f"{API}/images/create", headers=AUTH, json={"prompt": "x"}).get_json()["jobId"]
    client.get(f"{API}/assets/{job}", headers=AUTH)  # settles the finished job (a write)
    lock.count = 0
    for path in ("/scheduler/available", f"/assets/{job}", "/scheduler", "/accounts"):
        assert client.get(API + path, headers=AUTH).status_code == 200
    assert lock.count == 0  # four journaled GETs: no store lock at all
    assert app.extensions["ltx_journal"].count() == 6


def test_a_creation_takes_the_store_lock_for_its_rule_blocks_only(app_and_lock: tuple[Any, CountingLock]) -> None:
    app, lock = app_and_lock
    client = app.test_client()
    client.post(f"{API}/images/create", headers=AUTH, json={"prompt": "x"})
    lock.count = 0
    resp = client.post(f"{API}/images/create", headers=AUTH, json={"prompt": "y"})
    assert resp.status_code == 200
    # settling the previous job's end and the creation: one block each (with the index peeks and the journal's
    # store writes it was 5); the journal takes none
    assert lock.count <= 2, lock.count
    app.extensions["ltx_journal"].append(_exchange(0))
    assert lock.count <= 2


def _exchange(i: int, body: bytes = b'{"prompt": "x"}') -> Entry:
    return Entry(sim_ms=i, method="POST", path=f"{API}/images/create", query_string="",
                 headers={"HTTP_AUTHORIZATION": "Bearer secret-token-123", "CONTENT_TYPE": "application/json"},
                 body=body, body_type="application/json", status=200, response=b'{"jobId": "j"}',
                 response_type="application/json", duration_ms=0.1, operation="createImage", tenant="t",
                 fault=None)


def test_ring_is_exact_under_threads() -> None:
    """8 threads append 1,000 entries each while a reader pages: ids unique and consecutive, caps exact."""
    ring = RequestRing(limit=3_000, max_bytes=10**9)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        for i in range(1_000):
            ring.append(_exchange(i))

    def reader() -> None:
        try:
            while not stop.is_set():
                page = ring.page(0, 50)
                ids = [e["id"] for e in page]
                assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []
    assert ring.count() == 3_000
    assert [e["id"] for e in ring.page(0, 3_000)] == list(range(8_000, 5_000, -1))
    assert ring.stored_bytes() == 3_000 * _exchange(0).size


def test_ring_masks_when_read_and_bounds_like_the_store_journal() -> None:
    """The ring and the shared-store journal show the same entries and ids for the same appends; bytes bound both."""
    ring, stored = RequestRing(limit=7, max_bytes=10**6), Journal(MemoryStore(), limit=7, max_bytes=10**6)
    for i in range(20):
        body = b'{"cookie": "lt_token=SECRET%d"}' % i + b" " * (i * 40)
        exchange = _exchange(i, body)  # one object: its time_ms is read from the clock once
        ring.append(exchange)
        stored.append(exchange)
    a, total_a = ring.query(limit=100)
    b, total_b = stored.query(limit=100)
    assert total_a == total_b and [e["id"] for e in a] == [e["id"] for e in b]
    assert a == b
    assert "SECRET" not in repr(a) and "secret-token" not in repr(a)  # masked on the way out
    small = RequestRing(limit=1_000, max_bytes=4_000)
    for i in range(20):
        small.append(_exchange(i, b" " * (i * 40)))
    assert 1 < small.count() < 20 and small.stored_bytes() <= 4_000
    assert ring.query(method="POST", contains="lt_token", limit=3)[1] == total_a
    assert ring.get(a[0]["id"]) == stored.get(a[0]["id"])
    assert ring.get(1) is None and ring.get("x") is None
    ring.clear()
    assert ring.count() == 0 and ring.stored_bytes() == 0
    ring.append({"method": "GET", "path": "/x", "status": 200, "time_ms": 1, "body": None, "response": None})
    assert ring.page(0, 1)[0]["id"] == 21  # ids keep counting after a clear
    assert ring.stored_bytes() == entry_size({"path": "/x", "body": None, "response": None})


def test_lock_free_index_reads_stay_within_bounds_while_writers_move_entries() -> None:
    store = MemoryStore()
    for i in range(200):
        store.index_add("due", f"m{i}", i)
    errors: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            with store.atomic():
                store.index_add("due", f"w{n}", n % 300)
                store.index_remove("due", f"w{n - 50}")
            n += 1

    def reader() -> None:
        for _ in range(1_500):
            for member, score in store.index_by_score("due", 100, 150, limit=20):
                if not 100 <= score <= 150:
                    errors.append(f"{member} {score}")
            store.index_range("due", 10, 30, reverse=True)
            store.index_count("due", 0, 50)

    w = threading.Thread(target=writer)
    w.start()
    try:
        readers = [threading.Thread(target=reader) for _ in range(2)]
        for t in readers:
            t.start()
        for t in readers:
            t.join()
    finally:
        stop.set()
        w.join()
    assert errors == []
