"""Catch-ups sent from the server's event loop: a read waits there, holding no thread, for a catch-up sent after it
arrived, and reaches its request thread with the cache already current (no round trip of its own).

Why: a read's catch-up in its request thread (``RedisStore._catch_up``) blocks the thread on a socket and, under
load, parks the other reads on a condition until the next catch-up comes back: ~1.1 context switches and ~0.2 ms
of the process's CPU per GET at c16 against ~0.4 switches in memory (docs/performance.md). The event loop polls
its sockets anyway: here it sends one ``SYNC`` for all the reads that arrived since the last one was sent, reads
the reply when epoll says it is there, absorbs it, and hands those reads to the request threads.

* **Correctness is unchanged**: a read is handed on as current only after a catch-up *sent after it arrived* was
  absorbed (one already in flight when it arrives may have been answered before it: it waits for the next), so
  it sees every write acknowledged before it arrived, as with ``_catch_up``.
* One connection of its own, non-blocking, opened in a thread (connecting can take seconds: never in the loop).
* Anything wrong (Redis unreachable, an error reply, no reply in ``REPLY_TIMEOUT_S``, a TLS connection) hands the
  reads on as *not* current: each then catches up in its thread as before (and answers 503 when Redis is down).
  A new connection is tried at most every ``RETRY_S``.

Everything here runs in the event loop's thread, except ``_connect``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import redis
from redis.exceptions import NoScriptError

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.lock import SYNC_SCRIPT, sync_call
from mock_server.store.redis.wire import MORE, Link, Wire

REPLY_TIMEOUT_S = 2.0  # a catch-up not back by then: its reads catch up in their threads (which wait up to 30 s)
RETRY_S = 1.0  # after a failure, the reads go the old way this long before a new connection is tried

CLIENT_NAME = "ltx-mock-ahead"  # the connection's name in CLIENT LIST
Ready = Callable[..., None]  # ``fn(current, *args)``: current is True when the cache is current for this read


class ReadAhead:
    """The event loop's catch-ups for one process's reads (``RedisStore.read_ahead``): ``version()`` is the cache's
    version now, ``absorb(reply)`` brings the cache up to a ``SYNC`` reply (the store's own, as for its threads)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wire: Wire, keys: Keys, *, version: Callable[[], int],
                 absorb: Callable[[Any], object], stats: dict[str, float]) -> None:
        self.loop = loop
        self.wire = wire
        self.keys = keys
        self.version = version
        self.absorb = absorb
        self.stats = stats
        self.link: Link | None = None
        self.connecting = False
        self.closed = False
        self.retry_at = 0.0
        self.inflight: list[tuple[Ready, tuple[Any, ...]]] | None = None  # the reads the catch-up on its way serves
        self.waiting: list[tuple[Ready, tuple[Any, ...]]] = []  # arrived after it was sent: served by the next one
        self.unsent = False  # ``inflight`` is not sent yet (``_send_soon``): a read arriving now joins it
        self.timer: asyncio.TimerHandle | None = None
        self.whole = False  # send the script whole (Redis did not know it: NOSCRIPT), once

    def then(self, fn: Ready, *args: Any) -> None:
        """Call ``fn(current, *args)`` once a catch-up sent after now is in the cache (``current`` True), or at
        once with False when there is no connection (the read then catches up in its thread)."""
        if self.inflight is not None:
            (self.inflight if self.unsent else self.waiting).append((fn, args))
            return
        if self.link is None:
            self._connect_soon()
            fn(False, *args)
            return
        self.inflight = [(fn, args)]
        self._send_soon()

    def _send_soon(self) -> None:
        """Send ``inflight``'s catch-up once the loop has run what is ready now: the reads that arrive meanwhile
        (granian hands the loop several requests at a time) join it, one send instead of one each. A send wakes
        redis-server, the loop's largest cost per catch-up."""
        self.unsent = True
        self.loop.call_soon(self._send_now)

    def _send_now(self) -> None:
        if self.unsent and self.link is not None:
            self.unsent = False
            self._send()

    # -- the round trip ------------------------------------------------------------------------------------
    def _send(self) -> None:
        link = self.link
        assert link is not None
        keys, args = sync_call(self.keys, self.version())
        if self.whole:
            self.whole = False
            packed = self.wire.pack("EVAL", SYNC_SCRIPT.source, len(keys), *keys, *args)
        else:
            packed = self.wire.pack("EVALSHA", SYNC_SCRIPT.sha, len(keys), *keys, *args)
        try:
            sent = link.sock.send(packed)  # a few hundred bytes into an empty socket buffer: all of it
        except OSError:
            sent = -1
        if sent != len(packed):
            self._fail()
            return
        stats = self.stats
        stats["round_trips"] += 1
        stats["syncs_ahead"] += 1
        self.timer = self.loop.call_later(REPLY_TIMEOUT_S, self._fail)

    def _readable(self) -> None:
        link = self.link
        if link is None:
            return
        try:
            reply = link.read_ready()
        except BlockingIOError:
            return
        except (OSError, redis.RedisError):
            self._fail()
            return
        if reply is MORE:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if isinstance(reply, NoScriptError):  # Redis restarted or its scripts were flushed: send it whole
            self.whole = True
            self._send()
            return
        if isinstance(reply, redis.RedisError):  # MOVED (the threads' wire follows it), LOADING...: the old way
            self._fail()
            return
        try:
            self.absorb(reply)
        except Exception:
            self._fail()
            return
        ready, self.inflight = self.inflight or [], None
        if self.waiting:  # the reads that arrived meanwhile: one catch-up for all of them, sent now
            self.inflight, self.waiting = self.waiting, []
            self._send_soon()
        for fn, args in ready:
            fn(True, *args)

    def _fail(self) -> None:
        """Drop the connection (it may be out of step); every read waiting goes on as not current."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        link, self.link = self.link, None
        if link is not None:
            with suppress(Exception):
                self.loop.remove_reader(link.sock.fileno())
            with suppress(Exception):
                link.close()
        self.retry_at = time.monotonic() + RETRY_S
        ready = (self.inflight or []) + self.waiting
        self.inflight, self.waiting, self.unsent = None, [], False
        for fn, args in ready:
            fn(False, *args)

    # -- the connection ----------------------------------------------------------------------------------------
    def _connect_soon(self) -> None:
        if self.connecting or self.closed or time.monotonic() < self.retry_at:
            return
        self.connecting = True
        threading.Thread(target=self._connect, name="ltx-redis-ahead", daemon=True).start()

    def _connect(self) -> None:
        """(A thread of its own) open the connection, then hand it to the loop."""
        link: Link | None = None
        try:
            link = self.wire.open_link(CLIENT_NAME)
            if type(link.sock) is not socket.socket:  # TLS: an SSL socket cannot be read this way
                link.close()
                link = None
                self.closed = True  # for good: the reads catch up in their threads
            else:
                link.sock.setblocking(False)
        except Exception:
            link = None
        try:
            self.loop.call_soon_threadsafe(self._attach, link)
        except RuntimeError:  # the loop is closed: the process is stopping
            if link is not None:
                link.close()

    def _attach(self, link: Link | None) -> None:
        self.connecting = False
        if link is None:
            self.retry_at = time.monotonic() + RETRY_S
            return
        if self.closed:
            link.close()
            return
        self.link = link
        self.loop.add_reader(link.sock.fileno(), self._readable)

    def close(self) -> None:
        """No more catch-ups (the store closes); reads waiting go on as not current."""
        self.closed = True
        try:
            self.loop.call_soon_threadsafe(self._fail)
        except RuntimeError:  # the loop is closed already
            link, self.link = self.link, None
            if link is not None:
                link.close()
