"""Work a process does off the request path, only when it is needed, and asking every process sharing the store
to do it now.

What a process keeps (the request journal: ``sim/journal.py``) is written to Redis only when someone needs it, never
on a timer: a reader that must see every process's entries (``GET /__admin/requests``) calls ``gather()``, which
asks every other live process to run its work, runs this process's own meanwhile, and waits for their answers;
and a process that stops (``leave``, from the store's ``close``: SIGTERM, SIGINT) runs its work first. A process
killed with SIGKILL loses what it had not written.

* each process with work is listed in ``<p>procs`` (ZSET: its random token, scored by the last heartbeat, ms),
  kept by a thread of its own; one not heard from for ``STALE_MS`` is not asked (a killed or frozen process);
* that thread waits on ``BLPOP <p>flush:<token>`` (``HEARTBEAT_S`` at most, then it beats): a reader pushes the
  name of a reply list there; the thread pushes ``s`` to the reply list, runs the work, then pushes ``d``. The
  reader ``BLPOP``s the list: it waits ``GATHER_TIMEOUT_S`` at most for a process to start (one that does not is
  frozen or gone), and for one that started, until it is done (``WRITE_TIMEOUT_S`` at most): writing a whole
  journal takes a process ~1 s on a busy machine, and a reader that gave up early would miss those entries.

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
HEARTBEAT_S = 1.0  # how often the thread says this process is alive (it runs the work only when asked)
STALE_MS = 3000  # a process not heard from for this long is not waited for
GATHER_TIMEOUT_S = 1.0  # the longest a reader waits for a process to say it started its work
WRITE_TIMEOUT_S = 10.0  # the longest it waits for one that started (a whole journal, 10,000 entries: ~1 s)
STARTED, DONE = "s", "d"  # what a process pushes to the reader's reply list
REPLY_TTL_MS = 5000


class Peers:
    """This process's deferred work, its thread (the heartbeat and the inbox), and the handshake with the others."""

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
        next run, at the next read, retries)."""
        with self._run_lock:
            for work in self.works:
                try:
                    work()
                    self._failing = False
                except Exception:
                    if self.wire.closed:
                        return
                    if not self._failing:
                        log.exception("deferred store work failed (retried at the next read)")
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
                wait = max(0.01, round(HEARTBEAT_S - (time.monotonic() - beat), 3))
                asked = self.wire.call("BLPOP", inbox, wait, counted=False)
            except Exception:  # Redis unreachable, or anything else: the thread never dies of it; it tries again
                if self.wire.closed:
                    return
                time.sleep(0.1)
                continue
            if asked:  # a reader wants what this process kept: only then is it written
                self._answer(asked[1], STARTED)
                self.run()
                self._answer(asked[1], DONE)

    def _answer(self, reply: bytes | str, word: str) -> None:
        with suppress(redis.RedisError):
            self.wire.call("RPUSH", reply, word, counted=False)
            self.wire.call("PEXPIRE", reply, REPLY_TTL_MS, counted=False)

    def gather(self) -> None:
        """Every live process's work (this one's too, meanwhile) done before it returns: a process that has not
        said it started within ``GATHER_TIMEOUT_S`` is not waited for (killed or frozen); one that started is
        waited for until it is done (``WRITE_TIMEOUT_S`` at most: a whole journal takes ~1 s on a busy machine)."""
        now = int(time.time() * 1000)
        peers = [p.decode() if isinstance(p, bytes) else p
                 for p in self.wire.call("ZRANGEBYSCORE", self.keys.procs, now - STALE_MS, "+inf", counted=False)]
        peers = [p for p in peers if p != self.token]
        reply = self.keys.flush("reply:" + uuid.uuid4().hex)
        for peer in peers:
            self.wire.call("RPUSH", self.keys.flush(peer), reply, counted=False)
            self.wire.call("PEXPIRE", self.keys.flush(peer), REPLY_TTL_MS, counted=False)
        self.run()  # this process's own, while the others do theirs
        if not peers:
            return
        t0 = time.monotonic()  # from now: their answers may be queued already, and are read before any deadline
        started = done = 0
        while done < len(peers):
            busy = started > done  # one started and is not done yet: wait for it; else only for the silent
            left = t0 + (WRITE_TIMEOUT_S if busy else GATHER_TIMEOUT_S) - time.monotonic()
            if left <= 0:
                break
            got = self.wire.call("BLPOP", reply, max(0.01, round(left, 3)), counted=False)
            if got is None:
                continue  # that deadline passed: the loop ends, or waits on for those that did start
            if got[1] in (STARTED, STARTED.encode()):
                started += 1
            else:
                done += 1
        if done < len(peers):
            # not heard back from every process (killed, frozen, or only slow): we did not wait longer
            log.debug("gather: %d of %d processes answered", done, len(peers))
        with suppress(redis.RedisError):
            self.wire.call("DEL", reply, counted=False)

    def leave(self) -> None:
        """This process stops (``close``: SIGTERM, SIGINT): its work runs (what it kept is written), then nobody
        waits for it any more."""
        if self._pid == os.getpid():
            self.run()
            with suppress(redis.RedisError, RuntimeError):
                self.wire.call("ZREM", self.keys.procs, self.token, counted=False)
