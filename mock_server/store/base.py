"""The one small interface every store implements.

The simulation rules (``mock_server/sim``) speak only this interface, so the
same rules run on a dict in memory, on SQLite (``--state PATH``) or on Redis
shared by many processes (``--store redis://...``).

Four kinds of thing are stored:

* records: JSON-able values addressed by ``(kind, key)`` (dicts, or the rules' records as rows: lists);
* indexes: named sets of members ordered by a numeric score (a Redis ZSET),
  used for every listing so that no request ever scans all records;
* blobs: bytes (uploads), addressed by key;
* meta: small singleton documents (the clock, queued outcomes, faults).

Read-modify-write sequences run inside ``with store.atomic():``. Each store makes
that block atomic across everything that shares it (a lock in memory, an
``IMMEDIATE`` transaction in SQLite, a lock in Redis), and re-entrant.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

# Offsets and limits past any index's size: stores read bigger ones as this, so a caller's huge number
# can never overflow SQLite's or Redis's 64-bit integers (the contracts refuse such numbers first).
INDEX_SPAN = 2**62

Record = Any  # a JSON-able dict or list (sim/records.py: a typed record's row)
T = TypeVar("T")


class Conflict(RuntimeError):
    """An optimistic store refused a request's writes: another request changed what this one read. Nothing was
    written; run the request again on fresh data (the pipeline does)."""

# The request journal as the generic methods below keep it (memory, SQLite): records, two indexes and a meta value.
JOURNAL_ENTRY = "request"  # record kind: entry id -> the entry (stored form)
JOURNAL_INDEX = "journal"  # index: entry id -> id (oldest first)
JOURNAL_SIZES = "journal-sizes"  # index: entry id -> its size, so trimming reads no entry
JOURNAL_STATE = "journal-state"  # meta: {"seq": last id, "bytes": stored size of the entries kept}


class Store(abc.ABC):
    """Abstract store. Implementations: ``memory.MemoryStore``, ``sqlite.SQLiteStore``, ``redis.RedisStore``."""

    # Whether other processes read and write this store (a SQLite file, Redis): what one process keeps in its own
    # memory instead (the request journal's ring) would then be missing from theirs.
    shared: ClassVar[bool] = True
    # Whether the data can vanish under a running process (a Redis restarted without persistence, or flushed):
    # the simulator then checks, on every request, that its start-up state is still there.
    volatile: ClassVar[bool] = False

    # -- records -----------------------------------------------------------
    @abc.abstractmethod
    def get(self, kind: str, key: str) -> Record | None: ...

    @abc.abstractmethod
    def put(self, kind: str, key: str, value: Record) -> None: ...

    @abc.abstractmethod
    def delete(self, kind: str, key: str) -> bool:
        """Remove a record; True if it existed."""

    @abc.abstractmethod
    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        """Records for ``keys`` in order (None where missing): one round trip for a page."""

    def warm(self, kind: str, keys: list[str]) -> list[Record | None] | None:
        """A hint that ``keys`` will be read soon (the jobs about to expire: ``Simulator._read_ahead``). A store that
        keeps a bounded cache of a remote state (Redis) reads the ones it lacks now, all in one round trip, and returns
        every value (None where missing); what it returns is a hint, checked by no transaction. A store that holds its
        state itself (memory, SQLite) returns None: nothing to gain, then or later."""
        return None

    @abc.abstractmethod
    def count(self, kind: str) -> int:
        """How many records of a kind exist (for the dashboard and benchmarks)."""

    # -- ordered indexes ---------------------------------------------------
    @abc.abstractmethod
    def index_add(self, index: str, member: str, score: float) -> None:
        """Add ``member`` (or move it) to ``index`` with ``score``."""

    @abc.abstractmethod
    def index_remove(self, index: str, member: str) -> bool: ...

    @abc.abstractmethod
    def index_score(self, index: str, member: str) -> float | None: ...

    @abc.abstractmethod
    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        """Members by ascending score (descending with ``reverse``), paginated."""

    @abc.abstractmethod
    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None, *, hint: bool = False) -> list[tuple[str, float]]:
        """(member, score) pairs with min_score <= score <= max_score, ascending.

        ``hint``: the caller uses the answer only to decide whether to look closer (is any work due?), never as a
        fact its writes rest on: an optimistic store (Redis: it checks what each transaction read instead of
        locking) does not check it at commit, so work added meanwhile by another request is no conflict (it is
        found next time)."""

    @abc.abstractmethod
    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int: ...

    @abc.abstractmethod
    def index_drop(self, index: str) -> None: ...

    # -- blobs -------------------------------------------------------------
    @abc.abstractmethod
    def blob_put(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def blob_get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def blob_delete(self, key: str) -> None: ...

    # -- meta --------------------------------------------------------------
    @abc.abstractmethod
    def get_meta(self, name: str) -> Any: ...

    @abc.abstractmethod
    def put_meta(self, name: str, value: Any) -> None: ...

    # -- whole store -------------------------------------------------------
    @abc.abstractmethod
    def atomic(self) -> AbstractContextManager[None]:
        """A re-entrant block whose reads and writes no other writer interleaves with."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget everything (``POST /__admin/reset`` then rebuilds the start-up state)."""

    @abc.abstractmethod
    def dump(self) -> Iterator[tuple[str, str, Record]]:
        """Every record as (kind, key, value): for snapshots."""

    # -- the request journal: a capped, numbered log ------------------------------------------
    # Its own methods, so that a store may keep it apart from the rules' state: Redis writes it with one script,
    # outside the lock and the change log (no process mirrors it). These generic ones use the methods above.
    def _journal_state(self) -> tuple[int, int]:
        state = self.get_meta(JOURNAL_STATE)
        if state is None:  # a store written before the byte cap: its sequence, its size unknown (counted as 0)
            return int(self.get_meta("journal-seq") or 0), 0
        return int(state["seq"]), int(state["bytes"])

    def journal_append(self, entries: list[dict[str, Any]], sizes: list[int], *, limit: int, max_bytes: int,
                       times_us: list[int] | None = None) -> None:
        """Number and keep ``entries`` (``sizes``: what each counts towards ``max_bytes``), then drop the oldest
        while more than ``limit`` are kept or they take more than ``max_bytes`` (the newest always stays).

        ``times_us``: when each was answered (µs since the epoch; None: their ``time_ms``). A store that
        ``defer``s (Redis: entries arrive late, from several processes) keeps them in that order and numbers them
        when first read; these generic methods, whose callers write each entry as it is answered, keep them in
        the order they arrive."""
        with self.atomic():
            seq, total = self._journal_state()
            for entry, size in zip(entries, sizes, strict=True):
                seq += 1
                total += size
                self.put(JOURNAL_ENTRY, str(seq), {**entry, "id": seq})
                self.index_add(JOURNAL_INDEX, str(seq), seq)
                self.index_add(JOURNAL_SIZES, str(seq), size)
            count = self.index_count(JOURNAL_INDEX)

            def over() -> bool:
                return count > limit or (total > max_bytes and count > 1)

            while over():
                oldest = self.index_range(JOURNAL_INDEX, 0, min(max(count - limit, 1), count - 1))
                if not oldest:
                    break
                for member in oldest:
                    if not over():
                        break
                    total -= int(self.index_score(JOURNAL_SIZES, member) or 0)
                    self.index_remove(JOURNAL_INDEX, member)
                    self.index_remove(JOURNAL_SIZES, member)
                    self.delete(JOURNAL_ENTRY, member)
                    count -= 1
            self.put_meta(JOURNAL_STATE, {"seq": seq, "bytes": max(0, total)})

    def journal_page(self, offset: int, limit: int | None) -> list[dict[str, Any]]:
        """Entries newest first, from ``offset``, at most ``limit`` (None: all), in their stored form with ``id``."""
        ids = self.index_range(JOURNAL_INDEX, offset, limit, reverse=True)
        return [e for e in self.get_many(JOURNAL_ENTRY, ids) if e is not None]

    def journal_get(self, entry_id: str) -> dict[str, Any] | None:
        entry: dict[str, Any] | None = self.get(JOURNAL_ENTRY, entry_id)
        return entry

    def journal_count(self) -> int:
        return self.index_count(JOURNAL_INDEX)

    def journal_bytes(self) -> int:
        return self._journal_state()[1]

    def journal_clear(self) -> None:
        """Forget every entry; ids keep counting. A store that ``defer``s also drops every entry answered before
        now that arrives later (another process's, written at its next flush), also when called inside the block
        of a ``clear()`` (a reset)."""
        with self.atomic():
            for old in self.index_range(JOURNAL_INDEX):
                self.delete(JOURNAL_ENTRY, old)
            self.index_drop(JOURNAL_INDEX)
            self.index_drop(JOURNAL_SIZES)
            self.put_meta(JOURNAL_STATE, {"seq": self._journal_state()[0], "bytes": 0})

    # -- requests (optional) -----------------------------------------------
    def request_begin(self, *, write: bool = True, exclusive: bool = False,  # noqa: B027 - optional hook
                      current: bool = False) -> None:
        """A request starts (``Simulator.begin_request``): a store may take one consistent view for all of it.

        ``write``: the request may write. The Redis store catches up in one round trip here and opens a
        transaction, sent in ``request_end``; ``exclusive``: it locks the store instead (a request that conflicted
        too often); ``current``: a read whose catch-up ``read_ahead`` did already. Memory and SQLite need nothing.
        """

    def read_ahead(self, loop: Any) -> Any:
        """Something the server's event loop calls for each read request, ``then(fn, *args)``, which calls
        ``fn(current, *args)`` once the store is current for it (``current`` True; the request then passes
        ``current=True`` to ``request_begin``), or None: the store needs no such thing (memory, SQLite)."""
        return None

    def request_end(self, *, behind: bool = False) -> Any:
        """The request that ``request_begin`` started has its answer: make its writes durable. An optimistic
        store (Redis) may raise ``Conflict`` here (nothing written): the request is then run again.

        ``behind``: the caller can wait for the outcome later, in this thread (:meth:`finish`, in the order the
        requests ended): a store may then send the writes and return a handle at once, without waiting for the
        reply. None: the writes are durable already (memory and SQLite always)."""
        return None

    def request_discard(self) -> None:  # noqa: B027 - optional hook
        """The request that ``request_begin`` started failed before its end: drop its writes, send nothing (Redis:
        its transaction is closed, so the thread's next transaction is one of its own). Memory and SQLite: nothing
        to do (their atomic blocks are whole on their own)."""

    def finish(self, pending: Any) -> None:
        """The outcome of writes ``request_end(behind=True)`` sent: returns once they are durable, or raises as
        ``request_end`` would have (``Conflict``: nothing written). Only stores that return a handle get here."""
        raise NotImplementedError

    def refresh(self) -> None:  # noqa: B027 - optional hook
        """A request is about to wait (real time) or has waited: make what it wrote durable (``Conflict``: it runs
        again), let others write, then see what they wrote."""

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the caller's writes are durable (a count of what they did). Memory and SQLite: now.
        An optimistic store (Redis) runs it when the caller's transaction commits, and never if it is refused."""
        fn()

    def transact(self, fn: Callable[[], T]) -> T:
        """``fn`` as one atomic block. An optimistic store (Redis) runs it as a transaction of its own and runs it
        again when it conflicts, so ``fn`` must be safe to run again (only its store writes count)."""
        with self.atomic():
            return fn()

    def defer(self, work: Callable[[], None]) -> bool:
        """Offer ``work`` (writing what this process kept: the request journal) to run off the request path, only
        when it is needed: whenever a process sharing the store calls ``gather()``, and when this process
        ``close``s. False: this store does not (memory, SQLite), so the caller does its writes inline."""
        return False

    def gather(self) -> None:  # noqa: B027 - optional hook
        """Run the ``defer``red work of every process sharing this store now, and wait for it (bounded): what a
        reader calls before reading what they buffered (``GET /__admin/requests``)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections/files."""

    def unavailable(self, exc: BaseException) -> str | None:
        """Whether ``exc`` (raised by this store) means it cannot be reached or refuses writes: a short reason
        (the HTTP layer answers 503 with it), or None (a bug, answered 500). Memory never is."""
        return None
