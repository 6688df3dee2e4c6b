"""Pending writes: applied to this process's mirror at once, sent to Redis in one script.

While the lock is held nobody else writes, so the mirror (caught up when the lock was taken)
is the state, and a block's reads need no round trip. Each write is applied to the mirror
straight away (so the block reads its own writes) and kept as an operation, together with
the operation that undoes it. A request's end (or a block outside any request) sends every
operation pending in the process in one ``COMMIT`` script
that checks the lock still holds our token, applies them, appends them to the change log as
the next version and releases the lock (or, while other requests of the process are in flight,
extends it and reports whether another process asked for it). A block is therefore all or
nothing: a process killed inside one has written nothing to Redis; one whose lock expired (a
paused process) can write nothing (``LockLost``), and an exception leaving a block outside a
request undoes its writes in the mirror.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from mock_server.store.redis.keys import Keys
from mock_server.store.redis.mirror import LOG_LIMIT, Op
from mock_server.store.redis.wire import Script, Wire

# KEYS: lock, wake, done, ver, log, want, meta.
# ARGV: token, release ('1'/'0'), expected version, the log entry (JSON; '' = nothing written), ttl ms, prefix,
# escaped prefix, log limit, then the operations flat (code, its fields, code, ...; blobs with their bytes).
# Reply: {1, new version, another process wants the lock}; {2, ...} for a retried commit already applied.
# The operations come flat rather than decoded from the JSON: cjson.decode cost ~80 us of redis-server per commit.
COMMIT = """
local marker = ARGV[1] .. ':' .. ARGV[3]
local wrote = ARGV[4] ~= ''
if redis.call('get', KEYS[3]) == marker then
  return {2, tonumber(ARGV[3]) + (wrote and 1 or 0), redis.call('exists', KEYS[6])}
end
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST the atomic() lock expired or was taken over before commit')
end
local ver = tonumber(redis.call('get', KEYS[4]) or '0')
if ver ~= tonumber(ARGV[3]) then
  return redis.error_reply('LOCKLOST the change log moved on under our lock (version ' .. ver .. ')')
end
local p = ARGV[6]
local i = 9
local n = #ARGV
while i <= n do
  local c = ARGV[i]
  if c == 'HS' then redis.call('hset', p .. 'r:' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif c == 'HD' then redis.call('hdel', p .. 'r:' .. ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif c == 'MS' then redis.call('hset', KEYS[7], ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif c == 'MD' then redis.call('hdel', KEYS[7], ARGV[i + 1]); i = i + 2
  elseif c == 'ZA' then redis.call('zadd', p .. 'i:' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif c == 'ZR' then redis.call('zrem', p .. 'i:' .. ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif c == 'ZD' then redis.call('del', p .. 'i:' .. ARGV[i + 1]); i = i + 2
  elseif c == 'BS' then redis.call('set', p .. 'b:' .. ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif c == 'BD' then redis.call('del', p .. 'b:' .. ARGV[i + 1]); i = i + 2
  elseif c == 'X' then
    for _, pattern in ipairs({'r:*', 'i:*', 'b:*', 'j:*'}) do
      local cursor = '0'
      repeat
        local r = redis.call('scan', cursor, 'match', ARGV[7] .. pattern, 'count', 1000)
        cursor = r[1]
        for _, key in ipairs(r[2]) do redis.call('del', key) end
      until cursor == '0'
    end
    redis.call('del', KEYS[7])
    i = i + 1
  else return redis.error_reply('unknown op ' .. tostring(c)) end
end
local nv = ver
if wrote then
  nv = ver + 1
  redis.call('set', KEYS[4], nv)
  redis.call('rpush', KEYS[5], ARGV[4])
  redis.call('ltrim', KEYS[5], -tonumber(ARGV[8]), -1)
end
local wanted = redis.call('exists', KEYS[6])
if ARGV[2] == '1' then
  redis.call('del', KEYS[1])
  redis.call('del', KEYS[6])
  redis.call('del', KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], 1000)
else
  redis.call('pexpire', KEYS[1], ARGV[5])
end
redis.call('set', KEYS[3], marker, 'PX', 10000)
return {1, nv, wanted}
"""

CODES = frozenset({"HS", "HD", "MS", "MD", "ZA", "ZR", "ZD", "BS", "BD", "X"})


class LockLost(RuntimeError):
    """The ``atomic()`` lock expired (or was taken over) before the block committed: nothing was written."""


class Txn:
    """The operations pending in a process that holds the lock (every block's since the last commit)."""

    __slots__ = ("blob_args", "blobs", "cleared", "ops", "token", "undo")

    def __init__(self, token: str) -> None:
        self.token = token
        self.ops: list[Op] = []
        self.undo: list[Op] = []  # in the order the writes were made; undone last first
        self.blobs: dict[str, bytes | None] = {}  # blob writes not yet in Redis (read your own writes)
        self.blob_args: list[bytes] = []
        self.cleared = False

    def blob_op(self, key: str, data: bytes | None) -> Op:
        """The operation for a blob write; the bytes travel beside it (``blob_args``, in order), never in the log."""
        self.blobs[key] = data
        if data is None:
            return ["BD", key]
        self.blob_args.append(data)
        return ["BS", key]

    def flat(self) -> list[Any]:
        """Every operation's fields in one list, each blob write with its bytes: the commit script's arguments."""
        out: list[Any] = []
        blobs = iter(self.blob_args)
        for op in self.ops:
            out += op
            if op[0] == "BS":
                out.append(next(blobs))
        return out


COMMIT_SCRIPT = Script(COMMIT)


def commit(wire: Wire, keys: Keys, txn: Txn, *, version: int, release: bool, ttl_ms: int) -> tuple[int, bool]:
    """Send the pending operations (one round trip); returns (the new version, whether another process wants the
    lock). With ``release`` the lock is let go in the same script; else it is extended."""
    payload = json.dumps(txn.ops, separators=(",", ":"), ensure_ascii=False) if txn.ops else ""
    try:
        reply = wire.run(COMMIT_SCRIPT, [keys.lock, keys.wake, keys.done, keys.version, keys.log, keys.want,
                                         keys.meta],
                         [txn.token, "1" if release else "0", version, payload, ttl_ms, keys.prefix,
                          keys.pattern_prefix, LOG_LIMIT, *txn.flat()])
    except redis.ResponseError as exc:
        if "LOCKLOST" in str(exc):
            raise LockLost(str(exc)) from None
        raise
    return int(reply[1]), bool(reply[2])


def encode(value: Any) -> str:
    """A stored value as JSON text (records, meta)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
