"""Work a process does off the request path, and asking every process sharing the store to do it now.

What a process buffers (the request journal: ``sim/journal.py``) is written to Redis by a thread of its own,
every ``DEFER_S``, not by the requests. A reader that must see every process's entries (``GET
/__admin/requests``) calls ``gather()``: it runs this process's work inline, then asks every other live
process to run its own and waits for their answers (at most ``GATHER_TIMEOUT_S``):

* each process with the thread is listed in ``<p>procs`` (ZSET: its random token, scored by the last
  heartbeat, ms); one not heard from for ``STALE_MS`` is not waited for (a killed or frozen process);
* the thread waits on ``BLPOP <p>flush:<token>`` (``DEFER_S`` at most): a reader pushes the name of a reply
  list there; the thread runs the work, then pushes to the reply list, which the reader ``BLPOP``s.

Its commands are not counted in ``Wire.stats`` (the round trips of requests).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress

import redis

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Wire

log = logging.getLogger("ltx_mock.store")
DEFER_S = 0.05  # how often the thread runs the deferred work (the journal reaches Redis within this)
HEARTBEAT_S = 1.0
STALE_MS = 3000  # a process not heard from for this long is not waited for
GATHER_TIMEOUT_S = 1.0  # the longest a reader waits for the other processes' answers
REPLY_TTL_MS = 5000


class Peers:
    """This process's deferred work, its thread, and the handshake with the other processes."""

    def __init__(self, wire: Wire, keys: Keys) -> None:
        self.wire = wire
        self.keys = keys
        self.works: list[Callable[[], None]] = []
        self.token = uuid.uuid4().hex
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()  # the thread and a gather never run the works at once
        self._failing = False

    def add(self, work: Callable[[], None]) -> None:
        self.works.append(work)
        self.ensure()

    def ensure(self) -> None:
        """Start the thread in this process (once per process: a forked child starts its own)."""
        if not self.works or (self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()):
            return
        self._pid = os.getpid()
        self.token = uuid.uuid4().hex  # a forked child is another process: another name
        self._thread = threading.Thread(target=self._loop, name="ltx-redis-deferred", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Run every deferred work of this process now (a failure is logged once until a run succeeds again: the
        next run retries)."""
        with self._run_lock:
            for work in self.works:
                try:
                    work()
                    self._failing = False
                except Exception:
                    if self.wire.closed:
                        return
                    if not self._failing:
                        log.exception("deferred store work failed (retried every %.2f s)", DEFER_S)
                    self._failing = True

    def _loop(self) -> None:
        pid = os.getpid()
        inbox = self.keys.flush(self.token)
        beat = 0.0
        while not self.wire.closed and pid == os.getpid():
            try:
                if time.monotonic() - beat >= HEARTBEAT_S:
                    self.wire.call("ZADD", self.keys.procs, int(time.time() * 1000), self.token, counted=False)
                    beat = time.monotonic()
                asked = self.wire.call("BLPOP", inbox, DEFER_S, counted=False)
            except redis.RedisError:
                if self.wire.closed:
                    return
                time.sleep(DEFER_S)
                continue
            self.run()
            if asked:
                with suppress(redis.RedisError):
                    self.wire.call("RPUSH", asked[1], "1", counted=False)
                    self.wire.call("PEXPIRE", asked[1], REPLY_TTL_MS, counted=False)

    def gather(self) -> None:
        """This process's work now, then every other live process's (each answers within ``GATHER_TIMEOUT_S``)."""
        self.run()
        now = int(time.time() * 1000)
        peers = [p.decode() if isinstance(p, bytes) else p
                 for p in self.wire.call("ZRANGEBYSCORE", self.keys.procs, now - STALE_MS, "+inf", counted=False)]
        peers = [p for p in peers if p != self.token]
        if not peers:
            return
        reply = self.keys.flush("reply:" + uuid.uuid4().hex)
        for peer in peers:
            self.wire.call("RPUSH", self.keys.flush(peer), reply, counted=False)
            self.wire.call("PEXPIRE", self.keys.flush(peer), REPLY_TTL_MS, counted=False)
        deadline = time.monotonic() + GATHER_TIMEOUT_S
        answered = 0
        while answered < len(peers):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self.wire.call("BLPOP", reply, max(0.01, round(left, 3)), counted=False) is None:
                break
            answered += 1
        if answered < len(peers):
            # not heard back from every process (killed, frozen, or only slow): we did not wait longer
            log.debug("gather: %d of %d processes answered", answered, len(peers))
        with suppress(redis.RedisError):
            self.wire.call("DEL", reply, counted=False)

    def leave(self) -> None:
        """This process stops (``close``): nobody waits for it any more."""
        if self._pid == os.getpid():
            with suppress(redis.RedisError, RuntimeError):
                self.wire.call("ZREM", self.keys.procs, self.token, counted=False)
