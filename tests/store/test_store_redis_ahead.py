"""The event loop's catch-ups for reads (``mock_server/store/redis/ahead.py``), on a real redis-server.

Two stores on one prefix stand for two processes: ``reader`` serves reads through its ``ReadAhead`` (driven by an
asyncio loop in this thread, as granian's worker loop drives it), ``writer`` commits between them. What must hold:
a read handed on as current sees every write acknowledged before it arrived (without a catch-up of its own), a
read arriving while a catch-up is on its way waits for the next one (and many such reads share it), and anything
wrong hands the reads on as not current (they catch up in their threads) without hanging.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from helpers import free_port

from mock_server.store.redis import RedisStore
from mock_server.store.redis import ahead as ahead_module
from mock_server.store.redis.ahead import ReadAhead


class Reads:
    """Reads handed to ``then``: what each was called with, in the order called, and what ``probe`` (the read a
    request thread would make) returned at that moment."""

    def __init__(self, probe: Callable[[], Any] | None = None) -> None:
        self.done: dict[str, bool] = {}
        self.saw: dict[str, Any] = {}
        self.probe = probe

    def add(self, ahead: ReadAhead, name: str) -> None:
        ahead.then(self._ready, name)

    def _ready(self, current: bool, name: str) -> None:
        self.done[name] = current
        if self.probe is not None:
            self.saw[name] = self.probe()


def run_until(loop: asyncio.AbstractEventLoop, cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Run the loop (its reader callbacks) until ``cond`` holds."""
    async def wait() -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            await asyncio.sleep(0.001)

    loop.run_until_complete(wait())


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture
def pair(url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    reader, writer = RedisStore(url), RedisStore(url)
    writer.put_meta("seen", 0)
    yield reader, writer
    reader.close()
    writer.close()


def connected(reader: RedisStore, loop: asyncio.AbstractEventLoop) -> ReadAhead:
    """The reader's read-ahead with its connection up (the first read goes the old way while it opens)."""
    ahead = reader.read_ahead(loop)
    assert ahead is not None
    first = Reads()
    first.add(ahead, "first")
    assert first.done == {"first": False}  # no connection yet: at once, not current
    run_until(loop, lambda: ahead.link is not None)
    return ahead


def read_seen(store: RedisStore, *, current: bool) -> Any:
    store.request_begin(write=False, current=current)
    try:
        return store.get_meta("seen")
    finally:
        store.request_end()


def test_a_read_handed_on_as_current_sees_what_another_process_wrote_before_it_arrived(
        pair: tuple[RedisStore, RedisStore], loop: asyncio.AbstractEventLoop) -> None:
    reader, writer = pair
    ahead = connected(reader, loop)
    assert read_seen(reader, current=False) == 0  # the reader's cache holds the value
    writer.put_meta("seen", 1)  # acknowledged before the read arrives
    reads = Reads()
    reads.add(ahead, "get")
    run_until(loop, lambda: "get" in reads.done)
    assert reads.done == {"get": True}
    syncs = reader.stats["syncs"]
    assert read_seen(reader, current=True) == 1
    assert reader.stats["syncs"] == syncs  # no catch-up of its own: the loop's made it current


def test_without_the_loop_s_catch_up_the_same_read_would_be_stale(pair: tuple[RedisStore, RedisStore]) -> None:
    """What the test above guards against: a read told it is current when nothing caught up for it answers from
    the old cache (so that test fails if ``then`` called back without a catch-up sent after the read arrived)."""
    reader, writer = pair
    assert read_seen(reader, current=False) == 0
    writer.put_meta("seen", 1)
    assert read_seen(reader, current=True) == 0  # stale
    assert read_seen(reader, current=False) == 1


def test_reads_arriving_while_a_catch_up_is_on_its_way_wait_for_the_next_one_and_share_it(
        pair: tuple[RedisStore, RedisStore], loop: asyncio.AbstractEventLoop) -> None:
    reader, writer = pair
    ahead = connected(reader, loop)
    assert read_seen(reader, current=False) == 0
    sent = reader.stats["syncs_ahead"]
    reads = Reads(probe=lambda: read_seen(reader, current=True))  # what each read's thread would answer
    reads.add(ahead, "early")
    ahead._send_now()  # the loop's turn ends (run here, so that no reply is read meanwhile): its catch-up goes
    writer.put_meta("seen", 2)  # acknowledged after "early" was sent, before the late reads arrived
    late = [f"late{n}" for n in range(10)]
    for name in late:
        reads.add(ahead, name)
    assert ahead.inflight is not None and len(ahead.inflight) == 1 and len(ahead.waiting) == 10
    run_until(loop, lambda: len(reads.done) == 11)
    assert list(reads.done) == ["early", *late] and all(reads.done.values())
    assert reads.saw["early"] in (0, 2)  # its catch-up may have reached Redis before the write
    assert {reads.saw[name] for name in late} == {2}  # theirs was sent after they arrived: it has the write
    assert reader.stats["syncs_ahead"] - sent == 2  # one for the early read, one shared by the ten late ones


def test_reads_arriving_in_one_turn_of_the_loop_share_one_catch_up_sent_after_the_last(
        pair: tuple[RedisStore, RedisStore], loop: asyncio.AbstractEventLoop) -> None:
    """granian hands the loop several requests at a time: the catch-up goes once the loop has run them all, so they
    share it (a send wakes redis-server: the loop's largest cost per catch-up), and it is sent after the last of
    them arrived, so each sees every write acknowledged before it arrived. Sent at the first (as before): 0.27
    catch-ups per GET at c16, against 0.17-0.18 (docs/performance.md)."""
    reader, writer = pair
    ahead = connected(reader, loop)
    assert read_seen(reader, current=False) == 0
    sent = reader.stats["syncs_ahead"]
    reads = Reads(probe=lambda: read_seen(reader, current=True))
    reads.add(ahead, "a")
    reads.add(ahead, "b")
    writer.put_meta("seen", 3)  # acknowledged before "c" arrived (and after "a" and "b")
    reads.add(ahead, "c")
    assert ahead.unsent and ahead.inflight is not None and len(ahead.inflight) == 3 and not ahead.waiting
    run_until(loop, lambda: len(reads.done) == 3)
    assert reads.done == {"a": True, "b": True, "c": True} and reads.saw["c"] == 3
    assert reader.stats["syncs_ahead"] - sent == 1


def test_unreachable_redis_hands_reads_on_at_once_as_not_current(loop: asyncio.AbstractEventLoop) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0?prefix=ltxahead-{uuid.uuid4().hex[:8]}:")  # nobody there
    try:
        ahead = store.read_ahead(loop)
        assert ahead is not None
        reads = Reads()
        t0 = time.monotonic()
        reads.add(ahead, "a")
        assert reads.done == {"a": False}
        run_until(loop, lambda: not ahead.connecting)  # the connection attempt (in its thread) failed
        reads.add(ahead, "b")  # within RETRY_S: no new attempt, at once
        assert reads.done == {"a": False, "b": False} and not ahead.connecting
        assert time.monotonic() - t0 < 5
    finally:
        store.close()


def test_a_catch_up_not_answered_in_time_hands_its_reads_on_and_a_later_read_reconnects(
        url: str, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen redis-server (SIGSTOP): the reads waiting on the loop's catch-up go on (not current) after
    ``REPLY_TIMEOUT_S``; once it runs again, a read after ``RETRY_S`` gets a new connection and is current."""
    from redis_server import RedisServer

    monkeypatch.setattr(ahead_module, "REPLY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(ahead_module, "RETRY_S", 0.2)
    with RedisServer() as server:
        store = RedisStore(f"{server.url}?prefix=ltxahead-{uuid.uuid4().hex[:8]}:")
        try:
            ahead = connected(store, loop)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            try:
                reads = Reads()
                t0 = time.monotonic()
                reads.add(ahead, "frozen")
                reads.add(ahead, "queued")
                run_until(loop, lambda: len(reads.done) == 2)
                assert reads.done == {"frozen": False, "queued": False}
                assert 0.25 < time.monotonic() - t0 < 3
                assert ahead.link is None
            finally:
                server.proc.send_signal(signal.SIGCONT)
            time.sleep(0.25)
            again = Reads()
            again.add(ahead, "reconnect")  # starts a new connection; this one goes the old way
            assert again.done == {"reconnect": False}
            run_until(loop, lambda: ahead.link is not None)
            again.add(ahead, "after")
            run_until(loop, lambda: "after" in again.done)
            assert again.done["after"] is True
        finally:
            store.close()


def test_a_redis_that_forgot_the_script_gets_it_whole_and_the_read_is_current(
        pair: tuple[RedisStore, RedisStore], loop: asyncio.AbstractEventLoop, redis_url: str) -> None:
    reader, writer = pair
    ahead = connected(reader, loop)
    assert read_seen(reader, current=False) == 0
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.script_flush()
    finally:
        raw.close()
    writer.put_meta("seen", 3)
    reads = Reads()
    reads.add(ahead, "get")
    run_until(loop, lambda: "get" in reads.done)
    assert reads.done == {"get": True}
    assert read_seen(reader, current=True) == 3
    assert ahead.link is not None  # NOSCRIPT is answered in step: the connection stays


def test_tls_stores_have_no_read_ahead(loop: asyncio.AbstractEventLoop) -> None:
    """``rediss://``: an SSL socket cannot be polled and read this way; reads catch up in their threads."""
    store = RedisStore(f"rediss://127.0.0.1:1/0?prefix=ltxahead-{uuid.uuid4().hex[:8]}:")
    try:
        assert store.read_ahead(loop) is None
    finally:
        store.close()
