"""The request journal in Redis: written by scripts, outside the lock and the change log; no process mirrors it.

Each process keeps its entries and writes them only when someone reads the journal or the process stops
(``sim/journal.py``), so entries arrive late and out of order: one process's old entries after another's new ones.
The journal therefore keeps them in the order they were *answered*, not the order they arrived:

* a write (``append``, one script: no lock, no change log) stages them in ``<p>j:p`` (ZSET, scored by when each
  was answered, µs; member ``<process token>.<its counter>``, so one process's ties keep its order) and ``<p>j:q``
  (HASH member -> ``"<size> <entry JSON>"``), trimmed to the caps as the journal is;
* every read (``page``, ``count``, ``stored_bytes``: one script each) first moves what is staged into the
  journal in that order, numbering it (ids stay once given; a read numbers everything answered before it in
  answer order, so ``since=<id>`` means "answered after"), then trims the oldest *answered* while over
  ``limit`` or ``max_bytes``, then reads: ``<p>j:e`` HASH id -> entry JSON (its id is added when read), ``<p>j:i``
  ZSET scored by when answered (µs), member the id zero-padded (ties in id order), ``<p>j:z`` HASH id -> its
  size, ``<p>j:s`` HASH ``seq`` (the last id), ``bytes`` (the size kept), ``pbytes`` (the size staged),
  ``limit`` and ``cap`` (the last writer's caps, applied when merging).

``clear`` (``DELETE /__admin/requests``, and a reset inside its block) deletes them, keeps ``seq``, and moves
``<p>jcut`` (µs; outside ``j:*``, so a reset's wholesale delete keeps it) to now: an entry answered before it
that arrives later (another process's, at its next write) is dropped. Clocks: the processes sharing a store are
taken to share the wall clock (one host, or NTP), as the order itself does.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from typing import Any

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Script, Wire

# KEYS: p, q, s, cut. ARGV: limit, max bytes, then (member, answered µs, size, entry JSON) quadruples. Safe to run
# twice (a retried round trip): a member already staged is not counted again. Drops what a clear cut off; trims
# the oldest staged while over either cap (the newest always stays).
STAGE = Script("""
local cut = tonumber(redis.call('get', KEYS[4]) or '-1')
local pbytes = tonumber(redis.call('hget', KEYS[3], 'pbytes') or '0')
for k = 3, #ARGV, 4 do
  local kept = tonumber(ARGV[k + 1]) >= cut
  if kept and redis.call('hsetnx', KEYS[2], ARGV[k], ARGV[k + 2] .. ' ' .. ARGV[k + 3]) == 1 then
    redis.call('zadd', KEYS[1], ARGV[k + 1], ARGV[k])
    pbytes = pbytes + tonumber(ARGV[k + 2])
  end
end
local count = redis.call('zcard', KEYS[1])
local limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
while count > limit or (pbytes > cap and count > 1) do
  local oldest = redis.call('zrange', KEYS[1], 0, 0)[1]
  local v = redis.call('hget', KEYS[2], oldest)
  if v then pbytes = pbytes - tonumber(string.sub(v, 1, string.find(v, ' ', 1, true) - 1)) end
  redis.call('zrem', KEYS[1], oldest)
  redis.call('hdel', KEYS[2], oldest)
  count = count - 1
end
if pbytes < 0 then pbytes = 0 end
redis.call('hset', KEYS[3], 'pbytes', pbytes, 'limit', limit, 'cap', cap)
return count
""")

# What every read runs first. KEYS: e, i, z, s, p, q, cut (then the read's own). Numbers the oldest-answered
# MERGE_BATCH staged entries in the order they were answered, moves them into the journal, trims the oldest
# answered while over either cap; returns how many are still staged (the read then runs again before reading: no
# script holds Redis for long). Safe to run twice: what it moved is no longer staged.
MERGE_BATCH = 500
MERGE = """
local function merge()
  local staged = redis.call('zrange', KEYS[5], 0, MERGE_LAST, 'withscores')
  if #staged == 0 then return 0 end
  local cut = tonumber(redis.call('get', KEYS[7]) or '-1')
  local seq = tonumber(redis.call('hget', KEYS[4], 'seq') or '0')
  local total = tonumber(redis.call('hget', KEYS[4], 'bytes') or '0')
  local pbytes = tonumber(redis.call('hget', KEYS[4], 'pbytes') or '0')
  for k = 1, #staged, 2 do
    local v = redis.call('hget', KEYS[6], staged[k])
    if v then
      local sp = string.find(v, ' ', 1, true)
      local size = tonumber(string.sub(v, 1, sp - 1))
      pbytes = pbytes - size
      if tonumber(staged[k + 1]) >= cut then
        seq = seq + 1
        redis.call('hset', KEYS[1], seq, string.sub(v, sp + 1))
        redis.call('zadd', KEYS[2], staged[k + 1], string.format('%012d', seq))
        redis.call('hset', KEYS[3], seq, size)
        total = total + size
      end
      redis.call('hdel', KEYS[6], staged[k])
    end
    redis.call('zrem', KEYS[5], staged[k])
  end
  local limit = tonumber(redis.call('hget', KEYS[4], 'limit') or '10000')
  local cap = tonumber(redis.call('hget', KEYS[4], 'cap') or '33554432')
  local count = redis.call('zcard', KEYS[2])
  while count > limit or (total > cap and count > 1) do
    local oldest = redis.call('zrange', KEYS[2], 0, 0)[1]
    local id = tostring(tonumber(oldest))
    total = total - tonumber(redis.call('hget', KEYS[3], id) or '0')
    redis.call('zrem', KEYS[2], oldest)
    redis.call('hdel', KEYS[3], id)
    redis.call('hdel', KEYS[1], id)
    count = count - 1
  end
  if total < 0 then total = 0 end
  if pbytes < 0 then pbytes = 0 end
  redis.call('hset', KEYS[4], 'seq', seq, 'bytes', total, 'pbytes', pbytes)
  return redis.call('zcard', KEYS[5])
