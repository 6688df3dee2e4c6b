"""One transaction: what it read (to check at commit), what it wrote (sent in one script), applied by Redis at once.

A request (or a ``transact``) runs its rules against the cache with no lock anywhere: each read is remembered as a
**check** (this record had this value, this index had these members in this range, this count), each write is kept
as an operation, in an overlay the transaction reads its own writes from. At the end one ``COMMIT`` script checks,
inside Redis, that every read would still give the same answer; if so it applies the operations, appends them to
the change log as the next version, and answers; if not (another transaction changed something this one read) it
writes nothing and answers *conflict*: the caller runs the request again on fresh data (``Conflict``).

So a transaction is atomic over exactly the keys it touched, and two transactions conflict only if one wrote what
the other read: two requests for different accounts never wait for each other, in one process or across hosts.
The checks compare what was read, not versions, so an unrelated write to a shared index (another account's job
added to the jobs index, beyond the range a settle looked at) is no conflict.

A block outside any request (start-up, a scenario, a test's ``with store.atomic()``) is **exclusive** instead: it
takes ``<p>lock`` (with catching up, one script), which makes every optimistic commit wait until it commits and
lets go; its own commit carries the lock's token (fencing: an expired holder writes nothing, ``LockLost``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import msgpack
import redis

from mock_server.store.base import Conflict
from mock_server.store.redis.cache import LOG_LIMIT, Head, Op
from mock_server.store.redis.keys import Keys
from mock_server.store.redis.wire import Script, Wire

INF = float("inf")
ENTRIES_BACK = 64  # a commit's reply carries the log entries after the caller's cache version, up to this many

# KEYS: ver, log, meta, lock, done (this transaction's), wake.
# ARGV: 1 transaction id, 2 lock token ('' = optimistic), 3 base version (or 'base id1 id2...': also the ids of
# the commits sent ahead whose writes it read, ``Prior.ids``: the checks are skipped when those are every change
# since base), 4 prefix, 5 escaped prefix, 6 log limit,
# 7 the caller's cache version, 8 entries back, 9 release ('1'/'0'), 10 ttl ms, 11 the checks (MessagePack: an
# array of the transaction's reads as it recorded them, ``Txn.reads``: nil for an absent value or no limit, scores
# and bounds as numbers), 12 the log entry (MessagePack: an array of operations, the writer's mark first; '': it wrote
# nothing, only its reads are checked: a writing method's request that ended up changing nothing), 13 the ids of this
# thread's commits sent ahead of this one, replies not yet read ('id1 id2...', or ''), then the bytes of each blob
# write (``BS``), in order.
# Two arguments rather than one per field: packing ~150 arguments cost the caller more than the commit's checks and
# operations themselves; the checks are unpacked only when the version moved, and the log entry is stored as sent.
# Reply: {1, version, entries | false}: the log entries after the caller's cache version, before this one's (those of
# the commits in ARGV 13 as false: the caller has them, and they are most of them, ~1.7 kB each, with commits two
# ahead);
# {2, version, false}: a retried commit already applied; {3, version, at}: check number ``at`` (1-based) failed
# (conflict), nothing written; {0}: an exclusive block holds the lock (wait, then again).
COMMIT = """
local done = redis.call('get', KEYS[5])
if done then return {2, tonumber(done), false} end
local holder = redis.call('get', KEYS[4])
if ARGV[2] ~= '' then
  if holder ~= ARGV[2] then
    return redis.error_reply('LOCKLOST the atomic() lock expired or was taken over before commit')
  end
elseif holder then
  return {0}
