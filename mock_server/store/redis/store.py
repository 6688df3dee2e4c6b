"""``RedisStore``: the Store interface over Redis, read from a local mirror, at most two round trips a request.

How a request runs (docs/redis.md has the whole picture and the measurements):

* ``request_begin(write=True)`` (the simulator calls it where each request starts) makes sure
  the process holds the lock, caught up: round trip 1 (none if it holds it already). The rule
  blocks then run against the mirror: no round trips. ``request_end()`` commits everything
  pending in the process and, if no other request is in flight, releases the lock: round trip
  2 (none if a concurrent request's end carried this one's writes).
* ``request_begin(write=False)`` (any GET: the journal is not written by requests) catches up without the lock:
  one round trip; it never waits for a writer.
* ``atomic()`` outside a request is a block of its own: lock + catch up, then commit + release.
* A read outside any request or block catches up first (one round trip) unless this process
  holds the lock (then nobody else can have written).

Layout (every key starts with ``prefix``; ``{ltxmock}:`` unless the URL says ``?prefix=...``):

=======================  ========  ==============================================
``<p>r:<kind>``          HASH      record key -> JSON (one hash per kind)
``<p>i:<index>``         ZSET      member -> score (an ordered index)
``<p>b:<key>``           STRING    blob bytes (uploads)
``<p>meta``              HASH      meta name -> JSON (clock, outcomes, faults...)
``<p>ver``               STRING    how many changes were ever committed
``<p>log``               LIST      the last changes, one JSON list of operations each
``<p>lock``              STRING    the lock: the holder's random token, PX ttl
``<p>lock:wake``         LIST      a wake-up token pushed on release (BLPOP)
``<p>lock:want``         STRING    set by a process waiting for the lock
``<p>lock:done``         STRING    the last commit's token:version (10 s): retry safety
``<p>j:e|i|z|s``         ...       the request journal, outside the mirror (``journal.py``)
``<p>procs``, ``flush:``  ZSET,LIST  the processes' threads and the flush handshake (``peers.py``)
=======================  ========  ==============================================

Every name is made in ``keys.py``. The prefix carries a hash tag (``{ltxmock}:``), so every key of a store is in
one Redis Cluster slot: the scripts may touch keys they do not declare (a reset's SCAN), on any deployment.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any
from urllib.parse import parse_qsl, urlencode

import redis

from mock_server.store.base import INDEX_SPAN, Record, Store
from mock_server.store.memory import _Index
from mock_server.store.redis.journal import RedisJournal
from mock_server.store.redis.keys import Keys
from mock_server.store.redis.lock import Lock
from mock_server.store.redis.mirror import Mirror, Op
from mock_server.store.redis.peers import Peers
from mock_server.store.redis.transaction import LockLost, Txn, commit, encode
from mock_server.store.redis.wire import Wire, fork_generation

DEFAULT_PREFIX = "{ltxmock}:"  # a hash tag: Redis Cluster keeps every key of the store in one slot
DEFAULT_LOCK_TTL_MS = 5000
REFUSALS = frozenset({"READONLY", "MISCONF", "OOM", "LOADING", "MASTERDOWN", "NOREPLICAS"})  # Redis error codes


def score_text(x: float) -> str:
    """A score as Redis reads it; NaN is refused before anything is buffered."""
    x = float(x)
    if x != x:
        raise ValueError("index scores cannot be NaN")
    if x == float("inf"):
        return "+inf"
    if x == float("-inf"):
        return "-inf"
    return repr(x)


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split our own query options (``prefix``, ``lock_ttl_ms``) from the URL redis-py understands."""
    base, _, raw_query = url.partition("?")  # not urlunsplit: it turns unix:///path into unix:/path
    ours = {"prefix", "lock_ttl_ms"}
    query = parse_qsl(raw_query, keep_blank_values=True)
    options = {k: v for k, v in query if k in ours}
    rest = urlencode([(k, v) for k, v in query if k not in ours])
    return base + (f"?{rest}" if rest else ""), options