end
local left = merge()
if left > 0 then return {left} end
""".replace("MERGE_LAST", str(MERGE_BATCH - 1))

# ARGV: offset, stop (-1: to the oldest). Newest answered first: ids and their entries.
PAGE = Script(MERGE + """
local members = redis.call('zrevrange', KEYS[2], ARGV[1], ARGV[2])
local ids, entries = {}, {}
for n, member in ipairs(members) do ids[n] = tostring(tonumber(member)) end
for first = 1, #ids, 1000 do  -- unpack() has a limit of a few thousand values
  local part = redis.call('hmget', KEYS[1], unpack(ids, first, math.min(first + 999, #ids)))
  for _, raw in ipairs(part) do entries[#entries + 1] = raw end
end
return {0, ids, entries}
""")

COUNT = Script(MERGE + "return {0, redis.call('zcard', KEYS[2])}\n")

BYTES = Script(MERGE + "return {0, tonumber(redis.call('hget', KEYS[4], 'bytes') or '0')}\n")

# KEYS: e, i, z, s, p, q, cut. ARGV: now (µs): the cut only moves forward.
CLEAR = Script("""
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6])
redis.call('hset', KEYS[4], 'bytes', 0, 'pbytes', 0)
local cut = tonumber(redis.call('get', KEYS[7]) or '-1')
if tonumber(ARGV[1]) > cut then redis.call('set', KEYS[7], ARGV[1]) end
return 1
""")
STAGE_BATCH = 500  # entries per write script: none holds Redis for long


class RedisJournal:
    """The journal methods of ``RedisStore`` (``Store.journal_*``)."""

    def __init__(self, wire: Wire, keys: Keys) -> None:
        self.wire = wire
        self.keys = keys
        self._all = [keys.journal(p) for p in "eizspq"] + [keys.journal_cut]
        self._pid = 0
        self._mark = ""
        self._counter = itertools.count()

    def _members(self, n: int) -> list[str]:
        """``n`` staging names, in this process's order: its mark (new in a forked child) and a counter."""
        if self._pid != os.getpid():
            self._pid, self._mark, self._counter = os.getpid(), uuid.uuid4().hex[:12], itertools.count()
        return [f"{self._mark}.{i:012d}" for i in itertools.islice(self._counter, n)]

    def append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int, max_bytes: int,
               times_us: list[int] | None = None) -> None:
        if times_us is None:
            times_us = [int(e.get("time_ms") or 0) * 1000 for e in entries]
        p, q, s, cut = self._all[4], self._all[5], self._all[3], self._all[6]
        members = self._members(len(entries))
        for first in range(0, len(entries), STAGE_BATCH):
            args: list[Any] = [limit, max_bytes]
            for k in range(first, min(first + STAGE_BATCH, len(entries))):
                args += (members[k], times_us[k], sizes[k],
                         json.dumps(entries[k], separators=(",", ":"), ensure_ascii=False))
            self.wire.run(STAGE, [p, q, s, cut], args, counted=False)  # not a request's round trip

    def _read(self, script: Script, args: list[Any]) -> list[Any]:
        """A read script's answer, once everything staged is in the journal (a batch per run)."""
        while True:
            reply: list[Any] = self.wire.run(script, self._all, args)
            if int(reply[0]) == 0:
                return reply[1:]

    def page(self, offset: int, limit: int | None) -> list[dict[str, Any]]:
        stop = -1 if limit is None else offset + limit - 1
        if (limit is not None and limit <= 0) or offset < 0:
            return []
        ids, raws = self._read(PAGE, [offset, stop])
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
        return int(self._read(COUNT, [])[0])

    def stored_bytes(self) -> int:
        return int(self._read(BYTES, [])[0])

    def clear(self) -> None:
        self.wire.run(CLEAR, self._all, [time.time_ns() // 1000])
