"""A store in Redis, shared by every process of ``ltx-mock serve --workers N --store redis://...``.

Layout (every key starts with ``prefix``, ``ltxmock:`` unless the URL says
``?prefix=...``; docs/redis.md has the whole picture):

=======================  ========  ==============================================
``<p>r:<kind>``          HASH      record key -> JSON (one hash per kind, so
                                   ``get_many`` is one HMGET, ``count`` one HLEN)
``<p>i:<index>``         ZSET      member -> score (an ordered index)
``<p>b:<key>``           STRING    blob bytes (uploads)
``<p>meta``              HASH      meta name -> JSON (clock, outcomes, faults...)
``<p>lock``              STRING    the ``atomic()`` lock: a random token, PX ttl
``<p>lock:wake``         LIST      a wake-up token pushed on release (BLPOP)
``<p>lock:done``         STRING    the last committed token (10 s): retry safety
=======================  ========  ==============================================

``atomic()`` is a transaction under a cross-process lock:

* the lock is ``SET lock token NX PX ttl`` (as a script, so that a retried call
  that already took it succeeds); a watchdog thread extends it while a block
  runs, so a slow block keeps it and a dead process loses it after ``ttl``;
* threads of one process queue on a local re-entrant lock first, so only one
  thread per process ever waits on Redis (BLPOP on the wake list, not a spin);
* writes inside the block are buffered in this process and reads see them
  (read-your-writes); on exit one Lua script checks that the lock still holds
  our token, applies every write and releases the lock. A block is therefore
  all-or-nothing: a process killed mid-block leaves no half-done claim, charge
  or admission behind, and a holder whose lock expired (a paused process) can
  write nothing (``LockLost``). An exception leaving the block discards its
  writes, like a rolled-back SQLite transaction.

Writes made outside ``atomic()`` run as a one-write block, so they too wait for
whoever holds the lock (the memory store behaves the same way). Reads outside
``atomic()`` are plain commands.

Standalone Redis (or one shard) only: the commit script touches keys it does
not declare.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis
from ltxstudio_mock.mock_server.store.base import INDEX_SPAN, Record, Store
from redis.exceptions import NoScriptError

DEFAULT_PREFIX = "ltxmock:"
DEFAULT_LOCK_TTL_MS = 5000
WAIT_SLICE_S = 0.05  # longest a waiter sleeps before trying the lock again (an expired holder never wakes it)
ACQUIRE_TIMEOUT_S = 60.0  # give up (raise) rather than hang a request forever

# KEYS: lock, wake list, done marker. ARGV: token, release flag, then the ops.
_COMMIT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  if redis.call('get', KEYS[3]) == ARGV[1] then return 2 end  -- a retry of a commit that was applied
  return redis.error_reply('LOCKLOST the atomic() lock expired or was taken over before commit')
end
local i = 3
local n = #ARGV
while i <= n do
  local op = ARGV[i]
  if op == 'D' then redis.call('del', ARGV[i + 1]); i = i + 2
  elseif op == 'HS' then redis.call('hset', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'HD' then redis.call('hdel', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'S' then redis.call('set', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'ZA' then redis.call('zadd', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'ZR' then redis.call('zrem', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  else return redis.error_reply('unknown op ' .. op) end
end
if ARGV[2] == '1' then
  redis.call('del', KEYS[1])
  redis.call('set', KEYS[3], ARGV[1], 'PX', 10000)
  redis.call('del', KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], 1000)
end
return 1
"""

# Like SET lock token NX PX ttl, but a retried call that already took the lock succeeds too.
_ACQUIRE = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return 1 end
if holder then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('del', KEYS[2])
  redis.call('rpush', KEYS[2], '1')
  redis.call('pexpire', KEYS[2], 1000)
  return 1
