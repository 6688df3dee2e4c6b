"""Catching up with the change log (and reading what the cache lacks), and the exclusive lock: one script.

* ``SYNC`` answers the log entries after the caller's cache version (an integer alone when there are none: the
  cheapest reply there is), or, for a cache too far behind (or ahead: Redis lost its data), the meta hash to start
  over with; in the same reply, the records and index heads the caller asked for (a cache miss).
* With a token it also takes ``<p>lock``, the **exclusive** lock of a block outside any request (start-up, a
  scenario, a test's ``with store.atomic()``): ``SET NX PX ttl`` (a retried call that already took it succeeds
  too). Optimistic commits wait while it is held (``transaction.COMMIT`` answers ``Locked``); a process that cannot
  take it waits on ``BLPOP <p>lock:wake`` (at most ``WAIT_SLICE_S`` per wait): no busy spinning.
* A watchdog thread extends the lock every ttl/3 while this process holds it, so only a dead (or frozen) holder
  loses it, ``ttl`` after it stopped. Requests never take it (unless one conflicted ``RETRIES`` times in a row):
  a frozen process stalls nobody unless it froze inside an exclusive block.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from typing import Any

import redis

from mock_server.store.redis import cache
from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Script, Wire

WAIT_SLICE_S = 0.05  # longest a waiter sleeps before trying the lock again (an expired holder never wakes it)
ACQUIRE_TIMEOUT_S = 60.0  # give up (raise) rather than hang a request forever

# KEYS: ver, log, meta, lock. ARGV: 1 token ('' = no lock), 2 ttl ms, 3 the cache's version, 4 prefix, 5 head max,
# 6 catch-up max (entries), 7 catch-up max (bytes), then what to read: 'r', kind, key | 'i', name (an index head).
# Reply: the version alone (an integer) when the cache is current and nothing is asked; {-1}: the lock is someone
# else's; else {version, entries after mine | false, meta (when false) | false, items...}: a record -> its JSON or
# nil; an index -> {ZCARD, ZRANGE 0 head-max WITHSCORES}.
SYNC = """
if ARGV[1] ~= '' then
  local holder = redis.call('get', KEYS[4])
  if holder and holder ~= ARGV[1] then return {-1} end
  if not holder then redis.call('set', KEYS[4], ARGV[1], 'PX', ARGV[2]) end
end
local ver = tonumber(redis.call('get', KEYS[1]) or '0')
local mine = tonumber(ARGV[3])
if mine == ver and #ARGV == 7 then return ver end
local out = {ver, false, false}
if mine == ver then
  out[2] = {}
elseif mine >= 0 and mine < ver and ver - mine <= tonumber(ARGV[6]) and ver - mine <= redis.call('llen', KEYS[2]) then
  local entries = redis.call('lrange', KEYS[2], mine - ver, -1)
  local size = 0
  for _, e in ipairs(entries) do size = size + #e end
  if size <= tonumber(ARGV[7]) then out[2] = entries end
end
if not out[2] then out[3] = redis.call('hgetall', KEYS[3]) end
local p = ARGV[4]
local i = 8
while i <= #ARGV do
  if ARGV[i] == 'r' then
    out[#out + 1] = redis.call('hget', p .. 'r:' .. ARGV[i + 1], ARGV[i + 2])
    i = i + 3
  else
    local key = p .. 'i:' .. ARGV[i + 1]
    out[#out + 1] = {redis.call('zcard', key), redis.call('zrange', key, 0, tonumber(ARGV[5]), 'WITHSCORES')}
    i = i + 2
  end
end
return out
"""

EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lock, wake. ARGV: token.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('del', KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], 1000)
  return 1
end
return 0
"""

SYNC_SCRIPT = Script(SYNC)


def sync(wire: Wire, keys: Keys, version: int, items: list[Any] = (), token: str = "", ttl_ms: int = 0) -> Any:  # type: ignore[assignment]
    """Catch up from ``version`` (and read ``items``; take the lock with ``token``): one round trip."""
    return wire.run(SYNC_SCRIPT, *sync_call(keys, version, items, token, ttl_ms))


def sync_call(keys: Keys, version: int, items: list[Any] = (), token: str = "",  # type: ignore[assignment]
              ttl_ms: int = 0) -> tuple[list[str], list[Any]]:
    """The keys and arguments of a ``SYNC`` (a plain catch-up: ``sync_call(keys, version)``)."""
    return ([keys.version, keys.log, keys.meta, keys.lock],
            [token, ttl_ms, version, keys.prefix, cache.HEAD_MAX, cache.CATCH_UP_MAX, cache.CATCH_UP_BYTES, *items])


class Lock:
    """This process's side of the exclusive lock: the local queue, the token held, the watchdog."""

    def __init__(self, wire: Wire, keys: Keys, ttl_ms: int) -> None:
        self.wire = wire
        self.keys = keys
        self.ttl_ms = ttl_ms
        self.local = threading.RLock()  # one exclusive block of this process at a time
        self.token: str | None = None  # the Redis lock's token while this process holds it
        self.extend_script = Script(EXTEND)
        self.release_script = Script(RELEASE)
        self._watchdog: threading.Thread | None = None

    def acquire(self, token: str, version: int) -> Any:
        """Take the Redis lock (call holding ``local``) and catch up in the same round trip; returns the sync reply."""
        self._ensure_watchdog()
        deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
        while True:
            reply = sync(self.wire, self.keys, version, [], token, self.ttl_ms)
            if not isinstance(reply, list) or reply[0] != -1:
                self.token = token
                return reply
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not take the store lock {self.keys.lock} in {ACQUIRE_TIMEOUT_S}s")
            self.wait()

    def wait(self) -> None:
        """Wait (at most ``WAIT_SLICE_S``) for the holder to let go."""
        self.wire.stats["waits"] += 1
        self.wire.call("BLPOP", self.keys.wake, WAIT_SLICE_S)

    def release(self, token: str) -> None:
        """Give the lock up without writing (a block that wrote nothing, or failed)."""
        self.token = None
        self.wire.run(self.release_script, [self.keys.lock, self.keys.wake], [token])

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="ltx-redis-lock", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """Extend the lock while this process holds it, so only a dead (or frozen) holder ever loses it."""
        pid = os.getpid()
        while not self.wire.closing.wait(self.ttl_ms / 3000):
            if pid != os.getpid():
                return
            token = self.token
            if token is None:
                continue
            with suppress(redis.RedisError):
                self.wire.run(self.extend_script, [self.keys.lock], [token, self.ttl_ms], counted=False)