end
local ver = tonumber(redis.call('get', KEYS[1]) or '0')
local p = ARGV[4]
local base = ARGV[3]
local current
if string.find(base, ' ', 1, true) then
  -- 'base id1 id2 ...': the transaction also read the writes of these commits, sent before it on this connection.
  -- Nothing else changed since it began iff each of them committed after base and they are every change since.
  local ids = {}
  for word in string.gmatch(base, '%S+') do ids[#ids + 1] = word end
  local from = tonumber(ids[1])
  current = ver == from + #ids - 1
  for j = 2, #ids do
    if not current then break end
    local at = redis.call('get', p .. 'done:' .. ids[j])
    current = at ~= false and tonumber(at) > from
  end
else
  current = ver == tonumber(base)
end
if not current then
  for i, c in ipairs(cmsgpack.unpack(ARGV[11])) do
    local code = c[1]
    if code == 'h' or code == 'm' then
      local v, want
      if code == 'h' then v, want = redis.call('hget', p .. 'r:' .. c[2], c[3]), c[4]
      else v, want = redis.call('hget', KEYS[3], c[2]), c[3] end
      if want == nil then
        if v then return {3, ver, i} end
      elseif v ~= want then return {3, ver, i} end
    elseif code == 's' then
      local v = redis.call('zscore', p .. 'i:' .. c[2], c[3])
      if c[4] == nil then
        if v then return {3, ver, i} end
      elseif not v or tonumber(v) ~= c[4] then return {3, ver, i} end
    elseif code == 'c' then
      if redis.call('zcount', p .. 'i:' .. c[2], c[3], c[4]) ~= c[5] then return {3, ver, i} end
    elseif code == 'b' then
      local got
      if c[5] == nil then got = redis.call('zrangebyscore', p .. 'i:' .. c[2], c[3], c[4], 'WITHSCORES')
      else got = redis.call('zrangebyscore', p .. 'i:' .. c[2], c[3], c[4], 'WITHSCORES', 'LIMIT', 0, c[5]) end
      local want = c[6]
      if #got ~= 2 * #want then return {3, ver, i} end
      for j, w in ipairs(want) do
        if got[2 * j - 1] ~= w[1] or tonumber(got[2 * j]) ~= w[2] then return {3, ver, i} end
      end
    elseif code == 'g' then
      local got
      if c[5] then got = redis.call('zrevrange', p .. 'i:' .. c[2], c[3], c[4])
      else got = redis.call('zrange', p .. 'i:' .. c[2], c[3], c[4]) end
      local want = c[6]
      if #got ~= #want then return {3, ver, i} end
      for j, w in ipairs(want) do
        if got[j] ~= w then return {3, ver, i} end
      end
    else return redis.error_reply('unknown check ' .. tostring(code)) end
  end
end
local wrote = ARGV[12] ~= ''
if wrote then
  local blob = 13
  for _, op in ipairs(cmsgpack.unpack(ARGV[12])) do
    local c = op[1]
    if c == 'HS' then redis.call('hset', p .. 'r:' .. op[2], op[3], op[4])
    elseif c == 'HD' then redis.call('hdel', p .. 'r:' .. op[2], op[3])
    elseif c == 'MS' then redis.call('hset', KEYS[3], op[2], op[3])
    elseif c == 'MD' then redis.call('hdel', KEYS[3], op[2])
    elseif c == 'ZA' then redis.call('zadd', p .. 'i:' .. op[2], op[3], op[4])
    elseif c == 'ZR' then redis.call('zrem', p .. 'i:' .. op[2], op[3])
    elseif c == 'ZD' then redis.call('del', p .. 'i:' .. op[2])
    elseif c == 'BS' then blob = blob + 1; redis.call('set', p .. 'b:' .. op[2], ARGV[blob])
    elseif c == 'BD' then redis.call('del', p .. 'b:' .. op[2])
    elseif c == 'X' then
      for _, pattern in ipairs({'r:*', 'i:*', 'b:*', 'j:*'}) do
        local cursor = '0'
        repeat
          local r = redis.call('scan', cursor, 'match', ARGV[5] .. pattern, 'count', 1000)
          cursor = r[1]
          for _, key in ipairs(r[2]) do redis.call('del', key) end
        until cursor == '0'
      end
      redis.call('del', KEYS[3])
    elseif c ~= 'P' then return redis.error_reply('unknown op ' .. tostring(c)) end
  end
end
local nv = ver
if wrote then
  nv = ver + 1
  redis.call('set', KEYS[1], nv)
  redis.call('rpush', KEYS[2], ARGV[12])
  redis.call('ltrim', KEYS[2], -tonumber(ARGV[6]), -1)
  redis.call('set', KEYS[5], nv, 'PX', 10000)
end
if ARGV[2] ~= '' then
  if ARGV[9] == '1' then
    redis.call('del', KEYS[4])
    redis.call('del', KEYS[6])
    redis.call('rpush', KEYS[6], '1')
    redis.call('pexpire', KEYS[6], 1000)
  else
    redis.call('pexpire', KEYS[4], ARGV[10])
  end
end
local mine = tonumber(ARGV[7])
local entries = false
if mine >= 0 and mine < nv and nv - mine <= tonumber(ARGV[8]) then
  entries = {}
  if mine < ver then
    local own = {}
    for id in string.gmatch(ARGV[13], '%S+') do
      local at = tonumber(redis.call('get', p .. 'done:' .. id) or '-1')
      if at > mine then own[at] = true end
    end
    local size = 0
    for v = mine + 1, ver do
      local e = false
      if not own[v] then
        e = redis.call('lindex', KEYS[2], v - nv - 1)
        if not e then return {1, nv, false} end
        size = size + #e
      end
      entries[#entries + 1] = e
    end
    if size > 262144 then entries = false end
  end
end
return {1, nv, entries}
"""

COMMIT_SCRIPT = Script(COMMIT)

# A commit sent ahead whose fate is unknown (its reply was lost with the connection) and that cannot be sent again
# in its place (this thread sent others after it, which may have run): settle its fate for good. Its retry marker
# says it ran; else a marker of -1 is left, so the command, should it still reach Redis late, finds "already
# applied" and writes nothing, and a later commit's fast path (``tonumber(at) > from``) does not count it.
# KEYS: done (the transaction's retry marker). Reply: the version it committed as, or nil (it never will).
FENCE = """
local done = redis.call('get', KEYS[1])
if done then return done end
redis.call('set', KEYS[1], '-1', 'PX', 10000)
return false
"""

FENCE_SCRIPT = Script(FENCE)


class _Packers(threading.local):
    """One MessagePack packer per thread, made once: ``msgpack.packb`` makes a ``Packer`` (and its buffer) per call,
    ~15% of packing a commit's arguments."""

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=False)


_PACKERS = _Packers()


def packb(value: Any) -> bytes:
    """The checks, or a log entry, as the commit script's ``cmsgpack`` reads them: the MessagePack of before bin
    types (``use_bin_type=False``: Redis 6.2's cmsgpack refuses them), so a record read as bytes packs as its text.
    Floats travel as float64, which the script hands to Redis exactly (``score_arg``)."""
    packed: bytes = _PACKERS.packer.pack(value)
    return packed


class LockLost(RuntimeError):
    """The exclusive lock expired (or was taken over) before the block committed: nothing was written."""


class Locked(RuntimeError):
    """An exclusive block holds the store: wait for it to let go, then commit again."""


def score_text(x: float) -> str:
    """A score as Redis reads it; NaN is refused before anything is buffered."""
    x = float(x)
    if x != x:
        raise ValueError("index scores cannot be NaN")
    if x == INF:
        return "+inf"
    if x == -INF:
        return "-inf"
    return repr(x)


def score_arg(x: float) -> float | str:
    """A score (a float) as the commit script receives it in MessagePack: a finite one as itself, a float64, which
    the script passes to Redis exactly (Lua numbers become ``%.17g`` text in Redis 6.2, the shortest exact text in
    7+); an infinite one as Redis spells it; NaN refused. Not ``repr()``: a float's shortest text costs ~3,000
    instructions, a sixth of a POST's checks."""
    if -INF < x < INF:
        return x
    return score_text(x)


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` builds a JSONEncoder and its C encoder on every
# call (its own cached one is for the default options only): this one is built once. No circular-reference
# markers: a stored value is JSON data, which holds no cycles (one would raise RecursionError, not ValueError).
_ENCODER = c_make_encoder(None, _unencodable, encode_basestring, None, ":", ",", False, False, True) \
    if c_make_encoder is not None else None


def encode(value: Any) -> str:
    """A stored value as JSON text (records, meta): what ``json.dumps`` gives with compact separators, unescaped
    non-ASCII."""
    if _ENCODER is None:  # pragma: no cover - CPython always has the C encoder
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "".join(_ENCODER(value, 0))


def _unchecked(entry: tuple[Any, ...]) -> None:
    """An exclusive block's read: not remembered (nothing can change under it)."""


class Txn:
    """One transaction's reads (checks), writes (operations) and the overlay it reads its own writes from."""

    __slots__ = ("after", "base", "blob_args", "blobs", "cleared", "doomed", "held", "id", "indexes", "meta", "ops",
                 "prior", "prior_ids", "read", "reads", "records", "token", "validate", "zpending")

    def __init__(self, base: int, token: str = "", txn_id: str = "") -> None:
        self.id = txn_id or uuid.uuid4().hex  # names its retry marker: unique across processes
        self.token = token  # the exclusive lock's token ('' : optimistic)
        self.base = base  # the cache's version when it began: nothing to check if Redis is still there
        self.ops: list[Op] = []
        # What it read, one tuple each (the answer last), made into the commit script's checks only if it commits:
        # ("h", kind, key, json|None) ("m", name, json|None) ("s", index, member, score|None) ("c", index, lo, hi, n)
        # ("b", index, lo, hi, limit|None, [(member, score)]) ("g", index, offset, stop, reverse, [member])
        self.reads: list[tuple[Any, ...]] = []
        # Remember one read: ``reads.append`` itself (a C call; a request makes ~20); an exclusive block needs none
        # (nothing can change under it).
        self.read: Callable[[tuple[Any, ...]], None] = self.reads.append if not token else _unchecked
        self.held: list[Any] = []  # this process's locks on contended keys, held until the transaction ends
        self.doomed = False  # refused before its end (a contended key was busy): its end sends nothing
        self.validate = False  # its reads are checked at its end even if it wrote nothing (a writing method's)
        self.after: list[Any] = []  # what to run once it has committed (``Store.after_commit``: the rules' events)
        self.records: dict[str, dict[str, str | None]] = {}  # written: kind -> key -> JSON (None: deleted)
        self.meta: dict[str, str | None] = {}
        self.indexes: dict[str, Head] = {}  # indexes read after being written: whole, with the writes applied
        self.zpending: dict[str, list[Op]] = {}  # index writes not yet read back (blind: no copy made)
        self.blobs: dict[str, bytes | None] = {}  # blob writes not yet in Redis (read your own writes)
        self.blob_args: list[bytes] = []
        self.cleared = False  # a clear() was written: nothing before it is read
        self.prior: Prior | None = None  # this thread's commits sent ahead, not yet confirmed: read under the cache
        # their ids, kept even once they are settled mid-way (``prior`` then None): a transaction that read from them
        # must never pass as unchanged since it began (``ver == base``), for what it read from them may be older
        # than the cache it began on (a commit of this thread made after them, waiting, overwrote it)
        self.prior_ids: tuple[str, ...] = ()

    # -- checks ---------------------------------------------------------------------------------------
    def checks(self) -> list[tuple[Any, ...]]:
        """The reads as the commit script checks them: each key and range once (the first answer read), as recorded
        (MessagePack packs the tuples as they are: no reformatting, no score text). A NaN bound is refused here, as
        Redis would refuse it."""
        out: list[tuple[Any, ...]] = []
        seen: set[Any] = set()
        for entry in self.reads:
            code = entry[0]
            if code == "m":  # the commonest read (the clock, several times a request): its name alone, no slice
                ident: Any = entry[1]
            else:
                ident = entry[:-1]
                if (code == "c" or code == "b") and (entry[2] != entry[2] or entry[3] != entry[3]):
                    raise ValueError("index scores cannot be NaN")
            if ident in seen:
                continue
            seen.add(ident)
            out.append(entry)
        return out

    def key_at(self, at: int) -> tuple[str, ...] | None:
        """The key whose check is number ``at`` (1-based, as the script reports a failed one): the checks are laid
        out again (only on a conflict, so a commit never pays for it)."""
        checks = self.checks()
        return key_of(checks[at - 1]) if 0 < at <= len(checks) else None

    # -- writes ----------------------------------------------------------------------------------------
    def put_record(self, kind: str, key: str, raw: str | None) -> None:
        self.records.setdefault(kind, {})[key] = raw
        self.ops.append(["HS", kind, key, raw] if raw is not None else ["HD", kind, key])

    def put_meta(self, name: str, raw: str | None) -> None:
        self.meta[name] = raw
        self.ops.append(["MS", name, raw] if raw is not None else ["MD", name])

    def index_op(self, op: Op) -> None:
        """``ZA``/``ZR``/``ZD``: applied to the overlay if the index was read back, else kept for when it is."""
        self.ops.append(op)
        name = op[1]
        head = self.indexes.get(name)
        if head is not None:
            apply_index_op(head, op)
        else:
            self.zpending.setdefault(name, []).append(op)

    def blob_op(self, key: str, data: bytes | None) -> None:
        """A blob write; the bytes travel beside the operation (``blob_args``, in order), never in the log."""
        self.blobs[key] = data
        if data is None:
            self.ops.append(["BD", key])
        else:
            self.blob_args.append(data)
            self.ops.append(["BS", key])

    def clear(self) -> None:
        self.blobs.clear()
        self.blob_args.clear()
        self.ops = [op for op in self.ops if op[0] not in ("BS", "BD")]
        self.records.clear()
        self.meta.clear()
        self.indexes.clear()
        self.zpending.clear()
        self.cleared = True
        self.ops.append(["X"])



def key_of(entry: tuple[Any, ...]) -> tuple[str, ...]:
    """The key a read touched: ``('r', kind, key)``, ``('m', name)`` or ``('i', index)``."""
    code = entry[0]
    if code == "h":
        return ("r", entry[1], entry[2])
    if code == "m":
        return ("m", entry[1])
    return ("i", entry[1])


def apply_index_op(head: Head, op: Op) -> None:
    code = op[0]
    if code == "ZA":
        head.add(op[3], float(op[2]))
    elif code == "ZR":
        head.remove(op[2])
    else:  # ZD
        head.order, head.scores = [], {}


def commit_args(keys: Keys, txn: Txn, *, mine: int, release: bool = True, ttl_ms: int = 0,
                writer: str = "", ahead: str = "") -> tuple[list[str], list[Any]]:
    """The commit script's keys and arguments for ``txn`` (``mine``: the caller's cache version; ``ahead``: the ids
    of this thread's commits sent before it whose replies are not read yet, space-separated: the reply leaves
    their log entries out)."""
    ops = txn.ops
    entry = b"" if not ops else packb([["P", writer], *ops] if writer else ops)
    ids = txn.prior_ids
    base: int | str = txn.base if not ids else " ".join((str(txn.base), *ids))
    return ([keys.version, keys.log, keys.meta, keys.lock, keys.done(txn.id), keys.wake],
            [txn.id, txn.token, base, keys.prefix, keys.pattern_prefix, LOG_LIMIT, mine, ENTRIES_BACK,
             "1" if release else "0", ttl_ms, packb(txn.checks()), entry, ahead, *txn.blob_args])


def commit_outcome(txn: Txn, reply: Any) -> tuple[int, Any]:
    """What a commit's reply says: (the new version, the log entries after the caller's version, or None), or
    ``Conflict`` / ``Locked`` / ``LockLost`` raised."""
    if isinstance(reply, redis.ResponseError):
        if "LOCKLOST" in str(reply):
            raise LockLost(str(reply)) from None
        raise reply
    status = int(reply[0])
    if status == 0:
        raise Locked("an exclusive block holds the store")
    if status == 3:
        conflict = Conflict(f"another transaction changed what this one read (version {int(reply[1])})")
        conflict.key = txn.key_at(int(reply[2]))  # type: ignore[attr-defined]
        raise conflict
    return int(reply[1]), reply[2] if status == 1 else None


def commit(wire: Wire, keys: Keys, txn: Txn, *, mine: int, release: bool = True, ttl_ms: int = 0,
           writer: str = "") -> tuple[int, Any]:
    """Send the transaction (one round trip). Returns (the new version, the log entries after ``mine`` before it:
    others' writes, which the cache applies before this one's; None when too many: the next catch-up brings them).
    Raises ``Conflict`` (a check failed), ``Locked`` (an exclusive block holds the store) or ``LockLost``."""
    script_keys, args = commit_args(keys, txn, mine=mine, release=release, ttl_ms=ttl_ms, writer=writer)
    try:
        reply = wire.run(COMMIT_SCRIPT, script_keys, args)
    except redis.ResponseError as exc:
        reply = exc
    return commit_outcome(txn, reply)


class Prior:
    """The writes of this thread's commits sent ahead and not yet confirmed (``RedisStore.request_end(behind=True)``),
    in the order sent: the next transaction of the thread reads them as Redis will hold them when its own commit
    runs there (after theirs, on the same connection), and checks them as read. If one of them is refused, what the
    next one read from it is not in Redis, so its check fails too and it runs again: never a wrong answer.

    Made (:func:`prior_of`) when the thread's next write begins, from the commits not finished then: one commit's
    writes are its transaction's own dicts (no copy); several are merged, newest last."""

    __slots__ = ("ids", "meta", "records", "z")

    def __init__(self, records: dict[str, dict[str, str | None]], meta: dict[str, str | None],
                 z: dict[str, list[Op]], ids: tuple[str, ...]) -> None:
        self.records = records
        self.meta = meta
        self.z = z  # index -> its operations, in order
        self.ids = ids  # the transactions that wrote (each bumps the version once): the commit script's fast path


def index_ops(txn: Txn) -> dict[str, list[Op]]:
    """A transaction's index operations by index, in order (made once per commit sent ahead)."""
    z: dict[str, list[Op]] = {}
    for op in txn.ops:
        code = op[0]
        if code == "ZA" or code == "ZR" or code == "ZD":
            z.setdefault(op[1], []).append(op)
    return z


def prior_of(pending: list[Pending]) -> Prior | None:
    """The writes of the commits ``pending`` (in the order sent) as a transaction reads them; None: none."""
    if not pending:
        return None
    if len(pending) == 1:
        sent = pending[0]
        txn = sent.txn
        return Prior(txn.records, txn.meta, sent.z, (txn.id,) if txn.ops else ())
    records: dict[str, dict[str, str | None]] = {}
    meta: dict[str, str | None] = {}
    z: dict[str, list[Op]] = {}
    for sent in pending:
        txn = sent.txn
        for kind, written in txn.records.items():
            merged = records.get(kind)
            if merged is None:
                records[kind] = dict(written)
            else:
                merged.update(written)
        if txn.meta:
            meta.update(txn.meta)
        for name, ops in sent.z.items():
            have = z.get(name)
            z[name] = ops if have is None else have + ops  # never changed in place: a commit's own list is shared
    return Prior(records, meta, z, tuple([sent.txn.id for sent in pending if sent.txn.ops]))


class Pending:
    """A commit sent ahead on this thread's connection, its reply not yet read (``reply``), or read and acted on
    (``done``: ``error`` is what it raised, None: committed)."""

    __slots__ = ("done", "error", "failed", "reply", "seq", "txn", "z")

    def __init__(self, txn: Txn, seq: int = 0) -> None:
        self.txn = txn
        self.seq = seq  # the thread's count of commits sent, this one included: a later one may have run if larger
        self.z = index_ops(txn)
        self.reply: Any = None
        self.failed: BaseException | None = None  # the connection failed before its reply was read
        self.done = False
        self.error: BaseException | None = None
