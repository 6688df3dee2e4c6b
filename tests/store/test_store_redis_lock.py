"""What only the Redis store promises: its lock survives slow blocks, dies with its holder, and a
block is all-or-nothing (a killed process or a lost lock writes nothing); its key layout."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from mock_server.store.redis import LockLost, RedisStore

ROOT = Path(__file__).resolve().parents[2]




HOLDER = """
import sys, time
from mock_server.store.redis import RedisStore
store = RedisStore(sys.argv[1], lock_ttl_ms=600)
with store.atomic():
    store.put("job", "half-done", {"claimed": True})
    store.index_remove("due", "task")
    print("holding", flush=True)
    time.sleep(60)
"""


def test_redis_store_lock_of_a_killed_holder_expires_and_its_block_writes_nothing(url: str) -> None:
    store = RedisStore(url)
    store.index_add("due", "task", 1)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        time.sleep(0.5)  # longer than a third of its TTL: its watchdog has renewed the lock meanwhile
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        t0 = time.monotonic()
        with store.atomic():
            waited = time.monotonic() - t0
            assert store.get("job", "half-done") is None  # the dead block committed nothing
            assert store.index_score("due", "task") == 1.0  # its claim is still there for someone else
    finally:
        proc.kill()
        proc.stdout.close()
        store.close()
    assert 0.05 < waited < 3, f"waited {waited:.2f}s for a dead holder's lock (TTL 0.6s)"


def test_redis_store_a_block_that_lost_its_lock_writes_nothing(url: str, redis_url: str) -> None:
    store = RedisStore(url)
    raw = redis.Redis.from_url(redis_url)
    with pytest.raises(LockLost), store.atomic():
        store.put("job", "late", {})
        raw.set(store.prefix + "lock", "someone-else")  # as if our lock expired and another took it
    assert store.get("job", "late") is None
    raw.delete(store.prefix + "lock")
    with store.atomic():
        store.put("job", "next", {})
    assert store.get("job", "next") == {}
    raw.close()
    store.close()


def test_redis_store_watchdog_keeps_a_slow_block_exclusive(url: str) -> None:
    holder, rival = RedisStore(url, lock_ttl_ms=300), RedisStore(url, lock_ttl_ms=300)
    inside = threading.Event()
    times: dict[str, float] = {}

    def slow() -> None:
        with holder.atomic():
            inside.set()
            time.sleep(1.0)  # more than three TTLs
            holder.put("x", "slow", {})
            times["left"] = time.monotonic()

    def fast() -> None:
        inside.wait(5)
        with rival.atomic():
            times["entered"] = time.monotonic()

    threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert times["entered"] >= times["left"]
    assert rival.get("x", "slow") == {}
    holder.close()
    rival.close()


def test_redis_store_writes_outside_atomic_wait_for_the_holder(url: str) -> None:
    a, b = RedisStore(url), RedisStore(url)
    inside = threading.Event()
    order: list[str] = []

    def hold() -> None:
        with a.atomic():
            inside.set()
            time.sleep(0.3)
            order.append("block done")

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    b.put_meta("outcomes", [])
    order.append("plain write")
    t.join(5)
    assert order == ["block done", "plain write"]
    a.close()
    b.close()


def test_redis_store_key_layout_and_prefix_isolation(url: str, redis_url: str) -> None:
    """The layout docs/redis.md describes; clear() touches only its own prefix."""
    store = RedisStore(url)
    neighbour = RedisStore(redis_url, prefix=store.prefix.rstrip(":") + "-other:")
    store.put("job", "j1", {"a": 1})
    store.index_add("jobs", "j1", 5)
    store.blob_put("u1", b"png")
    store.put_meta("clock", {"paused": True})
    neighbour.put("job", "j1", {"mine": True})
    raw = redis.Redis.from_url(redis_url)
    p = store.prefix
    assert raw.type(p + "r:job") == b"hash" and raw.hget(p + "r:job", "j1") == b'{"a":1}'
    assert raw.type(p + "i:jobs") == b"zset" and raw.zscore(p + "i:jobs", "j1") == 5.0
    assert raw.get(p + "b:u1") == b"png"
    assert raw.hget(p + "meta", "clock") == b'{"paused":true}'
    assert raw.get(p + "lock") is None  # no lock left behind by one-write blocks
    store.clear()
    # what remains: the lock's wake token (1 s), each commit's retry marker (done:<transaction>, 10 s) and the
    # change log with its version (a clear is a change every other process's cache must see)
    left = {k.decode() for k in raw.scan_iter(match=p + "*")}
    assert {k for k in left if not k.startswith(p + "done:")} <= {p + "lock:wake", p + "ver", p + "log"}
    assert all(0 < raw.pttl(k) <= 10_000 for k in left if k.startswith(p + "done:"))
    assert raw.get(p + "ver") is not None
    assert neighbour.get("job", "j1") == {"mine": True}
    neighbour.clear()
    raw.close()
    store.close()
    neighbour.close()


def test_redis_store_rejects_nan_scores_before_commit(url: str) -> None:
    store = RedisStore(url)
    with pytest.raises(ValueError):
        store.index_add("ix", "a", float("nan"))
    store.index_add("ix", "b", 1)
    assert store.index_range("ix") == ["b"]
    store.close()


def test_redis_store_lock_scripts_are_safe_to_retry(url: str) -> None:
    """A reply lost on the wire makes the client send a script again: taking the lock and
    committing must then answer as the first attempt did, not fail or apply twice."""
    from mock_server.store.base import Conflict
    from mock_server.store.redis.lock import sync
    from mock_server.store.redis.transaction import COMMIT_SCRIPT, Locked, Txn, commit

    store = RedisStore(url)
    lock, wire, keys = store.lock, store.wire, store.keys
    first = lock.acquire("tok", -1)
    assert first[0] == 0 and first[1] is None  # taken; the (empty) state from scratch: version 0
    assert lock.acquire("tok", 0) == 0  # the retry: still ours, and nothing changed (the version alone)
    assert sync(wire, keys, 0, [], "other", 5000) == [-1]  # someone else's
    txn = Txn(0, "tok")
    txn.ops = [["HS", "job", "j", '{"n":1}'], ["ZA", "jobs", "1", "j"]]
    assert commit(wire, keys, txn, mine=0, ttl_ms=5000)[0] == 1
    assert commit(wire, keys, txn, mine=0, ttl_ms=5000)[0] == 1  # sent again: recognised, not applied twice
    assert store.get("job", "j") == {"n": 1} and store.index_range("jobs") == ["j"]
    assert wire.call("GET", keys.version) == b"1"  # one change, not two
    with pytest.raises(LockLost):
        commit(wire, keys, Txn(1, "never-held"), mine=1, ttl_ms=5000)
    # an optimistic transaction: refused while an exclusive block holds the store, then checked and applied
    blocked = Txn(1)
    blocked.read(("h", "job", "j", '{"n":1}'))
    blocked.ops = [["HS", "job", "k", '{"n":2}']]
    lock.acquire("tok2", 1)
    with pytest.raises(Locked):
        commit(wire, keys, blocked, mine=1)
    lock.release("tok2")
    assert commit(wire, keys, blocked, mine=1) == (2, [])  # nothing between: its own ops the caller has
    assert commit(wire, keys, blocked, mine=1)[0] == 2  # again: the same answer, one change
    stale = Txn(1)  # read j as it was before a change it never saw
    stale.read(("h", "job", "j", '{"n":0}'))
    stale.ops = [["HS", "job", "z", "{}"]]
    with pytest.raises(Conflict):
        commit(wire, keys, stale, mine=1)
    assert store.get("job", "z") is None and wire.call("GET", keys.version) == b"2"
    assert COMMIT_SCRIPT.sha
    store.close()
