"""The Redis store without a lock or a mirror (issue 28): a bounded cache caught up from the change log, and
transactions whose reads are checked at commit, so they conflict only on what they read."""

from __future__ import annotations

import functools
import math
import os
import random
import select
import signal
import threading
import uuid
from typing import Any

import pytest
import redis
from test_store_contract import Model, _random_call

from mock_server.store.redis import Conflict, RedisStore, cache, transaction


def test_redis_cache_catches_up_and_keeps_only_what_it_read(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.put("job", "j0", {"n": 0})
    assert b.get("job", "j0") == {"n": 0}  # b's first read fetches it
    fetches = b.stats["fetches"]
    a.put("job", "j0", {"n": 10})
    a.put("job", "j1", {"n": 1})
    b.request_begin(write=False)  # a read catches up first (a writing method's reads are checked at its end)
    assert b.get("job", "j0") == {"n": 10} and b.stats["fetches"] == fetches  # updated from the log, no fetch
    assert "j1" not in b.cache.records["job"]  # written by another process, never read here: not kept
    b.request_end()
    assert b.get("job", "j1") == {"n": 1} and b.stats["fetches"] == fetches + 1
    monkeypatch.setattr(cache, "CATCH_UP_MAX", 2)
    drops = b.stats["drops"]
    for i in range(2, 6):
        a.put("job", f"j{i}", {"n": i})
    a.delete("job", "j0")
    assert b.get("job", "j0") is None and b.get("job", "j5") == {"n": 5}
    assert b.stats["drops"] == drops + 1  # five entries behind (more than 2): dropped, read again on demand
    assert sorted(k for _, k, _ in b.dump()) == ["j1", "j2", "j3", "j4", "j5"]
    a.close()
    b.close()


def test_redis_cache_is_bounded_by_what_it_holds(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records past MAX_RECORDS and indexes past HEAD_MAX members are not all kept: memory follows what a process
    reads, not the size of the state (another process's 100k jobs are not in this one)."""
    monkeypatch.setattr(cache, "MAX_RECORDS", 10)
    monkeypatch.setattr(cache, "HEAD_MAX", 4)
    a, b = RedisStore(url), RedisStore(url)
    with a.atomic():
        for i in range(30):
            a.put("job", f"j{i:02}", {"n": i})
            a.index_add("jobs", f"j{i:02}", i)
    assert [b.get("job", f"j{i:02}")["n"] for i in range(30)] == list(range(30))
    assert b.cache.size <= 10
    assert b.index_by_score("jobs", max_score=2) == [("j00", 0.0), ("j01", 1.0), ("j02", 2.0)]  # from the head
    head = b.cache.indexes["jobs"]
    assert not head.whole and len(head.order) == 4 and head.boundary == 4.0
    assert b.index_by_score("jobs", min_score=27) == [("j27", 27.0), ("j28", 28.0), ("j29", 29.0)]  # past it
    assert b.index_range("jobs", 0, 2, reverse=True) == ["j29", "j28"]
    assert b.index_count("jobs") == 30 and b.index_score("jobs", "j20") == 20.0
    a.index_add("jobs", "early", -1)  # below the boundary: the head takes it from the log
    a.index_add("jobs", "late", 99)  # past it: ignored
    assert b.index_range("jobs", 0, 2) == ["early", "j00"]
    assert "late" not in b.cache.indexes["jobs"].scores
    with a.atomic():
        for i in range(4):
            a.index_remove("jobs", f"j{i:02}")
        a.index_remove("jobs", "early")
    assert b.index_by_score("jobs", limit=1) == [("j04", 4.0)]  # the head ran dry: read again
    a.index_add("grows", "g0", 0)
    assert b.index_range("grows") == ["g0"] and b.cache.indexes["grows"].whole  # small: held whole
    with a.atomic():
        for i in range(1, 12):
            a.index_add("grows", f"g{i:02}", i)
    assert b.index_count("grows") == 12  # caught up from the log: the head stays a head, not the whole index
    head = b.cache.indexes["grows"]
    assert not head.whole and len(head.order) <= 4 and b.index_range("grows", 10, 5) == ["g10", "g11"]
    monkeypatch.setattr(cache, "CATCH_UP_BYTES", 100)  # a bulk load's log is not read entry by entry: dropped
    drops = b.stats["drops"]
    with a.atomic():
        for i in range(40):
            a.put("bulk", str(i), {"pad": "x" * 20})
    assert b.get("bulk", "39") == {"pad": "x" * 20} and b.stats["drops"] == drops + 1
    a.close()
    b.close()


def _run_in_transactions(store: RedisStore, other: RedisStore, model: Model, rng: random.Random, n: int) -> None:
    step = 0
    while step < n:
        store.request_begin()
        for _ in range(rng.randint(1, 15)):
            step += 1
            op, args, kwargs = _random_call(rng)
            got = getattr(store, op)(*args, **kwargs)
            want = getattr(model, op)(*args, **kwargs)
            if op == "dump":
                got = sorted(x for x in got if x[0] != "elsewhere")  # the other handle's kind
            assert got == want, f"step {step}: {op}{args}{kwargs}: store {got!r} != model {want!r}"
            if op == "clear":
                break  # a clear ends the transaction: the other handle's writes below must not be undone
        other.put("elsewhere", str(step), {"step": step})  # moves the version: the commit must check its reads
        store.request_end()  # no Conflict: nothing this transaction read was changed


def test_redis_warm_fetches_what_the_cache_lacks_at_once_and_keeps_what_it_held(url: str, tmp_path: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``warm`` (the jobs about to expire): what the cache lacks in one round trip, and none of it a read the caller's
    transaction checks (a hint); what it held moves to its newest end, so the next trim drops other records first.
    Memory and SQLite hold everything: nothing to warm (None)."""
    monkeypatch.setattr(cache, "MAX_RECORDS", 10)
    a, b = RedisStore(url), RedisStore(url)
    with a.atomic():
        for i in range(12):
            a.put("job", f"j{i:02}", {"n": i})
    assert [b.get("job", f"j{i:02}")["n"] for i in range(6)] == list(range(6))  # held: j00 first (oldest)
    fetches = b.stats["fetches"]
    warmed = b.warm("job", ["j00", "j01", "j06", "j07", "nope"])
    assert warmed == [{"n": 0}, {"n": 1}, {"n": 6}, {"n": 7}, None]
    assert b.stats["fetches"] == fetches + 1  # j06, j07 and the missing one: one round trip
    assert b.warm("job", ["j00", "j01"]) == [{"n": 0}, {"n": 1}] and b.stats["fetches"] == fetches + 1
    for i in range(8, 12):  # past MAX_RECORDS: the oldest half goes (j02-j05, read before j00 and j01 were warmed)
        b.get("job", f"j{i:02}")
    held = b.cache.records["job"]
    assert "j00" in held and "j01" in held and "j02" not in held, list(held)
    b.request_begin()  # warmed values are a hint: another process changing one is no conflict
    b.warm("job", ["j03"])
    a.put("job", "j03", {"n": -3})
    b.put("job", "mine", {"n": 99})
    b.request_end()
    assert a.get("job", "mine") == {"n": 99}
    a.close()
    b.close()
    from mock_server.store.memory import MemoryStore
    from mock_server.store.sqlite import SQLiteStore

    assert MemoryStore().warm("job", ["j00"]) is None
    local = SQLiteStore(tmp_path / "state.db")
    assert local.warm("job", ["j00"]) is None
    local.close()


@pytest.mark.parametrize("head_max", [1024, 3])
def test_redis_transactions_agree_with_the_reference_model(url: str, monkeypatch: pytest.MonkeyPatch,
                                                           head_max: int) -> None:
    """The contract's 1,500 random calls inside request transactions (reads from the cache, writes in the overlay,
    read back, sent at the end and checked against a version another handle keeps moving), with whole index heads
    and with heads of 3 members (reads past the boundary go to Redis)."""
    monkeypatch.setattr(cache, "HEAD_MAX", head_max)
    store, other = RedisStore(url), RedisStore(url)
    model = Model()
    _run_in_transactions(store, other, model, random.Random(20261206), 1500)
    assert sorted(x for x in store.dump() if x[0] != "elsewhere") == model.dump()
    fresh = RedisStore(url)
    for index in ("i1", "i2"):
        assert fresh.index_by_score(index) == model.index_by_score(index)
    store.close()
    other.close()
    fresh.close()


def test_redis_transactions_agree_with_the_reference_model_on_a_cluster(redis_cluster_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on the local 3-node Redis Cluster: the commit script's checks, the catch-ups and the fetches name
    keys of one hash tag (one slot), served by whichever node holds it."""
    monkeypatch.setattr(cache, "HEAD_MAX", 3)
    url = f"{redis_cluster_url}?prefix={{ltxtxn-{uuid.uuid4().hex[:8]}}}:"
    store, other = RedisStore(url), RedisStore(url)
    model = Model()
    _run_in_transactions(store, other, model, random.Random(7), 400)
    assert sorted(x for x in store.dump() if x[0] != "elsewhere") == model.dump()
    store.clear()
    store.close()
    other.close()


def _attempt(a: RedisStore, read: Any, write: Any) -> bool:
    """``read`` in a's transaction, then ``write`` by another store (committed), then a writes and commits: whether
    the commit went through (a refused one wrote nothing)."""
    a.request_begin()
    read()
    write()
    a.put("log", "x", {"by": "a"})
    try:
        a.request_end()
        return True
    except Conflict:
        assert a.get("log", "x") in (None, {"by": "a"})
        return False


def test_redis_transactions_conflict_only_on_what_they_read(url: str) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.put("user", "u", {"credits": 10})
    for i, score in enumerate((1, 5, 9)):
        a.index_add("due", f"t{i}", score)

    attempt = functools.partial(_attempt, a)

    assert attempt(lambda: a.get("user", "u"), lambda: b.put("user", "other", {}))  # another record
    assert not attempt(lambda: a.get("user", "u"), lambda: b.put("user", "u", {"credits": 9}))  # the same one
    assert attempt(lambda: a.index_by_score("due", max_score=6, limit=5), lambda: b.index_add("due", "t9", 20))
    assert not attempt(lambda: a.index_by_score("due", max_score=6, limit=5), lambda: b.index_add("due", "t8", 2))
    assert not attempt(lambda: a.index_by_score("due", max_score=6), lambda: b.index_remove("due", "t1"))
    assert attempt(lambda: a.index_by_score("due", max_score=6, hint=True), lambda: b.index_add("due", "t7", 3))
    assert attempt(lambda: a.index_count("due", 10, 30), lambda: b.index_add("other", "x", 15))
    assert not attempt(lambda: a.index_count("due", 10, 30), lambda: b.index_add("due", "t6", 15))
    assert attempt(lambda: a.index_score("due", "t0"), lambda: b.index_add("due", "t5", 1))
    assert not attempt(lambda: a.index_score("due", "t0"), lambda: b.index_add("due", "t0", 2))
    assert not attempt(lambda: a.get_meta("faults"), lambda: b.put_meta("faults", [1]))
    assert not attempt(lambda: a.index_range("due", 0, 2), lambda: b.index_remove("due", "t0"))
    assert b.get("user", "u") == {"credits": 9}
    assert a.stats["conflicts"] == 7
    a.close()
    b.close()


def test_redis_checks_compare_scores_exactly(url: str) -> None:
    """The checks carry scores and bounds as MessagePack numbers, which the script hands to Redis: reads of awkward
    scores, with bounds on them, are no conflict when the version moved but nothing they read changed; a score
    moved by one ulp, the members and their order unchanged, is one."""
    a, b = RedisStore(url), RedisStore(url)
    inf = float("inf")
    scores = {"tenth": 0.1, "third": 1 / 3, "big": 2.0**53 + 2, "tiny": 1e-300, "huge": 1.7976931348623157e308,
              "neg": -2.5, "inf": inf, "ninf": -inf}
    with a.atomic():
        for member, score in scores.items():
            a.index_add("z", member, score)

    attempt = functools.partial(_attempt, a)

    moved = 0

    def elsewhere() -> None:
        nonlocal moved
        moved += 1
        b.put("other", str(moved), {})  # moves the version: the commit runs every check in Redis

    reads = [lambda: a.index_by_score("z"), lambda: a.index_by_score("z", 0.1, 1 / 3),
             lambda: a.index_by_score("z", 1e-300, 2.0**53 + 2, limit=2), lambda: a.index_count("z", 0.1, 1 / 3),
             lambda: a.index_count("z", -inf, -2.5), lambda: a.index_count("z", 1.7976931348623157e308, inf),
             lambda: a.index_score("z", "third"), lambda: a.index_score("z", "inf"), lambda: a.index_score("z", "no"),
             lambda: a.index_range("z", 1, 3, reverse=True)]
    for read in reads:
        assert attempt(read, elsewhere)
    assert a.stats["conflicts"] == 0
    nudged = [("third", lambda: a.index_by_score("z", 0, 1)), ("tenth", lambda: a.index_score("z", "tenth")),
              ("big", lambda: a.index_by_score("z", 1, inf, limit=5)), ("tiny", lambda: a.index_count("z", 1e-300, 1))]
    for member, read in nudged:
        assert not attempt(read, lambda m=member: b.index_add("z", m, math.nextafter(scores[m], 0)))
    assert a.stats["conflicts"] == len(nudged)
    a.close()
    b.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_redis_a_forked_child_rebuilds_the_store(url: str) -> None:
    """A child forked with a request open (granian forks its workers from a process that may have used the store):
    its first store call starts the process's state over (a cache and a process mark of its own, no transaction,
    its own connection), and the parent's transaction is untouched."""
    store = RedisStore(url)
    store.put("k", "a", {"n": 1})
    token = store.cache.token
    store.request_begin()
    assert store.get("k", "a") == {"n": 1}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fresh = store.get("k", "a") == {"n": 1} and store.cache.token != token and store._tl.txn is None
            store.put("k", "b", {"n": 2})  # no transaction in the child: a block of its own, committed
            os.write(write, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 20)  # a child stuck (a lock held at the fork) fails, never hangs
    answer = os.read(read, 8) if ready else b""
    os.close(read)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert answer == b"1"
    store.put("k", "c", {"n": 3})  # the parent's request goes on
    store.request_end()
    assert store.get("k", "b") == {"n": 2} and store.get("k", "c") == {"n": 3}
    store.close()


def test_redis_a_member_of_an_index_the_transaction_wrote_is_read_alone(url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Settling removes expired jobs from the ``jobs`` index in the transaction that adds the new job: each removal
    asks the member's score first. That reads the member alone (the transaction's own writes to it first, else the
    stored score, checked), never the whole index back: under load that was ``ZRANGE 0 -1`` of every job and every
    member sent back as a check, per POST (the served POST's CPU grew with the number of jobs kept)."""
    monkeypatch.setattr(cache, "HEAD_MAX", 3)
    a, b = RedisStore(url), RedisStore(url)
    with a.atomic():
        for i in range(50):
            a.index_add("jobs", f"j{i:02}", i)
    a.request_begin()
    a.index_add("jobs", "new", 100)
    assert a.index_score("jobs", "new") == 100.0
    assert a.index_remove("jobs", "j00") and a.index_score("jobs", "j00") is None
    assert not a.index_remove("jobs", "j00")
    assert a.index_score("jobs", "j40") == 40.0 and a.index_score("jobs", "nope") is None  # past the head
    txn = a._tl.txn
    assert [r[0] for r in txn.reads] == ["s"] * 3  # j00 (before its removal), j40, nope; no whole read-back
    b.index_add("jobs", "j41", 41.5)  # another member: no conflict
    a.request_end()
    assert a.index_by_score("jobs", max_score=2) == [("j01", 1.0), ("j02", 2.0)]
    assert b.index_score("jobs", "new") == 100.0 and b.index_score("jobs", "j41") == 41.5
    a.request_begin()
    a.index_add("jobs", "new2", 101)
    assert a.index_score("jobs", "j30") == 30.0
    b.index_remove("jobs", "j30")  # the member it read: conflict
    with pytest.raises(Conflict):
        a.request_end()
    assert b.index_score("jobs", "new2") is None
    a.close()
    b.close()


def test_redis_two_writers_of_one_value_never_both_win(url: str) -> None:
    """A read-modify-write in many threads over two handles (two processes' worth): every increment counted once,
    the losers refused and run again, as the pipeline does with a request."""
    a, b = RedisStore(url), RedisStore(url)
    a.put("ctr", "n", {"n": 0})

    def bump(store: RedisStore) -> None:
        for _ in range(25):
            while True:
                store.request_begin()
                n = store.get("ctr", "n")["n"]
                store.put("ctr", "n", {"n": n + 1})
                try:
                    store.request_end()
                    break
                except Conflict:
                    continue

    threads = [threading.Thread(target=bump, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert a.get("ctr", "n") == {"n": 100}
    assert a.stats["conflicts"] + b.stats["conflicts"] > 0
    a.close()
    b.close()


def test_redis_refresh_sends_the_writes_and_later_blocks_are_exclusive(url: str) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.request_begin()
    a.put("job", "j", {"v": 1})
    a.refresh()  # a request about to wait: what it wrote is sent now
    assert b.get("job", "j") == {"v": 1}
    b.put("job", "j", {"v": 2})
    assert a.get("job", "j") == {"v": 1}  # no catch-up per read once refreshed (until the next refresh)
    a.refresh()
    assert a.get("job", "j") == {"v": 2}
    exclusive = a.stats["exclusive"]
    a.put("job", "k", {})  # a write after the wait: a block of its own, exclusive
    assert a.stats["exclusive"] == exclusive + 1
    a.request_end()
    assert b.get("job", "k") == {}
    a.close()
    b.close()


def test_redis_commit_of_unknown_outcome_starts_the_cache_over(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a = RedisStore(url)
    a.put("job", "j", {"v": 1})
    a.request_begin()
    a.put("job", "j", {"v": 2})

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("reply lost")

    monkeypatch.setattr(transaction, "commit", lost)
    monkeypatch.setattr("mock_server.store.redis.store.commit", lost)
    with pytest.raises(redis.ConnectionError):
        a.request_end()
    assert a.cache.version == -1 and not a.cache.records
    monkeypatch.undo()
    assert a.get("job", "j") == {"v": 1}  # the write never reached Redis; read again from it
    a.close()


def test_reads_in_threads_that_arrive_during_a_catch_up_wait_for_the_next_one_and_share_it(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read outside any request catches up first; reads arriving while one catch-up is on its way wait for the
    next (sent after they arrived, so they see what was written before), and share it: two catch-ups for six reads.
    The waiting threads are woken when it is back (the store notifies only when a thread waits)."""
    import time

    from mock_server.store.redis import store as store_module

    a, b = RedisStore(url), RedisStore(url)
    a.put("job", "j", {"v": 1})
    assert b.get("job", "j") == {"v": 1}
    held, release = threading.Event(), threading.Event()
    real_sync = store_module.sync

    def slow_first(*args: Any, **kwargs: Any) -> Any:
        if not held.is_set():
            held.set()
            release.wait(10)
        return real_sync(*args, **kwargs)

    monkeypatch.setattr(store_module, "sync", slow_first)
    got: list[Any] = []
    first = threading.Thread(target=b.get, args=("job", "j"))
    first.start()
    assert held.wait(10)
    a.put("job", "j", {"v": 2})  # written after the first catch-up was sent: only the next one brings it
    late = [threading.Thread(target=lambda: got.append(b.get("job", "j"))) for _ in range(5)]
    syncs, shared = b.stats["syncs"], b.stats["syncs_shared"]
    for t in late:
        t.start()
    deadline = time.monotonic() + 10
    while b._sync_waiters < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert b._sync_waiters == 5  # all five wait: none sent a catch-up of its own
    release.set()
    for t in [first, *late]:
        t.join(10)
    assert not any(t.is_alive() for t in [first, *late])  # every waiter was woken
    assert b.stats["syncs"] - syncs == 1 and b.stats["syncs_shared"] - shared == 4  # one more, shared by five
    assert got == [{"v": 2}] * 5  # the late reads see the write made before they came
    a.close()
    b.close()


def test_a_log_entry_written_in_json_by_an_older_version_is_still_applied(url: str) -> None:
    """The change log's entries are MessagePack (what the commit script stores as sent); a log left by an older
    version, whose entries were JSON, is still read by a catching-up cache, and the entries after it too."""
    import json

    a, b = RedisStore(url), RedisStore(url)
    a.put("job", "j", {"v": 1})
    assert b.get("job", "j") == {"v": 1}  # b holds the record: it applies the entries that change it
    assert a.wire.call("LINDEX", a.keys.log, -1)[:1] != b"["  # what this version writes: not JSON
    raw = json.dumps({"v": 2}, separators=(",", ":"))
    a.wire.call("HSET", a.keys.record_kind("job"), "j", raw)  # an older version's commit, by hand
    a.wire.call("RPUSH", a.keys.log, json.dumps([["P", "older"], ["HS", "job", "j", raw]]))
    a.wire.call("INCR", a.keys.version)
    assert b.get("job", "j") == {"v": 2}  # caught up from the JSON entry
    a.put("job", "j", {"v": 3})
    assert b.get("job", "j") == {"v": 3}  # and from the MessagePack one after it
    a.close()
    b.close()
