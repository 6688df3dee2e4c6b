"""The request journal in Redis: written by one script, outside the lock and the change log; no process mirrors it.

Every process appends its buffered entries (``sim/journal.py``) off the request path; each append is atomic by
itself (one script numbers, keeps and trims), so it needs neither the store's lock nor a place in the change log,
and the journal (up to ``journal_max_bytes``) takes no memory in the processes. Keys (``keys.py``):
``<p>j:e`` HASH id -> entry JSON (its id is added when read), ``<p>j:i`` ZSET id -> id (the order), ``<p>j:z`` HASH
id -> its size, ``<p>j:s`` HASH ``seq`` (the last id) and ``bytes`` (the size kept). A reset (``clear``) deletes
them with everything else; ``journal_clear`` keeps ``seq``.
"""

from __future__ import annotations

import json
from typing import Any

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Script, Wire

# KEYS: e, i, z, s. ARGV: limit, max bytes, then (entry JSON, size) pairs. Trims the oldest while over either cap
# (the newest always stays), as the generic journal_append does.
APPEND = Script("""
local seq = tonumber(redis.call('hget', KEYS[4], 'seq') or '0')
local total = tonumber(redis.call('hget', KEYS[4], 'bytes') or '0')
for k = 3, #ARGV, 2 do
  seq = seq + 1
  redis.call('hset', KEYS[1], seq, ARGV[k])
  redis.call('zadd', KEYS[2], seq, seq)
  redis.call('hset', KEYS[3], seq, ARGV[k + 1])
  total = total + tonumber(ARGV[k + 1])
end
local count = redis.call('zcard', KEYS[2])
local limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
while count > limit or (total > cap and count > 1) do
  local oldest = redis.call('zrange', KEYS[2], 0, 0)[1]
  total = total - tonumber(redis.call('hget', KEYS[3], oldest) or '0')
  redis.call('zrem', KEYS[2], oldest)
  redis.call('hdel', KEYS[3], oldest)
  redis.call('hdel', KEYS[1], oldest)
  count = count - 1
end
if total < 0 then total = 0 end
redis.call('hset', KEYS[4], 'seq', seq, 'bytes', total)
return seq
""")

# KEYS: i, e. ARGV: offset, stop (-1: to the oldest). Newest first: ids and their entries.
PAGE = Script("""
local ids = redis.call('zrevrange', KEYS[1], ARGV[1], ARGV[2])
local entries = {}
for first = 1, #ids, 1000 do  -- unpack() has a limit of a few thousand values
  local part = redis.call('hmget', KEYS[2], unpack(ids, first, math.min(first + 999, #ids)))
  for _, raw in ipairs(part) do entries[#entries + 1] = raw end
end
return {ids, entries}
""")

# KEYS: e, i, z, s.
CLEAR = Script("""
redis.call('del', KEYS[1], KEYS[2], KEYS[3])
redis.call('hset', KEYS[4], 'bytes', 0)
return 1
""")


class RedisJournal:
    """The journal methods of ``RedisStore`` (``Store.journal_*``)."""

    def __init__(self, wire: Wire, keys: Keys) -> None:
        self.wire = wire
        self.keys = keys
        self._all = [keys.journal(p) for p in "eizs"]

    def append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int, max_bytes: int) -> None:
        args: list[Any] = [limit, max_bytes]
        for entry, size in zip(entries, sizes, strict=True):
            args += (json.dumps(entry, separators=(",", ":"), ensure_ascii=False), size)
        self.wire.run(APPEND, self._all, args, counted=False)  # off the request path: not a request's round trip

    def page(self, offset: int, limit: int | None) -> list[dict[str, Any]]:
        stop = -1 if limit is None else offset + limit - 1
        if (limit is not None and limit <= 0) or offset < 0:
            return []
        ids, raws = self.wire.run(PAGE, [self.keys.journal("i"), self.keys.journal("e")], [offset, stop])
        out = []
        for entry_id, raw in zip(ids, raws, strict=True):
            if raw is not None:
                entry = json.loads(raw)
                entry["id"] = int(entry_id)
                out.append(entry)
        return out

    def get(self, entry_id: str) -> dict[str, Any] | None:
        if not entry_id.isdigit():
            return None
        raw = self.wire.call("HGET", self.keys.journal("e"), entry_id)
        if raw is None:
            return None
        entry: dict[str, Any] = json.loads(raw)
        entry["id"] = int(entry_id)
        return entry

    def count(self) -> int:
        return int(self.wire.call("ZCARD", self.keys.journal("i")))

    def stored_bytes(self) -> int:
        return int(self.wire.call("HGET", self.keys.journal("s"), "bytes") or 0)

    def clear(self) -> None:
        self.wire.run(CLEAR, self._all, [])
