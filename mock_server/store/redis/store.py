"""``RedisStore``: the Store interface over Redis, with no lock on the request path.

How a request runs (docs/redis.md has the whole picture, the key layout and the measurements):

* ``request_begin()`` catches this process's cache up with the change log: one round trip, shared by every request
  of the process that arrived while it was on its way (``_catch_up``), and a plain integer reply when nothing
  changed. It opens a transaction (``transaction.Txn``).
* The rules then read the cache (dict speed; a record or index the process never read costs one round trip, once)
  and write into the transaction's overlay. Each read is remembered as a check.
* ``request_end()`` sends the writes, if any, with the checks in one script (round trip 2): Redis applies them only
  if every check still holds, else answers ``Conflict`` and the pipeline runs the request again on fresh data.
  Two requests conflict only if one wrote what the other read (the same account's running jobs, the same LTX
  user's credits, the same due task), never across accounts.
* ``request_end(behind=True)`` (granian's write thread) sends the commit without waiting for its reply; the
  thread's next transactions read its writes (``Prior``) and go on the same connection after it; ``finish`` reads
  the reply later and acts on it as ``request_end`` would have (docs/redis.md, "Commits sent ahead").
* ``atomic()`` inside a request joins its transaction. Outside any (start-up, a scenario, a script) it is an
  exclusive block: it takes ``<p>lock`` (optimistic commits wait while it is held) and commits with its token.
* ``transact(fn)`` (the webhook worker's claims and records) is an optimistic transaction of its own, run again on
  conflict.

Every key name is made in ``keys.py``. The prefix carries a hash tag (``{ltxmock}:``), so every key of a store is in
one Redis Cluster slot: the scripts may touch keys they do not declare (a reset's SCAN), on any deployment.
"""

from __future__ import annotations

import itertools
import json
import marshal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import redis

from mock_server.store.base import INDEX_SPAN, Conflict, Record, Store
from mock_server.store.redis.ahead import ReadAhead
from mock_server.store.redis.cache import Cache, Head, parse_score
from mock_server.store.redis.journal import RedisJournal
from mock_server.store.redis.keys import Keys
from mock_server.store.redis.lock import ACQUIRE_TIMEOUT_S, Lock, sync
from mock_server.store.redis.peers import Peers
from mock_server.store.redis.transaction import (
    COMMIT_SCRIPT,
    FENCE_SCRIPT,
    Locked,
    LockLost,
    Pending,
    Txn,
    apply_index_op,
    commit,
    commit_args,
    commit_outcome,
    encode,
    prior_of,
    score_arg,
    score_text,
)
from mock_server.store.redis.wire import Forks, Wire

if TYPE_CHECKING:
    import asyncio

DEFAULT_PREFIX = "{ltxmock}:"  # a hash tag: Redis Cluster keeps every key of the store in one slot
DEFAULT_LOCK_TTL_MS = 5000
HOT_S = 2.0  # a key that made a transaction conflict is contended for this long: this process's requests take turns
HOT_WAIT_S = 10.0  # the longest a request waits for its turn on a contended key before it runs again
RETRIES = 8  # optimistic attempts of a ``transact`` before it runs as an exclusive block (it then cannot conflict)
REFUSALS = frozenset({"READONLY", "MISCONF", "OOM", "LOADING", "MASTERDOWN", "NOREPLICAS"})  # Redis error codes
T = TypeVar("T")
_MISSING: Any = object()
INF = float("inf")
_EMPTY: dict[str, Any] = {}