end
return 0
"""


class LockLost(RuntimeError):
    """The ``atomic()`` lock expired (or was taken over) before the block committed: nothing was written."""


def _score(x: float) -> str:
    x = float(x)
    if x != x:
        raise ValueError("index scores cannot be NaN")
    if x == float("inf"):
        return "+inf"
    if x == float("-inf"):
        return "-inf"
    return repr(x)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _decode(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


def _record(raw: bytes | None) -> Record | None:
    """A stored record (a JSON object), or None."""
    record: Record | None = _decode(raw)
    return record


def _in(score: float, lo: float, hi: float) -> bool:
    return lo <= score <= hi


def _pairs(flat: list[bytes]) -> list[tuple[str, float]]:
    """A RESP2 ``WITHSCORES`` reply ``[m1, s1, m2, s2, ...]`` as (member, score) pairs."""
    return [(flat[i].decode(), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class _Script:
    """A Lua script run by SHA (``EVALSHA``), sent whole once if the server does not know it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class _IndexOverlay:
    """Buffered changes to one index: ``dropped`` hides what Redis holds; ``members`` maps to a score or None."""

    __slots__ = ("dropped", "members")

    def __init__(self, dropped: bool = False) -> None:
        self.dropped = dropped
        self.members: dict[str, float | None] = {}


class _Txn:
    """The writes of one ``atomic()`` block, not yet in Redis, and what it has read from Redis.

    While the lock is held nobody else writes (every write takes the lock), so a value read
    once in the block stays true until the block's own writes, which the overlays hold: the
    caches save the round trips of reading it again (a user charged after its check, a task
    deleted after it was read, an index member removed after it was listed).
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.cleared = False
        self.records: dict[str, dict[str, bytes | None]] = {}
        self.meta: dict[str, bytes | None] = {}
        self.blobs: dict[str, bytes | None] = {}
        self.indexes: dict[str, _IndexOverlay] = {}
        self.read_records: dict[tuple[str, str], bytes | None] = {}
        self.read_meta: dict[str, bytes | None] = {}
        self.read_scores: dict[tuple[str, str], float | None] = {}

    def index(self, name: str) -> _IndexOverlay | None:
        ov = self.indexes.get(name)
        if ov is None and self.cleared:
            ov = self.indexes[name] = _IndexOverlay(dropped=True)
        return ov

    def dirty(self) -> bool:
        return bool(self.cleared or self.records or self.meta or self.blobs or self.indexes)


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split our own query options (``prefix``, ``lock_ttl_ms``) from the URL redis-py understands."""
    base, _, raw_query = url.partition("?")  # not urlunsplit: it turns unix:///path into unix:/path
    ours = {"prefix", "lock_ttl_ms"}
    query = parse_qsl(raw_query, keep_blank_values=True)
    options = {k: v for k, v in query if k in ours}
    rest = urlencode([(k, v) for k, v in query if k not in ours])
    return base + (f"?{rest}" if rest else ""), options