def _decode(raw: str | bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


_EMPTY: dict[str, Any] = {}


class RedisStore(Store):
    """All state in one Redis database, shared by every process that opens the same URL."""

    volatile = True

    def __init__(self, url: str, *, prefix: str | None = None, lock_ttl_ms: int | None = None) -> None:
        clean, options = parse_url(url)
        self.url = url
        self.prefix = prefix if prefix is not None else options.get("prefix", DEFAULT_PREFIX)
        self.lock_ttl_ms = int(lock_ttl_ms if lock_ttl_ms is not None
                               else options.get("lock_ttl_ms", DEFAULT_LOCK_TTL_MS))
        if self.lock_ttl_ms < 100:
            raise ValueError("lock_ttl_ms must be at least 100")
        self.keys = Keys(self.prefix)
        # RESP2: flat replies on every Redis version (RESP3 needs 6+).
        self.wire = Wire(redis.Redis.from_url(clean, socket_timeout=30, socket_connect_timeout=5, protocol=2))
        # Counters for benchmarks and tests (approximate under threads): round trips, blocks, seconds
        # holding the lock and waiting for it, waits that had to block, catch-ups, full reloads.
        self.stats = self.wire.stats
        self.peers = Peers(self.wire, self.keys)  # deferred work (the journal) and the flush handshake
        self._journal = RedisJournal(self.wire, self.keys)  # apart from the mirror: journal.py
        self._init_process()

    def _init_process(self) -> None:
        """Per-process state: rebuilt if we find ourselves in a forked child (it holds no lock, has no mirror)."""
        self._fork = fork_generation()
        self.wire.reset_process()
        self.mirror = Mirror()
        self.lock = Lock(self.wire, self.keys, self.lock_ttl_ms)
        self._tl = threading.local()
        self._cv = threading.Condition(self.lock.local)  # waits for a draining hold to be let go
        self._pending: Txn | None = None  # writes not yet sent, while this process holds the lock
        self._active = 0  # writing requests in flight in this process
        self._draining = False  # another process asked for the lock: no new writing request until it is let go
        self._gen = 0  # bumped when a commit fails: requests whose writes it carried fail too
        self.peers.ensure()  # a forked child runs its own deferred-work thread

    def _state(self) -> threading.local:
        if self._fork != fork_generation():
            self._init_process()
        return self._tl

    # -- catching up ----------------------------------------------------------------
    def _absorb(self, reply: list[Any]) -> None:
        """Bring the mirror to the version a sync reply describes (entries after ours, or everything)."""
        status, version = reply[0], int(reply[1])
        m = self.mirror
        with m.mutex:
            if status == 1:
                if version <= m.version:
                    return
                entries = reply[2] if len(reply) > 2 else []
                first = version - len(entries) + 1
                for i, raw in enumerate(entries):
                    if first + i > m.version:
                        m.apply(json.loads(raw))
                m.version = version
            elif version > m.version or (status == 3 and self.lock.token is None):
                # A late reply older than the mirror is ignored (another thread caught up further meanwhile);
                # status 3 means Redis is behind us (flushed, restarted empty): its state is the truth.
                m.load(version, reply[2], reply[3], reply[4])
                self.stats["reloads"] += 1

    def _sync(self) -> None:
        if self.lock.token is None:  # holding the lock, nobody else can have written
            self._absorb(self.lock.sync(self.mirror.version))

    def _fresh(self) -> Mirror:
        """The mirror, current for a read by this thread."""
        tl = self._state()
        if not getattr(tl, "depth", 0) and getattr(tl, "scope", None) is None:
            self._sync()
        return self.mirror

    # -- the process's hold on the lock ---------------------------------------------------
    # While any request of this process is writing, the process holds the Redis lock and every block's
    # writes go to one pending list (``_pending``); threads serialise on the local lock only while a block
    # runs, as in memory. A request's end sends everything pending in one script (often nothing: a
    # concurrent request's end carried it), so commits overlap other threads' rules. The last request
    # out lets the lock go; so does everyone as soon as another process asks for it (``_draining``).
    def _hold(self, *, drain: bool) -> Txn:
        """(local lock held) This process holds the Redis lock, caught up: round trip 1 if it did not."""
        lock = self.lock
        if drain:
            while self._draining:
                self._cv.wait()
        if lock.token is None or self._pending is None:
            t0 = time.perf_counter()
            token = uuid.uuid4().hex
            self._absorb(lock.acquire(token, self.mirror.version))
            lock.token = token
            self._pending = Txn(token)
            self.stats["wait_s"] += time.perf_counter() - t0
        return self._pending

    def _let_go(self) -> None:
        self.lock.token = None
        self._pending = None
        self._draining = False
        self._cv.notify_all()

    def _flush(self, *, release: bool) -> None:
        """(local lock held) Send every pending write in one script (round trip 2); let the lock go if ``release``."""
        txn = self._pending
        if txn is None or self.lock.token is None:
            return
        if not txn.ops:
            if release:
                self._let_go()
                with suppress(redis.RedisError):  # else it expires by itself
                    self.lock.release(txn.token)
            return
        try:
            version, wanted = commit(self.wire, self.keys, txn, version=self.mirror.version, release=release,
                                     ttl_ms=self.lock_ttl_ms)
        except LockLost:
            self._lose(txn, known=True)
            raise
        except BaseException:
            self._lose(txn, known=False)  # the outcome is unknown: reload the mirror from Redis next time
            with suppress(redis.RedisError):
                self.lock.release(txn.token)
            raise
        self.mirror.version = version
        if release:
            self._let_go()
        else:
            self._pending = Txn(txn.token)
            if wanted:
                self._draining = True  # another process waits: no new request starts until the lock is let go

    def _lose(self, txn: Txn, *, known: bool) -> None:
        """A commit failed: undo its writes in the mirror; every request whose writes it carried fails too."""
        with self.mirror.mutex:
            for op in reversed(txn.undo):
                self.mirror.apply([op])
            if not known:
                self.mirror.forget()
        self._gen += 1
        self._let_go()

    def atomic(self) -> AbstractContextManager[None]:
        return self._atomic()

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        tl = self._state()
        if getattr(tl, "depth", 0):  # re-entered: the outer block is the block
            tl.depth += 1
            try:
                yield
            finally:
                tl.depth -= 1
            return
        in_request = getattr(tl, "scope", None) == "write"
        local = self.lock.local
        local.acquire()
        try:
            txn = self._hold(drain=not in_request)
        except BaseException:
            local.release()
            raise
        tl.depth = 1
        marks = (len(txn.undo), len(txn.ops), len(txn.blob_args), txn.cleared)
        t1 = time.perf_counter()
        ok = False
        try:
            yield
            ok = True
        finally:
            tl.depth = 0
            try:
                if not in_request:  # a block of its own: it commits (or rolls back) now
                    if not ok:
                        self._rollback(txn, marks)
                    self._flush(release=self._active == 0)
                # inside a request, like the memory store, writes made before an exception stay
            finally:
                self.stats["blocks"] += 0 if in_request else 1
                self.stats["held_s"] += time.perf_counter() - t1
                local.release()

    def _rollback(self, txn: Txn, marks: tuple[int, int, int, bool]) -> None:
        undo_at, ops_at, blobs_at, cleared = marks
        for op in reversed(txn.undo[undo_at:]):
            self.mirror.apply([op])
        for op in txn.ops[ops_at:]:
            if op[0] in ("BS", "BD"):
                txn.blobs.pop(op[1], None)
        del txn.undo[undo_at:], txn.ops[ops_at:], txn.blob_args[blobs_at:]
        txn.cleared = cleared

    # -- requests ---------------------------------------------------------------------
    def request_begin(self, *, write: bool = True) -> None:
        """Where a request starts: a writing one makes sure this process holds the lock (round trip 1 unless it
        does) and commits at ``request_end`` (round trip 2, unless a concurrent request's end carried its writes);
        a reading one catches up once (one round trip unless this process holds the lock) and reads the mirror."""
        tl = self._state()
        if getattr(tl, "scope", None) is not None:
            self.request_end()  # a request that never ended (a server bug): never leave its lock held
        if getattr(tl, "depth", 0):
            return  # inside a block already (a request made from inside one): that block rules
        if write:
            with self._cv:
                self._hold(drain=True)
                self._active += 1
            tl.gen = self._gen
            tl.t1 = time.perf_counter()
            tl.scope = "write"
        else:
            self._sync()
            tl.scope = "read"

    def request_end(self) -> None:
        tl = self._state()
        scope = getattr(tl, "scope", None)
        tl.scope = None
        if scope != "write":
            return
        with self._cv:
            self._active -= 1
            lost = tl.gen != self._gen
            try:
                self._flush(release=self._active == 0)
            finally:
                self.stats["blocks"] += 1
                self.stats["held_s"] += time.perf_counter() - tl.t1
        if lost:
            raise LockLost("a commit carrying this request's writes failed: the store lock was lost")

    def refresh(self) -> None:
        """Before a request waits (real time), commit what it wrote and let the lock go; after, catch up."""
        tl = self._state()
        if getattr(tl, "depth", 0):
            return  # inside a rule block: it must stay whole
        if getattr(tl, "scope", None) == "write":
            self.request_end()
            tl.scope = "read"
        self._sync()

    # -- writes -------------------------------------------------------------------------
    def _write(self, op: Op) -> None:
        """Apply one operation to the mirror and keep it pending: in the caller's block or a one-write block."""
        tl = self._state()
        if not getattr(tl, "depth", 0):
            with self.atomic():
                self._write(op)
            return
        txn = self._pending
        assert txn is not None
        txn.undo.append(self.mirror._apply_one(op))
        txn.ops.append(op)

    # -- records ---------------------------------------------------------------------
    def get(self, kind: str, key: str) -> Record | None:
        raw = self._fresh().records.get(kind, _EMPTY).get(key)
        return None if raw is None else json.loads(raw)  # type: ignore[no-any-return,unused-ignore]

    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        table = self._fresh().records.get(kind, _EMPTY)
        return [_decode(table.get(k)) for k in keys]

    def put(self, kind: str, key: str, value: Record) -> None:
        self._write(["HS", kind, key, encode(value)])

    def delete(self, kind: str, key: str) -> bool:
        with self.atomic():
            existed = key in self.mirror.records.get(kind, _EMPTY)
            if existed:
                self._write(["HD", kind, key])
            return existed

    def count(self, kind: str) -> int:
        return len(self._fresh().records.get(kind, _EMPTY))

    # -- indexes -----------------------------------------------------------------------
    def _index(self, name: str) -> _Index | None:
        return self._fresh().indexes.get(name)

    def index_add(self, index: str, member: str, score: float) -> None:
        self._write(["ZA", index, score_text(score), member])

    def index_remove(self, index: str, member: str) -> bool:
        with self.atomic():
            idx = self.mirror.indexes.get(index)
            existed = idx is not None and member in idx.scores
            if existed:
                self._write(["ZR", index, member])
            return existed

    def index_score(self, index: str, member: str) -> float | None:
        idx = self._index(index)
        return idx.scores.get(member) if idx else None

    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        offset = min(max(0, offset), INDEX_SPAN)
        if limit is not None and limit <= 0:
            return []
        idx = self._index(index)
        if not idx:
            return []
        order = idx.order
        n = len(order)
        if offset >= n:
            return []
        stop = n if limit is None else min(n, offset + limit)
        if reverse:
            return [order[n - 1 - i][1] for i in range(offset, stop)]
        return [m for _, m in order[offset:stop]]

    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None) -> list[tuple[str, float]]:
        if limit is not None and limit <= 0:
            return []
        idx = self._index(index)
        if not idx:
            return []
        lo, hi = idx.bounds(float(min_score), float(max_score))
        if limit is not None:
            hi = min(hi, lo + limit)
        return [(m, s) for s, m in idx.order[lo:hi]]

    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int:
        idx = self._index(index)
        if not idx:
            return 0
        if min_score == float("-inf") and max_score == float("inf"):
            return len(idx.order)
        lo, hi = idx.bounds(float(min_score), float(max_score))
        return max(0, hi - lo)

    def index_drop(self, index: str) -> None:
        self._write(["ZD", index])

    # -- blobs: kept in Redis only, read by key -------------------------------------------
    def blob_put(self, key: str, data: bytes) -> None:
        data = bytes(data)
        with self.atomic():
            assert self._pending is not None
            self._write(self._pending.blob_op(key, data))

    def blob_get(self, key: str) -> bytes | None:
        self._state()
        txn = self._pending
        if txn is not None:
            if key in txn.blobs:
                return txn.blobs[key]
            if txn.cleared:
                return None
        data = self.wire.call("GET", self.keys.blob(key))
        return None if data is None else bytes(data)

    def blob_delete(self, key: str) -> None:
        with self.atomic():
            assert self._pending is not None
            self._write(self._pending.blob_op(key, None))

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, name: str) -> Any:
        return _decode(self._fresh().meta.get(name))

    def put_meta(self, name: str, value: Any) -> None:
        self._write(["MS", name, encode(value)])

    # -- whole store -----------------------------------------------------------------------
    def clear(self) -> None:
        with self.atomic():
            txn = self._pending
            assert txn is not None
            txn.blobs.clear()
            txn.blob_args.clear()
            txn.ops = [op for op in txn.ops if op[0] not in ("BS", "BD")]
            txn.cleared = True
            self._write(["X"])

    def dump(self) -> Iterator[tuple[str, str, Record]]:
        records = self._fresh().records
        items = [(kind, key, json.loads(raw)) for kind, table in list(records.items()) for key, raw in
                 list(table.items())]
        yield from items

    # -- the request journal: one script per append, no lock, no mirror (journal.py) -------------
    def journal_append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int, max_bytes: int) -> None:
        self._journal.append(entries, sizes, limit=limit, max_bytes=max_bytes)

    def journal_page(self, offset: int, limit: int | None) -> list[dict[str, Any]]:
        return self._journal.page(offset, limit)

    def journal_get(self, entry_id: str) -> dict[str, Any] | None:
        return self._journal.get(entry_id)

    def journal_count(self) -> int:
        return self._journal.count()

    def journal_bytes(self) -> int:
        return self._journal.stored_bytes()

    def journal_clear(self) -> None:
        self._journal.clear()

    def defer(self, work: Callable[[], None]) -> bool:
        self.peers.add(work)
        return True

    def gather(self) -> None:
        if getattr(self._state(), "depth", 0):
            return  # inside a block: never wait (up to 1 s) for other processes while holding the write lock
        self.peers.gather()
        self._sync()  # what they wrote, for the rest of this request too

    def close(self) -> None:
        self.peers.leave()
        self.wire.close()

    def unavailable(self, exc: BaseException) -> str | None:
        """Redis unreachable (refused, timed out, loading), refusing writes (READONLY, MISCONF, OOM), or this
        process's lock lost with it: a short reason, no credentials (the URL is never quoted)."""
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return f"Redis cannot be reached ({' '.join(str(exc).split())[:160]})"
        if isinstance(exc, redis.ResponseError) and str(exc).split(" ", 1)[0] in REFUSALS:
            return f"Redis refuses writes ({' '.join(str(exc).split())[:160]})"
        if isinstance(exc, LockLost | TimeoutError):
            return f"the Redis store lock was lost or not obtained ({str(exc)[:160]})"
        return None