__all__ = ["DEFAULT_LOCK_TTL_MS", "DEFAULT_PREFIX", "Conflict", "LockLost", "RedisStore", "parse_url"]


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split our own query options (``prefix``, ``lock_ttl_ms``) from the URL redis-py understands."""
    base, _, raw_query = url.partition("?")  # not urlunsplit: it turns unix:///path into unix:/path
    ours = {"prefix", "lock_ttl_ms"}
    query = parse_qsl(raw_query, keep_blank_values=True)
    options = {k: v for k, v in query if k in ours}
    rest = urlencode([(k, v) for k, v in query if k not in ours])
    return base + (f"?{rest}" if rest else ""), options


_THAWED: dict[Any, bytes] = {}  # a stored JSON text -> its value, marshalled: a copy for each reader, 3x cheaper
THAWED_MAX = 50_000


def _decode(raw: str | bytes | None) -> Any:
    """A stored value as a fresh object (no caller can change what another reads). The cache hands out the same text
    object for a record until it changes, and a str or bytes keeps its hash: the look-up costs a dict probe."""
    if raw is None:
        return None
    frozen = _THAWED.get(raw)
    if frozen is not None:
        return marshal.loads(frozen)
    value = json.loads(raw)
    if len(_THAWED) >= THAWED_MAX:
        _THAWED.clear()
    _THAWED[raw] = marshal.dumps(value)
    return value


class _Thread(threading.local):
    """One thread's place in the store: its transaction, its scope (a request's: "txn", "exclusive", "read"), how
    deep it is in ``atomic()`` blocks, and whether its next transaction catches up first. Class defaults, so a read
    is a plain attribute (no ``getattr(tl, name, default)``: the store reads them ~40 times per request)."""

    txn: Txn | None = None
    scope: str | None = None
    depth = 0
    stale = False
    t1 = 0.0
    pending: list[Pending] | None = None  # commits this thread sent ahead, in order, not yet finished: their writes
    # are what the thread's next transaction reads under the cache (``prior_of``, made when it begins)
    sent = 0  # commits this thread sent (ahead or at once): one sent after a commit ahead may have run before it


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
        # Counters for benchmarks and tests (approximate under threads): round trips, catch-ups (and those shared
        # with another request's), cache misses fetched, caches dropped, commits, conflicts, exclusive blocks and
        # the seconds they held the lock, waits for it.
        self.stats = self.wire.stats
        for name in ("syncs_shared", "syncs_ahead", "fetches", "drops", "commits", "conflicts", "exclusive", "turns",
                     "ahead"):
            self.stats.setdefault(name, 0)
        self.peers = Peers(self.wire, self.keys)  # deferred work (the journal) and the flush handshake
        self._journal = RedisJournal(self.wire, self.keys)  # apart from the cache: journal.py
        self._init_process()

    def _init_process(self) -> None:
        """Per-process state: rebuilt if we find ourselves in a forked child (it holds no lock, has no cache)."""
        self._fork = Forks.count
        self.wire.reset_process()
        self.cache = Cache()
        self._ids = itertools.count()
        self.lock = Lock(self.wire, self.keys, self.lock_ttl_ms)
        self._tl = _Thread()
        # One plain lock (entered as C code), and a condition over it that is only notified when a thread waits on
        # it: a catch-up that no other thread waited for costs no pure-Python Condition method.
        self._sync_mutex = threading.Lock()
        self._sync_cv = threading.Condition(self._sync_mutex)
        self._sync_waiters = 0
        self._sync_started = 0  # catch-ups sent, and the last one answered: a request waits for one sent after it
        self._sync_done = 0
        self._sync_busy = False
        self._ahead: ReadAhead | None = None
        # Keys that made a transaction conflict lately (until when) and their process-local locks: a transaction
        # that reads one takes its lock first, so this process's requests on one account take turns instead of
        # running on the same data and all but one being refused (requests on other accounts never wait).
        self._hot: dict[tuple[str, ...], float] = {}
        self._key_locks: dict[tuple[str, ...], threading.Lock] = {}
        self.peers.ensure()  # a forked child runs its own deferred-work thread

    def _txn_id(self) -> str:
        """This process's mark (new in a forked child) and a counter: unique, and cheaper than a UUID."""
        return f"{self.cache.token}.{next(self._ids)}"

    def _state(self) -> _Thread:
        """This thread's place in the store; in a forked child, the per-process state is rebuilt first."""
        if self._fork != Forks.count:
            self._init_process()
        return self._tl

    def _reading(self) -> Txn | None:
        """The caller's transaction, for a read; outside any, the cache is caught up first (a read of its own).
        ``_state`` and the catch-up test in one call: a request makes ~30 reads."""
        if self._fork != Forks.count:
            self._init_process()
        tl = self._tl
        txn = tl.txn
        if (txn is None and tl.scope is None) or self.cache.version < 0:
            self._catch_up()
        return txn

    def _txn(self) -> Txn | None:
        """The caller's transaction, for a write (None: the write is a block of its own)."""
        if self._fork != Forks.count:
            self._init_process()
        return self._tl.txn

    # -- catching up ----------------------------------------------------------------
    def _absorb(self, reply: Any) -> list[Any]:
        if isinstance(reply, int):
            return []  # current: the version alone
        with self.cache.mutex:
            if reply[1] is None:
                self.stats["drops"] += 1
            return self.cache.absorb(reply)

    def _catch_up(self) -> None:
        """The cache, current as of a moment after this call began: one round trip, shared by the requests that
        arrived while another's catch-up was on its way (they wait for the next one, which serves them all)."""
        with self._sync_mutex:
            target = self._sync_started + 1
            while self._sync_done < target:
                if not self._sync_busy:
                    self._sync_busy = True
                    self._sync_started += 1
                    number = self._sync_started
                    break
                self._sync_waiters += 1
                try:
                    self._sync_cv.wait()
                finally:
                    self._sync_waiters -= 1
            else:
                self.stats["syncs_shared"] += 1
                return
        ok = False
        try:
            self.stats["syncs"] += 1
            self._absorb(sync(self.wire, self.keys, self.cache.version))
            ok = True
        finally:
            with self._sync_mutex:
                self._sync_busy = False
                if ok:
                    self._sync_done = max(self._sync_done, number)
                if self._sync_waiters:
                    self._sync_cv.notify_all()

    def _fetch(self, items: list[tuple[str, ...]]) -> list[Any]:
        """Read what the cache lacks (records: ``('r', kind, key)``; index heads: ``('i', name)``), catching up in
        the same round trip; kept in the cache if no other thread moved it past the reply meanwhile."""
        self.stats["fetches"] += 1
        flat: list[Any] = [field for item in items for field in item]
        reply = sync(self.wire, self.keys, self.cache.version, flat)
        values = self._absorb(reply)
        out: list[Any] = []
        with self.cache.mutex:
            keep = self.cache.version == int(reply[0])
            for item, value in zip(items, values, strict=True):
                if item[0] == "r":
                    if keep:
                        self.cache.keep_record(item[1], item[2], value)
                    out.append(value)
                else:
                    head = Head.from_reply(int(value[0]), value[1])
                    if keep:
                        self.cache.keep_index(item[1], head)
                    out.append(head)
        return out

    def _guard(self, txn: Txn | None, key: tuple[str, ...]) -> None:
        """Before a transaction reads a contended key: take this process's lock on it (wait for the request
        holding it to commit; a second one is only tried, never waited for, so two requests cannot deadlock)."""
        if txn is None or txn.token or key not in self._hot:
            return
        if self._hot.get(key, 0.0) < time.monotonic():
            self._hot.pop(key, None)
            return
        lk = self._key_locks.get(key)
        if lk is None:
            lk = self._key_locks.setdefault(key, threading.Lock())
        if any(h is lk for h in txn.held):
            return
        ok = lk.acquire(blocking=False) if txn.held else lk.acquire(timeout=HOT_WAIT_S)
        if not ok:
            self._let_keys_go(txn)
            txn.doomed = True  # even if the caller swallows the Conflict, the transaction's end sends nothing
            self._tl.stale = True
            raise Conflict(f"another request of this process holds the contended key {key!r}")
        txn.held.append(lk)
        self.stats["turns"] += 1

    @staticmethod
    def _let_keys_go(txn: Txn) -> None:
        """Release this process's locks on contended keys the transaction took (callers test ``txn.held`` first)."""
        for lk in txn.held:
            lk.release()
        txn.held.clear()

    # -- transactions -------------------------------------------------------------------
    def atomic(self) -> AbstractContextManager[None]:
        return _Block(self)

    def _exclusive_begin(self) -> Txn:
        """Take the exclusive lock (threads of this process queue locally first) and catch up: one round trip."""
        local = self.lock.local
        local.acquire()
        try:
            token = uuid.uuid4().hex
            self._absorb(self.lock.acquire(token, self.cache.version))
        except BaseException:
            local.release()
            raise
        self.stats["exclusive"] += 1
        return Txn(self.cache.version, token)

    def _exclusive_end(self, txn: Txn, *, commit_it: bool, t1: float) -> None:
        try:
            if commit_it and txn.ops:
                self._commit(txn)
            else:
                with suppress(redis.RedisError):  # else it expires by itself
                    self.lock.release(txn.token)
                if commit_it:
                    self._committed(txn)
        finally:
            self.lock.token = None
            self.stats["blocks"] += 1
            self.stats["held_s"] += time.perf_counter() - t1
            self.lock.local.release()

    def _commit(self, txn: Txn, *, again: bool = False) -> None:
        """Send a transaction (one round trip); an exclusive block elsewhere makes it wait, a failed check raises
        ``Conflict``. What it wrote reaches this process's cache with the reply (with what others wrote before).
        ``again``: a commit sent ahead, sent again in its place (not one sent after the others)."""
        deadline = 0.0  # set when an exclusive block first makes it wait
        if not again:
            self._tl.sent += 1
        while True:
            try:
                # (its reply carries every entry: the commits this thread sent ahead, whose replies are read before
                # it, are absorbed only when finished, after it)
                version, entries = commit(self.wire, self.keys, txn, mine=self.cache.version,
                                          ttl_ms=self.lock_ttl_ms, writer=self.cache.token)
                break
            except Locked:
                if not deadline:
                    deadline = time.monotonic() + ACQUIRE_TIMEOUT_S
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"the store stayed locked by an exclusive block for {ACQUIRE_TIMEOUT_S}s"
                                       ) from None
                self.lock.wait()
            except Conflict as exc:
                self._conflicted(exc)
                raise
            except LockLost:
                raise
            except BaseException:
                with self.cache.mutex:
                    self.cache.forget()  # the outcome is unknown: start the cache over
                raise
        self._applied(txn, version, entries)

    @staticmethod
    def _ahead_ids(tl: _Thread) -> str:
        """The ids of this thread's commits sent ahead and not finished, for the next one sent ahead: they run
        before it (the same connection) and are finished before it (in order), so the cache takes their writes from
        their own replies, and its reply leaves their log entries out. Two ~1.7 kB entries a POST otherwise
        (commits two ahead), read out of the log by Redis, sent and parsed for nothing."""
        pending = tl.pending
        if not pending:
            return ""
        return " ".join([sent.txn.id for sent in pending if sent.txn.ops and not sent.done])

    def _applied(self, txn: Txn, version: int, entries: Any) -> None:
        """A commit's reply says it ran: the cache takes the log entries before it and its writes; its events run."""
        self.stats["commits"] += 1
        if entries is not None:
            with self.cache.mutex:
                self.cache.absorb_commit(version, entries, txn.ops)
        self._committed(txn)

    def _conflicted(self, exc: Conflict) -> None:
        """A commit was refused: this thread's next transaction catches up first, and the key is contended."""
        self.stats["conflicts"] += 1
        self._tl.stale = True  # this thread's next transaction catches up first: it runs again on fresh data
        key = getattr(exc, "key", None)
        if key is not None:
            now = time.monotonic()
            if len(self._hot) > 1024:  # keys contended long ago: forgotten (their locks too, if free)
                for old in [k for k, until in self._hot.items() if until < now]:
                    del self._hot[old]
                    lk = self._key_locks.get(old)
                    if lk is not None and not lk.locked():
                        self._key_locks.pop(old, None)
            self._hot[key] = now + HOT_S

    @staticmethod
    def _committed(txn: Txn) -> None:
        """Run what waited for the transaction's commit (its events: counted once, only if it happened)."""
        after = txn.after
        if not after:
            return
        txn.after = []
        for fn in after:
            try:  # noqa: SIM105 - not suppress(): a context manager per event costs three Python calls
                fn()
            except Exception:  # an event's failure must not fail the request that committed
                pass

    def after_commit(self, fn: Callable[[], None]) -> None:
        txn = self._txn()
        if txn is None:
            fn()
        else:
            txn.after.append(fn)

    def transact(self, fn: Callable[[], T]) -> T:
        """``fn`` as one transaction of its own, run again (on fresh data) when it conflicts; after ``RETRIES``
        conflicts in a row, as an exclusive block. ``fn`` must be safe to run again (only its store writes count)."""
        tl = self._state()
        if tl.depth or tl.txn is not None:
            with self.atomic():
                return fn()
        for _ in range(RETRIES):
            self._catch_up()
            txn = tl.txn = Txn(self.cache.version, txn_id=self._txn_id())
            tl.depth = 1
            try:
                try:
                    result = fn()
                finally:
                    tl.depth = 0
                    tl.txn = None
                if txn.doomed:
                    continue
                if txn.ops:
                    self._commit(txn)
                else:
                    self._committed(txn)
            except Conflict:
                continue
            finally:
                if txn.held:
                    self._let_keys_go(txn)
            return result
        with self.atomic():
            return fn()

    # -- requests ---------------------------------------------------------------------
    def read_ahead(self, loop: asyncio.AbstractEventLoop) -> ReadAhead | None:
        """The server's event loop catches up for the reads (``ahead.py``); None over TLS."""
        self._state()
        if issubclass(self.wire.connection_class, redis.SSLConnection):
            return None
        if self._ahead is None or self._ahead.loop is not loop:
            self._ahead = ReadAhead(loop, self.wire, self.keys, version=lambda: self.cache.version,
                                    absorb=self._absorb, stats=self.stats)
        return self._ahead

    def request_begin(self, *, write: bool = True, exclusive: bool = False, current: bool = False) -> None:
        """Where a request starts: open its transaction. A read (``write`` False) catches up first (one round trip,
        shared), so what it answers is current, unless it is ``current`` already (``read_ahead``: the event loop
        caught up for it after it arrived). A writing method does not: its end sends its reads to be checked
        (with its writes, if any: one round trip in all), so it answers from state that is current at that
        instant, or it conflicts and runs again on fresh data. ``exclusive``: take the store's lock instead, for a
        request that conflicted too often (it then cannot conflict)."""
        tl = self._state()
        if tl.scope is not None:
            with suppress(Conflict):
                self.request_end()  # a request that never ended (a server bug): never leave its lock held
        if tl.depth:
            return  # inside a block already (a request made from inside one): that block rules
        if exclusive:
            tl.txn = self._exclusive_begin()
            tl.scope = "exclusive"
        else:
            if (not write and not current) or self.cache.version < 0 or tl.stale:
                tl.stale = False
                self._catch_up()
            txn = tl.txn = Txn(self.cache.version, txn_id=self._txn_id())
            txn.validate = write
            if write and tl.pending:  # the writes of this thread's commits on their way, read under the cache
                prior = txn.prior = prior_of(tl.pending)
                txn.prior_ids = prior.ids  # type: ignore[union-attr]
            tl.scope = "txn"
        tl.t1 = time.perf_counter()

    def request_end(self, *, behind: bool = False) -> Pending | None:
        """The request has its answer: send its writes (round trip 2), or raise ``Conflict`` (nothing written).

        ``behind``: send them and return at once, without waiting for the reply (a ``Pending``, which
        :meth:`finish` settles, in the order sent, in this thread), when the transaction allows it (optimistic,
        no blobs, no clear); else None, committed as usual. The thread's next transactions read
        its writes (``Prior``) until it is finished."""
        tl = self._state()
        scope = tl.scope
        tl.scope = None
        txn: Txn | None = tl.txn
        if scope not in ("txn", "exclusive") or txn is None:
            return None
        tl.txn = None
        if scope == "exclusive":
            self._exclusive_end(txn, commit_it=True, t1=tl.t1)
            return None
        try:
            if txn.doomed:
                raise Conflict("this request's transaction was refused before its end: it runs again")
            if txn.ops or (txn.validate and txn.reads):
                if behind and not txn.blobs and not txn.cleared and self.cache.version >= 0:
                    pending = self._send_ahead(tl, txn)
                    if pending is not None:
                        return pending
                self._commit(txn)
            else:
                self._committed(txn)
        finally:
            if txn.held:
                self._let_keys_go(txn)
        return None

    def request_discard(self) -> None:
        """The request failed before its end: its transaction is closed with nothing sent (an exclusive block lets
        the store's lock go). Left open, the thread's next blocks (the worker's claims, after a refused settling)
        would join it, and their writes would never be sent."""
        tl = self._state()
        scope, txn = tl.scope, tl.txn
        tl.scope = None
        if scope not in ("txn", "exclusive") or txn is None:
            return
        tl.txn = None
        tl.stale = True  # it may have read what made it fail: the next transaction catches up first
        if scope == "exclusive":
            self._exclusive_end(txn, commit_it=False, t1=tl.t1)
        elif txn.held:
            self._let_keys_go(txn)

    def _send_ahead(self, tl: _Thread, txn: Txn) -> Pending | None:
        """Send the commit without awaiting its reply (None: it could not be sent; the caller commits as usual)."""
        tl.sent += 1
        pending = Pending(txn, tl.sent)
        script_keys, args = commit_args(self.keys, txn, mine=self.cache.version, ttl_ms=self.lock_ttl_ms,
                                        writer=self.cache.token, ahead=self._ahead_ids(tl))
        try:
            self.wire.send_ahead(COMMIT_SCRIPT, script_keys, args, pending)
        except (redis.ConnectionError, redis.TimeoutError):
            return None
        if tl.pending is None:
            tl.pending = []
        tl.pending.append(pending)
        self.stats["ahead"] += 1
        return pending

    def finish(self, pending: Pending) -> None:
        """A commit sent ahead by this thread: read its reply (and those sent before it) and act on it as
        ``request_end`` would have (the cache takes its writes, its events run); raises what ``request_end``
        would (``Conflict``: nothing written, run it again). Idempotent: a second call raises the same again."""
        tl = self._state()
        queue = tl.pending or []
        while queue and not pending.done:
            self._settle_one(queue[0])
        if pending.error is not None:  # refused: what the later ones read from it is not so; settle them now too,
            while queue:  # and the next transaction reads the cache alone
                self._settle_one(queue[0])
        if pending.error is not None:
            raise pending.error

    def _settle_one(self, pending: Pending) -> None:
        """(The oldest of this thread's commits sent ahead.) Its reply read and acted on; the outcome kept."""
        tl = self._tl
        try:
            self.wire.settle(pending)
            noscript = isinstance(pending.reply, redis.exceptions.NoScriptError)
            if pending.failed is not None or noscript:
                # Its reply was lost with the connection (it may have run), or Redis did not know the script (it
                # did not): sent again, waiting this time (the script's retry marker answers "already applied" if
                # it ran), unless that would land it after a later commit of its thread: then it runs again.
                if pending.txn.ops and not self._may_send_again(pending, noscript):
                    conflict = Conflict("a commit sent ahead did not run, and later ones of its thread may have: "
                                        "it runs again")
                    self._conflicted(conflict)
                    raise conflict
                self._commit(pending.txn, again=True)
            else:
                try:
                    version, entries = commit_outcome(pending.txn, pending.reply)
                except Locked:  # an exclusive block held the store: nothing written; it runs again
                    tl.stale = True
                    raise Conflict("an exclusive block held the store when this commit came") from None
                except Conflict as exc:
                    self._conflicted(exc)
                    raise
                except Exception:
                    with self.cache.mutex:
                        self.cache.forget()  # the outcome is unknown: start the cache over
                    raise
                self._applied(pending.txn, version, entries)
        except BaseException as exc:
            pending.error = exc
        finally:
            pending.done = True
            pending.reply = None
            if tl.pending and tl.pending[0] is pending:
                tl.pending.pop(0)

    def _may_send_again(self, pending: Pending, noscript: bool) -> bool:
        """May the oldest commit this thread sent ahead, which did not run (``noscript``) or may not have (its
        reply lost), be sent again in its place? Yes if no later commit of its thread ran: none was committed at
        once after it, and every later one sent ahead was answered NOSCRIPT too (Redis forgot the script: each is
        sent again in turn, in order). Else it would land after them, out of the order its thread sent them in (a
        write of theirs lost under its older one): yes only if it ran after all (the resend then writes nothing).
        Asking settles that for good (``FENCE``): if it did not run, it never will."""
        later = (self._tl.pending or [pending])[1:]
        if (later[-1] if later else pending).seq == self._tl.sent:
            for sent in later:
                self.wire.settle(sent)  # their replies read, not acted on yet
            if all(isinstance(sent.reply, redis.exceptions.NoScriptError) for sent in later):
                return True
        if noscript:
            return False
        return self.wire.run(FENCE_SCRIPT, [self.keys.done(pending.txn.id)], []) not in (None, b"-1", "-1")

    def _settle_prior(self, txn: Txn) -> None:
        """A read the prior writes cannot answer on their own: settle every commit this thread sent ahead first, so
        the cache holds what they wrote. If one was refused, what ``txn`` read from it was wrong: it runs again."""
        tl = self._tl
        txn.prior = None
        refused = False
        for pending in list(tl.pending or ()):
            if not pending.done:
                self._settle_one(pending)
            refused = refused or pending.error is not None
        if refused:
            txn.doomed = True
            tl.stale = True
            raise Conflict("a commit this thread sent ahead was refused; what this request read from it is not so")
        # The cache may not hold what they wrote: a reply whose log entries it could not join (a gap, another
        # process's writes between) is not absorbed. The transaction reads those keys from the cache from now on,
        # and its checks hold the values it read first, from them: a cache behind them would hand it older values
        # than its checks vouch for (a lost update). Catch up first.
        self._catch_up()

    def refresh(self) -> None:
        """Before a request waits (real time): send what it wrote (``Conflict`` if it must run again); its later
        reads see what others wrote, and its later blocks are exclusive blocks of their own."""
        tl = self._state()
        if tl.depth:
            return  # inside a rule block: it must stay whole
        if tl.scope in ("txn", "exclusive"):
            self.request_end()
            tl.scope = "read"
        self._catch_up()

    # -- records ---------------------------------------------------------------------
    def _record(self, kind: str, key: str) -> str | bytes | None:
        txn = self._tl.txn  # inside a request (the usual case): no call; else, or in a forked child, _reading
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        if self._hot:
            self._guard(txn, ("r", kind, key))
        if txn is not None:
            if txn.cleared:
                return txn.records.get(kind, _EMPTY).get(key)
            written = txn.records.get(kind)
            if written is not None and key in written:
                return written[key]
            prior = txn.prior
            if prior is not None:
                ahead = prior.records.get(kind)
                if ahead is not None and key in ahead:
                    sent = ahead[key]
                    txn.read(("h", kind, key, sent))  # as Redis will hold it once the commits sent ahead ran
                    return sent
        table = self.cache.records.get(kind)
        raw = _MISSING if table is None else table.get(key, _MISSING)
        if raw is _MISSING:
            raw = self._fetch([("r", kind, key)])[0]
        if txn is not None:
            txn.read(("h", kind, key, raw))
        return raw  # type: ignore[no-any-return]

    def get(self, kind: str, key: str) -> Record | None:
        return _decode(self._record(kind, key))

    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        txn = self._tl.txn  # _reading inlined for a request's reads
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        written = txn.records.get(kind, _EMPTY) if txn is not None else _EMPTY
        cleared = txn is not None and txn.cleared
        ahead = txn.prior.records.get(kind, _EMPTY) if txn is not None and txn.prior is not None else _EMPTY
        table = self.cache.records.get(kind, _EMPTY)
        raws: list[Any] = []
        missing: list[Any] = []
        for key in keys:
            if self._hot:
                self._guard(txn, ("r", kind, key))
            if key in written:
                raws.append(written[key])
                continue
            if cleared:
                raws.append(None)
                continue
            raw = ahead.get(key, _MISSING) if ahead else _MISSING
            if raw is _MISSING:
                raw = table.get(key, _MISSING)
            if raw is _MISSING:
                missing.append(("r", kind, key))
            raws.append(raw)
        if missing:
            fetched = iter(self._fetch(missing))
            raws = [next(fetched) if raw is _MISSING else raw for raw in raws]
        if txn is not None and not cleared:
            for key, raw in zip(keys, raws, strict=True):
                if key not in written:
                    txn.read(("h", kind, key, raw))
        return [_decode(raw) for raw in raws]

    def warm(self, kind: str, keys: list[str]) -> list[Record | None]:
        """The records the cache lacks, fetched in one round trip (no read of the caller's transaction: a hint); the
        ones it holds move to its newest end. Past ``MAX_RECORDS`` the cache drops the records it took first, so
        under a steady load those of the oldest jobs are gone when they expire: read one by one, a round trip per
        job and one per artifact; and a record warmed but left where it was would be the next dropped."""
        if self._fork != Forks.count:
            self._init_process()
        with self.cache.mutex:
            held = self.cache.touch(kind, keys)
        missing: list[tuple[str, ...]] = [("r", kind, key) for key in keys if key not in held]
        if missing:
            held.update(zip([item[2] for item in missing], self._fetch(missing), strict=True))
        return [_decode(held[key]) for key in keys]

    def put(self, kind: str, key: str, value: Record) -> None:
        raw = encode(value)
        txn = self._txn()
        if txn is None:
            with self.atomic():
                self.put(kind, key, value)
            return
        txn.put_record(kind, key, raw)

    def delete(self, kind: str, key: str) -> bool:
        txn = self._txn()
        if txn is None:  # outside any transaction: the read and the write are one block of their own
            with self.atomic():
                return self.delete(kind, key)
        existed = self._record(kind, key) is not None
        if existed:
            txn.put_record(kind, key, None)
        return existed

    def count(self, kind: str) -> int:
        """Records of a kind in Redis (one or two round trips), with the caller's own writes counted."""
        txn = self._txn()
        written = txn.records.get(kind, {}) if txn is not None else {}
        if txn is not None and txn.cleared:
            return sum(1 for raw in written.values() if raw is not None)
        n = int(self.wire.call("HLEN", self.keys.record_kind(kind)))
        if written:
            names = list(written)
            there = self.wire.call("HMGET", self.keys.record_kind(kind), *names)
            for name, was in zip(names, there, strict=True):
                n += (written[name] is not None) - (was is not None)
        return n

    # -- indexes -----------------------------------------------------------------------
    def _overlay(self, txn: Txn | None, name: str) -> Head | None:
        """The index as the caller's transaction wrote it (when it wrote it: read back whole), else None."""
        if txn is None:
            return None
        if self._hot:
            self._guard(txn, ("i", name))
        head = txn.indexes.get(name)
        if head is not None:
            return head
        if txn.cleared or name in txn.zpending:
            return self._read_back(txn, name)
        return None

    def _read_back(self, txn: Txn, name: str) -> Head:
        """An index the transaction wrote and now reads: its whole base (checked at commit), its writes applied."""
        if txn.cleared:
            head = Head()
        else:
            cached = self.cache.indexes.get(name)
            if cached is not None and cached.whole:
                head = cached.copy()
            else:
                flat = self.wire.call("ZRANGE", self.keys.index(name), 0, -1, "WITHSCORES")
                head = Head.from_reply(0, flat)  # card 0: whole
            prior = txn.prior
            if prior is not None:  # as Redis will hold it once the commits sent ahead ran (applied twice: the same)
                for op in prior.z.get(name, ()):
                    apply_index_op(head, op)
            txn.read(("b", name, -INF, INF, None, [(m, sc) for sc, m in head.order]))
        for op in txn.zpending.pop(name, ()):
            apply_index_op(head, op)
        txn.indexes[name] = head
        return head

    def _refetch(self, name: str) -> Head:
        """A head that cannot answer (its members were removed, or the read goes past it): read it again."""
        head: Head = self._fetch([("i", name)])[0]
        return head

    def index_add(self, index: str, member: str, score: float) -> None:
        op = ["ZA", index, score_arg(float(score)), member]
        txn = self._txn()
        if txn is None:
            with self.atomic():
                self.index_add(index, member, score)
            return
        txn.index_op(op)

    def index_remove(self, index: str, member: str) -> bool:
        txn = self._txn()
        if txn is None:  # outside any transaction: the read and the write are one block of their own
            with self.atomic():
                return self.index_remove(index, member)
        existed = self._score(self._reading(), index, member) is not None
        if existed:
            txn.index_op(["ZR", index, member])
        return existed

    def index_drop(self, index: str) -> None:
        txn = self._txn()
        if txn is None:
            with self.atomic():
                self.index_drop(index)
            return
        txn.index_op(["ZD", index])

    def index_score(self, index: str, member: str) -> float | None:
        return self._score(self._reading(), index, member)

    def _score(self, txn: Txn | None, index: str, member: str) -> float | None:
        pending = None if txn is None or txn.cleared or index in txn.indexes else txn.zpending.get(index)
        if pending:  # this transaction wrote the index, never read it back: a write to this member answers
            if self._hot:
                self._guard(txn, ("i", index))
            for op in reversed(pending):  # ["ZA", index, score, member], ["ZR", index, member], ["ZD", index]
                code = op[0]
                if code == "ZA" and op[3] == member:
                    return float(op[2])
                if (code == "ZR" and op[2] == member) or code == "ZD":
                    return None
            over = None  # not touched by its writes: the stored score, checked (not the whole index read back)
        else:
            over = self._overlay(txn, index)
        if over is not None:
            return over.scores.get(member)
        ops = txn.prior.z.get(index) if txn is not None and txn.prior is not None else None
        if ops:  # the commits sent ahead wrote the index: a write to this member answers
            for op in reversed(ops):
                code = op[0]
                if code == "ZA" and op[3] == member:
                    found: float | None = parse_score(op[2])
                    txn.read(("s", index, member, found))  # type: ignore[union-attr]
                    return found
                if (code == "ZR" and op[2] == member) or code == "ZD":
                    txn.read(("s", index, member, None))  # type: ignore[union-attr]
                    return None
        head = self.cache.indexes.get(index)
        if head is None:
            head = self._refetch(index)
        score = head.scores.get(member)
        if score is None and not head.whole:
            raw = self.wire.call("ZSCORE", self.keys.index(index), member)
            score = None if raw is None else parse_score(raw)
        if txn is not None:
            txn.read(("s", index, member, score))
        return score

    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int:
        txn = self._tl.txn  # _reading inlined for a request's reads
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        over = self._overlay(txn, index)
        lo_s, hi_s = float(min_score), float(max_score)
        if over is not None:
            lo, hi = over.bounds(lo_s, hi_s)
            return max(0, hi - lo)
        if txn is not None and txn.prior is not None and index in txn.prior.z:
            self._settle_prior(txn)
        head = self.cache.indexes.get(index)
        if head is None:
            head = self._refetch(index)
        if head.covers(hi_s):
            lo, hi = head.bounds(lo_s, hi_s)
            n = max(0, hi - lo)
        else:
            n = int(self.wire.call("ZCOUNT", self.keys.index(index), score_text(lo_s), score_text(hi_s)))
        if txn is not None:
            txn.read(("c", index, lo_s, hi_s, n))
        return n

    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None, *, hint: bool = False) -> list[tuple[str, float]]:
        if limit is not None and limit <= 0:
            return []
        txn = self._tl.txn  # _reading inlined for a request's reads
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        over = self._overlay(txn, index)
        lo_s, hi_s = float(min_score), float(max_score)
        if over is not None:
            lo, hi = over.bounds(lo_s, hi_s)
            if limit is not None:
                hi = min(hi, lo + limit)
            return [(m, s) for s, m in over.order[lo:hi]]
        ops = txn.prior.z.get(index) if txn is not None and txn.prior is not None else None
        if ops:
            out = _merged(self._stored_by_score(index, lo_s, hi_s, None if limit is None else limit + len(ops)),
                          ops, lo_s, hi_s, limit)
        else:
            out = self._stored_by_score(index, lo_s, hi_s, limit)
        if txn is not None and not hint:
            txn.read(("b", index, lo_s, hi_s, None if limit is None else min(limit, INDEX_SPAN), out))
        return out

    def _stored_by_score(self, index: str, lo_s: float, hi_s: float, limit: int | None) -> list[tuple[str, float]]:
        """The members in a range by score as Redis holds them (the cache's head, else one round trip)."""
        head = self.cache.indexes.get(index)
        out = self._by_score(self._refetch(index) if head is None else head, lo_s, hi_s, limit)
        if out is None:
            out = self._by_score(self._refetch(index), lo_s, hi_s, limit)
        if out is None:
            args: list[Any] = ["ZRANGEBYSCORE", self.keys.index(index), score_text(lo_s), score_text(hi_s),
                               "WITHSCORES"]
            if limit is not None:
                args += ["LIMIT", 0, min(limit, INDEX_SPAN)]
            flat = self.wire.call(*args)
            out = [(flat[j].decode(), parse_score(flat[j + 1])) for j in range(0, len(flat), 2)]
        return out

    @staticmethod
    def _by_score(head: Head, lo_s: float, hi_s: float, limit: int | None) -> list[tuple[str, float]] | None:
        """The answer from a head, or None when the head cannot know it (the range goes past its boundary)."""
        lo, hi = head.bounds(lo_s, hi_s)
        if limit is not None:
            hi = min(hi, lo + limit)
        out = [(m, s) for s, m in head.order[lo:hi]]
        if head.covers(hi_s) or (limit is not None and len(out) >= limit):
            return out
        return None

    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        offset = min(max(0, offset), INDEX_SPAN)
        if limit is not None and limit <= 0:
            return []
        limit = None if limit is None else min(limit, INDEX_SPAN)
        txn = self._tl.txn  # _reading inlined for a request's reads
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        over = self._overlay(txn, index)
        if over is not None:
            return over.page(offset, limit, reverse)
        if txn is not None and txn.prior is not None and index in txn.prior.z:
            self._settle_prior(txn)
        head = self.cache.indexes.get(index)
        if head is None:
            head = self._refetch(index)
        if head.whole or (not reverse and limit is not None and offset + limit <= len(head.order)):
            out = head.page(offset, limit, reverse)
        else:
            stop = -1 if limit is None else offset + limit - 1
            raw = self.wire.call("ZREVRANGE" if reverse else "ZRANGE", self.keys.index(index), offset, stop)
            out = [m.decode() for m in raw]
        if txn is not None:
            txn.read(("g", index, offset, -1 if limit is None else offset + limit - 1, reverse, out))
        return out

    # -- blobs: kept in Redis only, read by key -------------------------------------------
    def blob_put(self, key: str, data: bytes) -> None:
        data = bytes(data)
        with self.atomic():
            txn = self._txn()
            assert txn is not None
            txn.blob_op(key, data)

    def blob_get(self, key: str) -> bytes | None:
        txn = self._txn()
        if txn is not None:
            if key in txn.blobs:
                return txn.blobs[key]
            if txn.cleared:
                return None
        data = self.wire.call("GET", self.keys.blob(key))
        return None if data is None else bytes(data)

    def blob_delete(self, key: str) -> None:
        with self.atomic():
            txn = self._txn()
            assert txn is not None
            txn.blob_op(key, None)

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, name: str) -> Any:
        txn = self._tl.txn  # _reading inlined for a request's reads
        if txn is None or self._fork != Forks.count or self.cache.version < 0:
            txn = self._reading()
        if self._hot:
            self._guard(txn, ("m", name))
        if txn is not None and (txn.cleared or name in txn.meta):
            return _decode(txn.meta.get(name))
        prior = txn.prior if txn is not None else None
        raw = prior.meta[name] if prior is not None and name in prior.meta else self.cache.meta.get(name)
        if txn is not None:
            txn.read(("m", name, raw))
        return _decode(raw)

    def put_meta(self, name: str, value: Any) -> None:
        raw = encode(value)
        txn = self._txn()
        if txn is None:
            with self.atomic():
                self.put_meta(name, value)
            return
        txn.put_meta(name, raw)

    # -- whole store -----------------------------------------------------------------------
    def clear(self) -> None:
        with self.atomic():
            txn = self._txn()
            assert txn is not None
            txn.clear()

    def dump(self) -> Iterator[tuple[str, str, Record]]:
        """Every record, read from Redis (snapshots: the cache holds only what this process read), with the
        caller's own writes."""
        txn = self._txn()
        start = len(self.keys.record_kind(""))
        found: dict[str, dict[str, Any]] = {}
        if txn is None or not txn.cleared:
            cursor: Any = b"0"
            names: set[bytes] = set()
            while True:
                cursor, page = self.wire.call("SCAN", cursor, "MATCH", self.keys.pattern_prefix + "r:*", "COUNT",
                                              1000)
                names.update(page)
                if cursor in (b"0", 0, "0"):
                    break
            for name in sorted(names):
                flat = self.wire.call("HGETALL", name)
                found[name.decode()[start:]] = {flat[j].decode(): flat[j + 1] for j in range(0, len(flat), 2)}
        if txn is not None:
            for kind, written in txn.records.items():
                table = found.setdefault(kind, {})
                for key, raw in written.items():
                    if raw is None:
                        table.pop(key, None)
                    else:
                        table[key] = raw
        items = [(kind, key, json.loads(raw)) for kind, table in found.items() for key, raw in table.items()]
        yield from items

    # -- the request journal: one script per write or read, no lock, no cache (journal.py) -------
    def journal_append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int, max_bytes: int,
                       times_us: list[int] | None = None) -> None:
        self._journal.append(entries, sizes, limit=limit, max_bytes=max_bytes, times_us=times_us)

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
        if self._state().depth:
            return  # inside a block: never wait (up to 1 s) for other processes there
        self.peers.gather()
        self._catch_up()  # what they wrote, for the rest of this request too

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
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