class RedisStore(Store):
    """All state in one Redis database, shared by every process that opens the same URL."""

    def __init__(self, url: str, *, prefix: str | None = None, lock_ttl_ms: int | None = None) -> None:
        clean, options = parse_url(url)
        self.url = url
        self.prefix = prefix if prefix is not None else options.get("prefix", DEFAULT_PREFIX)
        self.lock_ttl_ms = int(lock_ttl_ms if lock_ttl_ms is not None
                               else options.get("lock_ttl_ms", DEFAULT_LOCK_TTL_MS))
        if self.lock_ttl_ms < 100:
            raise ValueError("lock_ttl_ms must be at least 100")
        # RESP2: flat replies on every Redis version (RESP3 needs 6+; we only need 6.2 for ZMSCORE).
        self._redis = redis.Redis.from_url(clean, socket_timeout=30, socket_connect_timeout=5, protocol=2)
        p = self.prefix
        self._lock_key = p + "lock"
        self._wake_key = p + "lock:wake"
        self._done_key = p + "lock:done"
        self._meta_key = p + "meta"
        self._commit = _Script(_COMMIT)
        self._acquire_script = _Script(_ACQUIRE)
        self._extend = _Script(_EXTEND)
        self._release = _Script(_RELEASE)
        self._closed = threading.Event()
        # Counters for benchmarks and the curious (approximate under threads): round trips made,
        # atomic blocks, seconds spent holding the lock and waiting for it, waits that had to block.
        self.stats: dict[str, float] = {"round_trips": 0, "blocks": 0, "held_s": 0.0, "wait_s": 0.0, "waits": 0}
        self._init_process()

    def _init_process(self) -> None:
        """Per-process state: rebuilt if we find ourselves in a forked child."""
        self._pid = os.getpid()
        self._local = threading.RLock()
        self._tl = threading.local()
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self._held: str | None = None
        self._watchdog: threading.Thread | None = None

    # -- the wire ------------------------------------------------------------------
    # Each thread keeps one connection and talks RESP on it directly: redis-py's pool,
    # retry and instrumentation layers cost about twice the round trip itself, and a
    # request makes a dozen or more of them.
    def _conn(self) -> Any:
        conn = getattr(self._tl, "conn", None)
        if conn is None:
            if self._closed.is_set():
                raise RuntimeError("RedisStore is closed")
            pool = self._redis.connection_pool
            conn = self._tl.conn = pool.connection_class(**pool.connection_kwargs)
            self._conns.add(conn)
        return conn

    def _call(self, *args: Any) -> Any:
        """One command and its reply. A dropped connection is retried once on a new one: every
        command sent here is safe to repeat (reads; scripts made idempotent by the lock token)."""
        if self._pid != os.getpid():
            self._init_process()
        conn = self._conn()
        self.stats["round_trips"] += 1
        for attempt in (1, 2):
            try:
                conn.send_command(*args)
                return conn.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
                if attempt == 2:
                    raise
            except redis.ResponseError:
                raise  # an error reply: the connection is in sync
            except BaseException:
                conn.disconnect()  # interrupted mid-reply: never reuse a connection out of step
                raise
        raise AssertionError("unreachable")

    def _calls(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one round trip (a pipeline without MULTI)."""
        if self._pid != os.getpid():
            self._init_process()
        conn = self._conn()
        self.stats["round_trips"] += 1
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            return [conn.read_response() for _ in commands]
        except BaseException:
            conn.disconnect()
            raise

    def _run(self, script: _Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self._call("EVAL", script.source, len(keys), *keys, *args)

    # -- keys ------------------------------------------------------------------
    def _rk(self, kind: str) -> str:
        return f"{self.prefix}r:{kind}"

    def _ik(self, index: str) -> str:
        return f"{self.prefix}i:{index}"

    def _bk(self, key: str) -> str:
        return f"{self.prefix}b:{key}"

    def _txn(self) -> _Txn | None:
        if self._pid != os.getpid():
            self._init_process()
        return getattr(self._tl, "txn", None)

    # -- atomic ------------------------------------------------------------------
    def atomic(self) -> AbstractContextManager[None]:
        return self._atomic()

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        if self._txn() is not None:  # re-entered: the outer block commits
            yield
            return
        t0 = time.perf_counter()
        with self._local:
            token = self._acquire()
            t1 = time.perf_counter()
            txn = _Txn(token)
            self._tl.txn = txn
            self._held = token
            ok = False
            try:
                yield
                ok = True
            finally:
                self._tl.txn = None
                self._held = None
                try:
                    if ok:
                        self._flush(txn, release=True)
                    else:
                        with suppress(redis.RedisError):  # else the lock expires by itself
                            self._run(self._release, [self._lock_key, self._wake_key], [token])
                finally:
                    stats = self.stats
                    stats["blocks"] += 1
                    stats["wait_s"] += t1 - t0
                    stats["held_s"] += time.perf_counter() - t1

    def _acquire(self) -> str:
        """Take the Redis lock, waiting on the wake list between attempts."""
        self._ensure_watchdog()
        token = uuid.uuid4().hex
        deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
        while True:
            if self._run(self._acquire_script, [self._lock_key], [token, self.lock_ttl_ms]):
                return token
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not take the store lock {self._lock_key} in {ACQUIRE_TIMEOUT_S}s")
            self.stats["waits"] += 1
            self._call("BLPOP", self._wake_key, WAIT_SLICE_S)

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="ltx-redis-lock", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """Extend the lock while a block holds it, so only a dead (or frozen) holder ever loses it."""
        pid = os.getpid()
        while not self._closed.wait(self.lock_ttl_ms / 3000):
            if pid != os.getpid():
                return
            token = self._held
            if token is None:
                continue
            with suppress(redis.RedisError):
                self._run(self._extend, [self._lock_key], [token, self.lock_ttl_ms])

    def _flush(self, txn: _Txn, *, release: bool) -> None:
        """One script: check the token, apply every buffered write, release the lock."""
        if not txn.dirty() and release:
            self._run(self._release, [self._lock_key, self._wake_key], [txn.token])
            return
        ops: list[Any] = []
        if txn.cleared:
            for key in self._scan_all():
                ops += ["D", key]
        for kind, table in txn.records.items():
            for key, value in table.items():
                ops += ["HD", self._rk(kind), key] if value is None else ["HS", self._rk(kind), key, value]
        for name, value in txn.meta.items():
            ops += ["HD", self._meta_key, name] if value is None else ["HS", self._meta_key, name, value]
        for key, data in txn.blobs.items():
            ops += ["D", self._bk(key)] if data is None else ["S", self._bk(key), data]
        for index, ov in txn.indexes.items():
            zkey = self._ik(index)
            if ov.dropped and not txn.cleared:
                ops += ["D", zkey]
            for member, score in ov.members.items():
                ops += ["ZR", zkey, member] if score is None else ["ZA", zkey, _score(score), member]
        try:
            self._run(self._commit, [self._lock_key, self._wake_key, self._done_key],
                      [txn.token, "1" if release else "0", *ops])
        except redis.ResponseError as exc:
            if "LOCKLOST" in str(exc):
                raise LockLost(str(exc)) from None
            raise

    def _scan_all(self) -> list[str]:
        p = _glob_escape(self.prefix)
        keys = []
        for pattern in (p + "r:*", p + "i:*", p + "b:*"):
            keys += [k.decode() for k in self._redis.scan_iter(match=pattern, count=1000)]
        return [*keys, self._meta_key]

    def _write(self) -> AbstractContextManager[None]:
        """The block a write runs in: the caller's, or a one-write block of its own."""
        if self._txn() is not None:
            return _NULL
        return self.atomic()

    # -- records -------------------------------------------------------------------
    def get(self, kind: str, key: str) -> Record | None:
        txn = self._txn()
        if txn is None:
            return _record(self._call("HGET", self._rk(kind), key))
        table = txn.records.get(kind)
        if table is not None and key in table:
            return _record(table[key])
        if txn.cleared:
            return None
        if (kind, key) not in txn.read_records:
            txn.read_records[kind, key] = self._call("HGET", self._rk(kind), key)
        return _record(txn.read_records[kind, key])

    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        if not keys:
            return []
        txn = self._txn()
        table = txn.records.get(kind, {}) if txn is not None else {}
        base: dict[str, bytes | None] = {}
        if txn is not None:
            if txn.cleared:
                return [_decode(table.get(k)) for k in keys]
            base = {k: txn.read_records[kind, k] for k in keys if (kind, k) in txn.read_records}
        missing = list(dict.fromkeys(k for k in keys if k not in table and k not in base))
        if missing:
            fetched = dict(zip(missing, self._call("HMGET", self._rk(kind), *missing), strict=True))
            base.update(fetched)
            if txn is not None:
                txn.read_records.update({(kind, k): v for k, v in fetched.items()})
        return [_decode(table[k]) if k in table else _decode(base.get(k)) for k in keys]

    def put(self, kind: str, key: str, value: Record) -> None:
        data = _encode(value)
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.records.setdefault(kind, {})[key] = data

    def delete(self, kind: str, key: str) -> bool:
        with self._write():
            txn = self._txn()
            assert txn is not None
            table = txn.records.setdefault(kind, {})
            if key in table:
                existed = table[key] is not None
            elif txn.cleared:
                existed = False
            elif (kind, key) in txn.read_records:
                existed = txn.read_records[kind, key] is not None
            else:
                existed = bool(self._call("HEXISTS", self._rk(kind), key))
            table[key] = None
            return existed

    def count(self, kind: str) -> int:
        txn = self._txn()
        table = txn.records.get(kind) if txn is not None else None
        if txn is None or (not table and not txn.cleared):
            return int(self._call("HLEN", self._rk(kind)))
        if txn.cleared:
            return sum(1 for v in (table or {}).values() if v is not None)
        assert table is not None
        keys = list(table)
        total, *exists = self._calls(("HLEN", self._rk(kind)), *(("HEXISTS", self._rk(kind), k) for k in keys))
        for k, there in zip(keys, exists, strict=True):
            total += (table[k] is not None) - bool(there)
        return int(total)

    # -- indexes -----------------------------------------------------------------
    def index_add(self, index: str, member: str, score: float) -> None:
        score = float(score)
        _score(score)  # reject NaN now, not at commit
        with self._write():
            txn = self._txn()
            assert txn is not None
            ov = txn.index(index) or txn.indexes.setdefault(index, _IndexOverlay())
            ov.members[member] = score

    def index_remove(self, index: str, member: str) -> bool:
        with self._write():
            existed = self.index_score(index, member) is not None
            txn = self._txn()
            assert txn is not None
            ov = txn.index(index) or txn.indexes.setdefault(index, _IndexOverlay())
            ov.members[member] = None
            return existed

    def index_score(self, index: str, member: str) -> float | None:
        txn = self._txn()
        ov = txn.index(index) if txn is not None else None
        if ov is not None:
            if member in ov.members:
                return ov.members[member]
            if ov.dropped:
                return None
        if txn is not None and (index, member) in txn.read_scores:
            return txn.read_scores[index, member]
        raw = self._call("ZSCORE", self._ik(index), member)
        score = None if raw is None else float(raw)
        if txn is not None:
            txn.read_scores[index, member] = score
        return score

    @staticmethod
    def _seen(txn: _Txn | None, index: str, rows: list[tuple[str, float]]) -> None:
        if txn is not None:
            txn.read_scores.update({(index, m): s for m, s in rows})

    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        offset = min(max(0, offset), INDEX_SPAN)
        if limit is not None and limit <= 0:
            return []
        limit = None if limit is None else min(limit, INDEX_SPAN)
        txn = self._txn()
        ov = txn.index(index) if txn is not None else None
        command = "ZREVRANGE" if reverse else "ZRANGE"
        if ov is None:
            stop = -1 if limit is None else offset + limit - 1
            if txn is None:
                return [m.decode() for m in self._call(command, self._ik(index), offset, stop)]
            rows = _pairs(self._call(command, self._ik(index), offset, stop, "WITHSCORES"))
            self._seen(txn, index, rows)
            return [m for m, _ in rows]
        # Merge what Redis holds with the buffered changes: the first offset+limit merged members
        # are among the first offset+limit+len(changes) of Redis's.
        base: list[tuple[str, float]] = []
        if not ov.dropped:
            stop = -1 if limit is None else offset + limit + len(ov.members) - 1
            base = _pairs(self._call(command, self._ik(index), 0, stop, "WITHSCORES"))
            self._seen(txn, index, base)
        merged = self._merge(base, ov, float("-inf"), float("inf"))
        merged.sort(key=lambda e: (e[1], e[0]), reverse=reverse)
        end = None if limit is None else offset + limit
        return [m for m, _ in merged[offset:end]]

    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None) -> list[tuple[str, float]]:
        if limit is not None and limit <= 0:
            return []
        txn = self._txn()
        ov = txn.index(index) if txn is not None else None
        lo, hi = _score(min_score), _score(max_score)
        if ov is None:
            out = self._by_score(index, lo, hi, limit)
            self._seen(txn, index, out)
            return out
        base: list[tuple[str, float]] = []
        if not ov.dropped:
            base = self._by_score(index, lo, hi, None if limit is None else limit + len(ov.members))
            self._seen(txn, index, base)
        merged = self._merge(base, ov, float(min_score), float(max_score))
        merged.sort(key=lambda e: (e[1], e[0]))
        return merged if limit is None else merged[:limit]

    def _by_score(self, index: str, lo: str, hi: str, limit: int | None) -> list[tuple[str, float]]:
        page = () if limit is None else ("LIMIT", 0, min(limit, INDEX_SPAN))
        return _pairs(self._call("ZRANGEBYSCORE", self._ik(index), lo, hi, "WITHSCORES", *page))

    @staticmethod
    def _merge(base: list[tuple[str, float]], ov: _IndexOverlay, lo: float, hi: float) -> list[tuple[str, float]]:
        out = [(m, s) for m, s in base if m not in ov.members]
        out += [(m, s) for m, s in ov.members.items() if s is not None and _in(s, lo, hi)]
        return out

    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int:
        txn = self._txn()
        ov = txn.index(index) if txn is not None else None
        full = min_score == float("-inf") and max_score == float("inf")
        zkey = self._ik(index)
        if ov is None:
            if full:
                return int(self._call("ZCARD", zkey))
            return int(self._call("ZCOUNT", zkey, _score(min_score), _score(max_score)))
        lo, hi = float(min_score), float(max_score)
        total = 0
        members = list(ov.members)
        if not ov.dropped:
            res = self._calls(("ZCOUNT", zkey, _score(lo), _score(hi)),
                              *((("ZMSCORE", zkey, *members),) if members else ()))
            total = int(res[0])
            base_scores = [None if s is None else float(s) for s in (res[1] if members else [])]
            self._seen(txn, index, list(zip(members, base_scores, strict=True)))  # type: ignore[arg-type]
            total -= sum(1 for s in base_scores if s is not None and _in(s, lo, hi))
        total += sum(1 for s in ov.members.values() if s is not None and _in(s, lo, hi))
        return total

    def index_drop(self, index: str) -> None:
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.indexes[index] = _IndexOverlay(dropped=True)

    # -- blobs -------------------------------------------------------------------
    def blob_put(self, key: str, data: bytes) -> None:
        data = bytes(data)
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.blobs[key] = data

    def blob_get(self, key: str) -> bytes | None:
        txn = self._txn()
        if txn is not None:
            if key in txn.blobs:
                return txn.blobs[key]
            if txn.cleared:
                return None
        data = self._call("GET", self._bk(key))
        return None if data is None else bytes(data)

    def blob_delete(self, key: str) -> None:
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.blobs[key] = None

    # -- meta --------------------------------------------------------------------
    def get_meta(self, name: str) -> Any:
        txn = self._txn()
        if txn is None:
            return _decode(self._call("HGET", self._meta_key, name))
        if name in txn.meta:
            return _decode(txn.meta[name])
        if txn.cleared:
            return None
        if name not in txn.read_meta:
            txn.read_meta[name] = self._call("HGET", self._meta_key, name)
        return _decode(txn.read_meta[name])

    def put_meta(self, name: str, value: Any) -> None:
        data = _encode(value)
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.meta[name] = data

    # -- whole store ---------------------------------------------------------------
    def clear(self) -> None:
        with self._write():
            txn = self._txn()
            assert txn is not None
            txn.cleared = True
            txn.records.clear()
            txn.meta.clear()
            txn.blobs.clear()
            txn.indexes.clear()

    def dump(self) -> Iterator[tuple[str, str, Record]]:
        txn = self._txn()
        cleared = txn is not None and txn.cleared
        overlay = txn.records if txn is not None else {}
        items: list[tuple[str, str, Record]] = []
        kinds: list[str] = []
        if not cleared:
            start = len(self.prefix) + 2
            kinds = [k.decode()[start:] for k in
                     self._redis.scan_iter(match=_glob_escape(self.prefix) + "r:*", count=1000)]
        for kind in sorted(set(kinds) | set(overlay)):
            table = overlay.get(kind, {})
            if kind in kinds:
                for key, raw in self._redis.hscan_iter(self._rk(kind), count=1000):
                    k = key.decode()
                    if k not in table:
                        items.append((kind, k, json.loads(raw)))
            items += [(kind, k, json.loads(v)) for k, v in table.items() if v is not None]
        yield from items

    def close(self) -> None:
        self._closed.set()
        for conn in list(self._conns):
            conn.disconnect()
        self._redis.close()
        self._redis.connection_pool.disconnect()


class _Null(AbstractContextManager[None]):
    def __exit__(self, *exc: object) -> None:
        return None


_NULL = _Null()
