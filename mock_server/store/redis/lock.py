"""The cross-process lock behind ``RedisStore.atomic()``, and catching up with the change log.

* Taking the lock and catching up are one script (``SYNC``): ``SET <p>lock token NX PX ttl``
  (a retried call that already took it succeeds too) and, in the same reply, the change-log
  entries after the caller's version, or the whole state when it is further behind than the
  log reaches. Without a token the same script only catches up (a read: no lock).
* A process that cannot take it marks ``<p>lock:want`` and waits on ``BLPOP <p>lock:wake``
  (at most ``WAIT_SLICE_S`` per wait): no busy spinning. The holder's commit releases the lock
  when someone wants it.
* Threads of one process serialise on a local re-entrant lock while a block runs; the Redis
  lock is the process's (``token``), kept while any writing request of the process is in
  flight (``RedisStore``'s group commit), let go by the last one out, or as soon as another
  process has asked for it (``want``), so processes take turns.
* A watchdog thread extends the lock every ttl/3 while this process holds it, so only a dead
  (or frozen) holder loses it, ``ttl`` after it stopped.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from typing import Any

import redis

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Script, Wire

WAIT_SLICE_S = 0.05  # longest a waiter sleeps before trying the lock again (an expired holder never wakes it)
ACQUIRE_TIMEOUT_S = 60.0  # give up (raise) rather than hang a request forever


# KEYS: lock, ver, log, want, meta. ARGV: token ('' = no lock), ttl ms, my version, prefix, escaped prefix.
# Reply: {0} the lock is someone else's; {1, ver, [entries after mine]}; {2, ver, meta, hashes, zsets}: the
# whole state, mine being too old for the log; {3, ...} the same, mine being newer (Redis lost its data).
SYNC = """
if ARGV[1] ~= '' then
  local holder = redis.call('get', KEYS[1])
  if holder and holder ~= ARGV[1] then
    redis.call('set', KEYS[4], '1', 'PX', ARGV[2])
    return {0}
  end
  if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
end
local ver = tonumber(redis.call('get', KEYS[2]) or '0')
local mine = tonumber(ARGV[3])
if mine == ver then return {1, ver} end
if mine >= 0 and mine < ver and ver - mine <= redis.call('llen', KEYS[3]) then
  return {1, ver, redis.call('lrange', KEYS[3], mine - ver, -1)}
end
local skip = #ARGV[4] + 3
local function scan(pattern, fetch)
  local out = {}
  local cursor = '0'
  repeat
    local r = redis.call('scan', cursor, 'match', pattern, 'count', 1000)
    cursor = r[1]
    for _, key in ipairs(r[2]) do
      out[#out + 1] = string.sub(key, skip)
      out[#out + 1] = fetch(key)
    end
  until cursor == '0'
  return out
end
local hashes = scan(ARGV[5] .. 'r:*', function(k) return redis.call('hgetall', k) end)
local zsets = scan(ARGV[5] .. 'i:*', function(k) return redis.call('zrange', k, 0, -1, 'withscores') end)
return {mine > ver and 3 or 2, ver, redis.call('hgetall', KEYS[5]), hashes, zsets}
"""

EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lock, wake, want. ARGV: token.
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('del', KEYS[3])
  redis.call('del', KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], 1000)
  return 1
end
return 0
"""


class Lock:
    """This process's side of the Redis lock: the local queue, the token held, the watchdog."""

    def __init__(self, wire: Wire, keys: Keys, ttl_ms: int) -> None:
        self.wire = wire
        self.keys = keys
        self.ttl_ms = ttl_ms
        self.local = threading.RLock()
        self._count = threading.Lock()
        self.waiting = 0  # threads of this process queued on ``local``
        self.token: str | None = None  # the Redis lock's token while this process holds it
        self.sync_script = Script(SYNC)
        self.extend_script = Script(EXTEND)
        self.release_script = Script(RELEASE)
        self._watchdog: threading.Thread | None = None

    def enter_local(self) -> None:
        with self._count:
            self.waiting += 1
        try:
            self.local.acquire()
        finally:
            with self._count:
                self.waiting -= 1

    def exit_local(self) -> None:
        self.local.release()

    def sync_args(self, token: str, version: int) -> list[Any]:
        return [token, self.ttl_ms, version, self.keys.prefix, self.keys.pattern_prefix]

    def _sync_keys(self) -> list[str]:
        k = self.keys
        return [k.lock, k.version, k.log, k.want, k.meta]

    def sync(self, version: int) -> Any:
        """Catch up without the lock: one round trip."""
        self.wire.stats["syncs"] += 1
        return self.wire.run(self.sync_script, self._sync_keys(), self.sync_args("", version))

    def acquire(self, token: str, version: int) -> Any:
        """Take the Redis lock (call holding ``local``) and catch up in the same round trip; returns the sync reply."""
        self._ensure_watchdog()
        deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
        while True:
            reply = self.wire.run(self.sync_script, self._sync_keys(), self.sync_args(token, version))
            if reply[0] != 0:
                return reply
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not take the store lock {self.keys.lock} in {ACQUIRE_TIMEOUT_S}s")
            self.wire.stats["waits"] += 1
            self.wire.call("BLPOP", self.keys.wake, WAIT_SLICE_S)

    def release(self, token: str) -> None:
        """Give the lock up without writing (a block that wrote nothing, or failed)."""
        self.token = None
        self.wire.run(self.release_script, [self.keys.lock, self.keys.wake, self.keys.want], [token])

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
                self.wire.run(self.extend_script, [self.keys.lock], [token, self.ttl_ms])