def _merged(stored: list[tuple[str, float]], ops: list[Any], lo_s: float, hi_s: float,
            limit: int | None) -> list[tuple[str, float]]:
    """A range by score as it will be once ``ops`` (the commits sent ahead) ran: ``stored`` is the range as stored,
    with one member more per op than the limit (an op removes at most one from it, so the first ``limit`` left are
    the first of the index; a member an op adds or moves is in ``ops`` itself)."""
    scores = dict(stored)
    for op in ops:
        code = op[0]
        if code == "ZA":
            scores[op[3]] = parse_score(op[2])
        elif code == "ZR":
            scores.pop(op[2], None)
        else:  # ZD: every member stored is gone, those beyond ``stored`` too
            scores.clear()
    out = sorted((s, m) for m, s in scores.items() if lo_s <= s <= hi_s)
    if limit is not None:
        out = out[:limit]
    return [(m, s) for s, m in out]


class _Block:
    """``atomic()``: re-entered, part of the caller's transaction (a request, a ``transact``), or an exclusive block
    of its own (outside any: it takes the store's lock, and commits or discards at its end). A class rather than a
    generator: every rule call opens one."""

    __slots__ = ("mode", "store", "t1", "tl", "txn")

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        tl = self.tl = self.store._state()
        depth = tl.depth
        if depth:  # re-entered: the outer block is the block
            tl.depth = depth + 1
            self.mode = 0
        elif tl.txn is not None:  # inside a request or a transact: part of its transaction
            tl.depth = 1
            self.mode = 1
        else:
            self.txn = self.store._exclusive_begin()
            tl.txn, tl.depth = self.txn, 1
            self.t1 = time.perf_counter()
            self.mode = 2

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        tl = self.tl
        if self.mode == 0:
            tl.depth -= 1
        elif self.mode == 1:
            tl.depth = 0
        else:
            tl.depth = 0
            tl.txn = None
            self.store._exclusive_end(self.txn, commit_it=exc_type is None, t1=self.t1)

