"""The Redis store's mirror: caught up from the change log, reloaded when it fell behind it, one view per request."""

from __future__ import annotations

import threading

import pytest
import redis

from mock_server.store.redis import RedisStore, transaction


def test_redis_mirror_catches_up_from_the_log_and_reloads_when_it_fell_behind(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.put("job", "j0", {"n": 0})
    assert b.get("job", "j0") == {"n": 0}  # b's first read loads everything
    reloads = b.stats["reloads"]
    a.put("job", "j1", {"n": 1})
    a.index_add("jobs", "j1", 1)
    assert b.get("job", "j1") == {"n": 1} and b.index_range("jobs") == ["j1"]
    assert b.stats["reloads"] == reloads  # two log entries, no reload
    monkeypatch.setattr(transaction, "LOG_LIMIT", 2)
    for i in range(2, 6):
        a.put("job", f"j{i}", {"n": i})
    a.delete("job", "j0")
    assert b.get("job", "j5") == {"n": 5} and b.get("job", "j0") is None
    assert b.stats["reloads"] == reloads + 1  # five entries behind a log of two: the whole state again
    assert sorted(k for _, k, _ in b.dump()) == ["j1", "j2", "j3", "j4", "j5"]
    a.close()
    b.close()


def test_redis_request_reads_one_view_and_writes_once(url: str) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.put("x", "k", {"v": 1})
    b.request_begin(write=False)
    trips = b.stats["round_trips"]
    a.put("x", "k", {"v": 2})
    assert b.get("x", "k") == {"v": 1}  # the view the request started with: no round trip per read
    assert b.get_meta("clock") is None and b.index_range("none") == []
    assert b.stats["round_trips"] == trips
    b.request_end()
    assert b.get("x", "k") == {"v": 2}  # outside a request every read catches up
    b.request_begin(write=True)
    b.put("x", "k", {"v": 3})
    with b.atomic():
        b.put("x", "other", {})
    assert a.wire.call("HGET", a.prefix + "r:x", "k") == b'{"v":2}'  # nothing sent before the request ends
    b.request_end()
    assert a.get("x", "k") == {"v": 3} and a.get("x", "other") == {}
    a.close()
    b.close()


def test_redis_refresh_lets_a_waiting_request_give_the_lock_up(url: str) -> None:
    a, b = RedisStore(url), RedisStore(url)
    a.request_begin(write=True)
    a.put("x", "before-wait", {})
    entered = threading.Event()

    def other() -> None:
        with b.atomic():
            entered.set()

    t = threading.Thread(target=other)
    t.start()
    assert not entered.wait(0.3)  # the request holds the lock
    a.refresh()  # pollForResult is about to sleep
    assert entered.wait(5)
    t.join(5)
    assert b.get("x", "before-wait") == {}  # committed by the refresh
    a.request_end()
    a.close()
    b.close()


def test_redis_a_failed_block_undoes_its_writes_in_the_mirror(url: str) -> None:
    store = RedisStore(url)
    store.put("x", "kept", {"v": 1})
    store.index_add("ix", "m", 1)
    with pytest.raises(ZeroDivisionError), store.atomic():
        store.put("x", "kept", {"v": 2})
        store.put("x", "new", {})
        store.index_add("ix", "m", 5)
        store.index_drop("ix")
        store.clear()
        _ = 1 / 0
    assert store.get("x", "kept") == {"v": 1} and store.get("x", "new") is None
    assert store.index_by_score("ix") == [("m", 1.0)]
    store.close()


def test_redis_mirror_follows_redis_when_redis_lost_its_data(url: str, redis_url: str) -> None:
    """Redis flushed under a running simulator (its version now behind ours): its (empty) state wins."""
    store = RedisStore(url)
    store.put("x", "k", {})
    raw = redis.Redis.from_url(redis_url)
    for key in raw.scan_iter(match=store.prefix + "*"):
        raw.delete(key)
    assert store.get("x", "k") is None
    store.put("x", "again", {"n": 1})
    assert RedisStore(url).get("x", "again") == {"n": 1}
    raw.close()
    store.close()


def test_redis_group_commit_shares_round_trips_and_yields_to_another_process(url: str) -> None:
    """Two writing requests in flight in one process: the second starts without a round trip, the first end sends
    both requests' writes, the last end lets the lock go; another process asking meanwhile gets it then."""
    a, b = RedisStore(url), RedisStore(url)
    first_in, second_done, b_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        a.request_begin(write=True)
        a.put("x", "first", {})
        first_in.set()
        second_done.wait(5)
        a.request_end()  # nothing left to send: the other end carried it; the last out releases

    seen: dict[str, object] = {}

    def other_process() -> None:
        with b.atomic():  # finds the lock taken: asks for it (lock:want) and waits
            b_in.set()
            seen.update(first=b.get("x", "first"), second=b.get("x", "second"))

    t = threading.Thread(target=first)
    t.start()
    assert first_in.wait(5)
    trips = a.stats["round_trips"]
    a.request_begin(write=True)
    assert a.stats["round_trips"] == trips  # the process holds the lock: no round trip 1
    a.put("x", "second", {})
    rival = threading.Thread(target=other_process)
    rival.start()
    raw = redis.Redis.from_url(url.partition("?")[0])
    for _ in range(250):  # until b has asked for the lock
        if raw.exists(a.keys.want):
            break
        threading.Event().wait(0.02)
    version = int(raw.get(a.keys.version) or 0)
    a.request_end()  # sends both requests' writes in one commit; learns that b waits
    assert int(raw.get(a.keys.version) or 0) == version + 1
    assert raw.hkeys(a.prefix + "r:x") and sorted(raw.hkeys(a.prefix + "r:x")) == [b"first", b"second"]
    assert a._draining and not b_in.is_set()  # the first request is still in flight: the lock stays
    second_done.set()
    t.join(5)
    assert b_in.wait(5)
    rival.join(5)
    assert seen == {"first": {}, "second": {}}
    assert int(raw.get(a.keys.version) or 0) == version + 1  # the first request's end had nothing to send
    raw.close()
    a.close()
    b.close()
