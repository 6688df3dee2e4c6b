"""The request journal's storage: bounded, newest first, filtered, counted, cleared. No HTTP here.

Two kinds with one interface (``append``, ``query``, ``page``, ``get``, ``count``, ``clear``, ``stored_bytes``),
chosen by the store (:func:`open_journal`):

* :class:`RequestRing`, with the in-memory store (one process): entries stay in this process's memory as the
  HTTP layer hands them in (``mock_server/journal.py: Entry``: raw bytes and a few fields), and are masked and
  rendered only when someone reads them. Appending is a deque append under a lock of its own, never the store's:
  every request appends, and with the store's lock that queued request threads behind job creation
  (docs/performance.md).
* :class:`Journal`, with a store shared between processes (SQLite, Redis): every worker's requests show in one
  journal kept in the store. Where the store ``defer``s (Redis), each process keeps its entries raw, bounded as
  the ring is, and writes them (masked) only when someone reads the journal (every live process is asked first)
  or when the process stops: a request pays a deque append, as in memory. The store keeps them in the order they
  were answered (``time_us``), whenever they arrive. SQLite: each entry is written when its request is answered.

An entry is either a dict in the stored form (the fields of ``GET /__admin/requests`` with bodies as text) or an
object with ``size`` (what it counts towards ``max_bytes``), ``time_us`` (when it was answered) and ``masked()``
(its stored form).
"""

from __future__ import annotations

import collections
import fnmatch
import json
import threading
from typing import Any, Protocol

from mock_server.bounds import load_json
from mock_server.sim.context import Context
from mock_server.store.base import JOURNAL_ENTRY, JOURNAL_INDEX, JOURNAL_SIZES, JOURNAL_STATE, Store

ENTRY, INDEX, SIZES, STATE = JOURNAL_ENTRY, JOURNAL_INDEX, JOURNAL_SIZES, JOURNAL_STATE  # how a store keeps it
MAX_BYTES = 32 * 1024 * 1024  # default for SimConfig.journal_max_bytes
ENTRY_OVERHEAD = 256  # the fixed fields of an entry, counted towards the byte cap
WRITE_BATCH = 500  # entries a shared journal's flush hands the store at once (one write each: all or nothing)


class Recorded(Protocol):
    """What the HTTP layer appends: its size towards the byte cap, when it was answered (wall clock, µs: the order
    a shared journal keeps), and its stored form on demand."""

    size: int
    time_us: int

    def masked(self) -> dict[str, Any]: ...


def entry_size(entry: dict[str, Any]) -> int:
    """What an entry costs towards the byte cap: its bodies, path, query and headers (characters) plus a fixed part."""
    n = ENTRY_OVERHEAD + len(entry.get("path") or "")
    for key in ("body", "response"):
        value = entry.get(key)
        n += len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False, default=str))
    for key in ("headers", "query"):
        n += sum(len(k) + len(v) for k, v in (entry.get(key) or {}).items())
    return n


def answered_us(entry: Recorded | dict[str, Any]) -> int:
    """When ``entry`` was answered, µs since the epoch (a dict in the stored form: its ``time_ms``)."""
    return int(entry.get("time_ms") or 0) * 1000 if isinstance(entry, dict) else entry.time_us


def _parsed(text: Any, mimetype: str | None) -> Any:
    """A stored body for reading: JSON text becomes the object it spells, anything else stays."""
    if not isinstance(text, str) or "json" not in (mimetype or "") or text.endswith("…"):
        return text
    try:
        parsed = load_json(text)  # a body refused for its depth stays text (TooDeep is a ValueError)
        if "\\u" in text:  # a lone surrogate escape ("\ud800") parses, but no JSON answer can carry it
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        return parsed
    except ValueError:  # includes UnicodeEncodeError
        return text


def render(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry as readers get it: bodies parsed where they are JSON (stored as text for speed)."""
    if "body_type" not in entry and "response_type" not in entry:
        return entry  # written before bodies were stored raw
    out = {k: v for k, v in entry.items() if k not in ("body_type", "response_type")}
    out["body"] = _parsed(entry.get("body"), entry.get("body_type"))
    out["response"] = _parsed(entry.get("response"), entry.get("response_type"))
    return out


def _matches(entry: dict[str, Any], method: str | None, path: str | None, status: int | None,
             operation: str | None, contains: str | None, since: int | None) -> bool:
    """Every filter given holds for ``entry`` (stored form)."""
    if method and entry["method"] != method.upper():
        return False
    if path and not fnmatch.fnmatchcase(entry["path"], path):
        return False
    if status is not None and entry["status"] != status:
        return False
    if operation and entry.get("operation") != operation:
        return False
    if contains:
        raw = entry.get("body")
        if contains not in (raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)):
            return False
    return not (since is not None and (entry["id"] <= since if since < 10**12 else entry["time_ms"] < since))


def _filtered(method: str | None, path: str | None, status: int | None, operation: str | None,
              contains: str | None, since: int | None) -> bool:
    return bool(method or path or status is not None or operation or contains or since is not None)


class _Reads:
    """The reads both journals answer, over their own ``_page``, ``_newest`` and ``_count``; each read first
    ``sync``s (the shared journal: every process's kept entries reach the store)."""

    def sync(self) -> None:
        """Before a read: nothing (this process's ring)."""

    def _count(self) -> int:
        raise NotImplementedError

    def _page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _newest(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def count(self) -> int:
        self.sync()
        return self._count()

    def page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Entries ``offset`` .. ``offset + limit`` counted from the newest, in the stored form (not rendered)."""
        self.sync()
        return self._page(offset, limit)

    def newest(self) -> list[dict[str, Any]]:
        """Every entry, newest first, in the stored form (filtered reads)."""
        self.sync()
        return self._newest()

    def query(self, *, method: str | None = None, path: str | None = None, status: int | None = None,
              since: int | None = None, operation: str | None = None, contains: str | None = None,
              limit: int = 100, offset: int = 0, stored: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first, rendered, and how many matched in all.

        ``path`` is a glob (``/v1/ltxstudio/images/*``); ``since`` an entry id or epoch ms. Without a
        filter only the page is read and rendered; with one every entry is looked at, but only the page
        is rendered. ``stored``: in the stored form instead (bodies as masked text with their types: the HAR export).
        """
        shape = (lambda e: e) if stored else render
        self.sync()
        if not _filtered(method, path, status, operation, contains, since):
            total = self._count()
            items = self._page(offset, limit) if limit > 0 and offset < total else []
            return [shape(e) for e in items], total
        matched = [e for e in self._newest() if _matches(e, method, path, status, operation, contains, since)]
        return [shape(e) for e in matched[offset:offset + max(0, limit)]], len(matched)


class _Ring:
    """The newest ``limit`` entries within ``max_bytes`` (the newest always stays), in this process, numbered as
    they come: the in-memory journal itself, and a shared journal's buffer of what this process has not written."""

    def __init__(self, limit: int, max_bytes: int) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # appends and trims only; a few list operations, nothing that waits
        self._entries: collections.deque[tuple[int, int, Any]] = collections.deque()  # (id, size, entry)
        self._seq = 0
        self._bytes = 0

    def append(self, entry: Recorded | dict[str, Any]) -> None:
        size = entry_size(entry) if isinstance(entry, dict) else entry.size
        entries = self._entries
        with self._lock:
            self._seq += 1
            entries.append((self._seq, size, entry))
            self._bytes += size
            self._trim()

    def _trim(self) -> None:
        entries = self._entries
        while len(entries) > 1 and (len(entries) > self.limit or self._bytes > self.max_bytes):
            self._bytes -= entries.popleft()[1]  # the newest always stays

    def _snapshot(self) -> list[tuple[int, int, Any]]:
        with self._lock:
            return list(self._entries)

    def _drop(self) -> None:
        self._entries.clear()
        self._bytes = 0


class RequestRing(_Ring, _Reads):
    """This process's journal: the newest ``limit`` entries within ``max_bytes``, masked when read."""

    def __init__(self, limit: int = 10000, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(limit, max_bytes)

    def stored_bytes(self) -> int:
        return self._bytes

    @staticmethod
    def _stored(item: tuple[int, int, Any]) -> dict[str, Any]:
        seq, _, entry = item
        out = dict(entry) if isinstance(entry, dict) else entry.masked()
        out["id"] = seq
        return out

    def _count(self) -> int:
        return len(self._entries)

    def _page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        items = self._snapshot()
        n = len(items)
        stop = min(n, offset + max(0, limit))
        if offset >= stop:
            return []
        part = items[n - stop:n - offset]
        part.reverse()
        return [self._stored(i) for i in part]

    def _newest(self) -> list[dict[str, Any]]:
        items = self._snapshot()
        items.reverse()
        return [self._stored(i) for i in items]

    def get(self, entry_id: int | str) -> dict[str, Any] | None:
        """One entry by id, in the stored form, or None when it was trimmed or never existed."""
        try:
            wanted = int(entry_id)
        except ValueError:
            return None
        items = self._snapshot()
        if not items:
            return None
        i = wanted - items[0][0]  # ids in the ring are consecutive
        return self._stored(items[i]) if 0 <= i < len(items) and items[i][0] == wanted else None

    def clear(self) -> None:
        """Forget every entry; ids keep counting."""
        with self._lock:
            self._drop()

    def reset(self) -> None:
        """Back to the start-up state with the rest of the simulator: no entries, ids from 1 again."""
        with self._lock:
            self._drop()
            self._seq = 0


class _Unwritten(_Ring):
    """A shared journal's entries this process has not written to the store yet: raw, bounded as the ring is
    (the store would trim the oldest anyway: each process's newest ``limit`` are a superset of what it keeps)."""

    def take(self) -> list[Recorded | dict[str, Any]]:
        """Every entry, oldest first, and none left."""
        with self._lock:
            taken = [entry for _, _, entry in self._entries]
            self._drop()
        return taken

    def put_back(self, entries: list[Recorded | dict[str, Any]]) -> None:
        """Entries taken but not written (the store refused them): back before the newer ones, within the bounds."""
        with self._lock:
            for entry in reversed(entries):
                size = entry_size(entry) if isinstance(entry, dict) else entry.size
                self._entries.appendleft((0, size, entry))
                self._bytes += size
            self._trim()

    def __len__(self) -> int:
        return len(self._entries)


class Journal(_Reads):
    """The journal in a shared store: append, query, count, clear; bounded to ``limit`` entries and ``max_bytes``.

    With a store that ``defer``s work (Redis), ``append`` only keeps the entry in this process, raw and bounded
    (:class:`_Unwritten`); nothing reaches the store on a timer. The store runs :meth:`flush` (mask, size, write
    in one block) when a reader ``gather``s (every read first asks each live process sharing the store to write
    what it kept, and waits for them: a read sees every request answered before it started) and when this
    process stops (``close``: SIGTERM, SIGINT; a process killed with SIGKILL loses what it had not written). The
    store keeps the entries in the order they were answered (``time_us``; one process's ties in its order),
    whenever they arrive, and numbers them when a read first sees them. Without ``defer`` (SQLite) each request
    writes its entry.
    """

    def __init__(self, store: Store, limit: int = 10000, max_bytes: int = MAX_BYTES) -> None:
        self.store = store
        self.limit = limit
        self.max_bytes = max_bytes
        self._unwritten = _Unwritten(limit, max_bytes)
        self._flushing = threading.Lock()  # one flush at a time: a refused batch goes back before newer entries
        self.deferred = store.defer(self.flush)

    def stored_bytes(self) -> int:
        """The size (characters) of the entries kept, as counted towards ``max_bytes``."""
        self.sync()
        return self.store.journal_bytes()

    def append(self, entry: Recorded | dict[str, Any]) -> None:
        if self.deferred:
            self._unwritten.append(entry)  # written when someone reads the journal, or this process stops
        else:
            self._write([entry])

    def unwritten(self) -> int:
        """How many entries this process keeps that the store has not seen yet."""
        return len(self._unwritten)

    def flush(self) -> None:
        """Write what this process kept (the store calls it: a reader's ``gather``, this process stopping), in
        parts of ``WRITE_BATCH``. A part the store refused (Redis down) and those after it go back before the newer
        entries, within the bounds, for the next flush; the parts before it are written, and are not again."""
        with self._flushing:
            batch = self._unwritten.take()
            for first in range(0, len(batch), WRITE_BATCH):
                try:
                    self._write(batch[first:first + WRITE_BATCH])
                except Exception:
                    self._unwritten.put_back(batch[first:])  # the parts written stay written: never twice
                    raise

    def _write(self, batch: list[Recorded | dict[str, Any]]) -> None:
        entries = [e if isinstance(e, dict) else e.masked() for e in batch]  # masked before they leave the process
        self.store.journal_append(entries, [entry_size(e) for e in entries], limit=self.limit,
                                  max_bytes=self.max_bytes, times_us=[answered_us(e) for e in batch])

    def sync(self) -> None:
        """Every process's kept entries (this one's too) are in the store before it is read."""
        self.store.gather()

    def _count(self) -> int:
        return self.store.journal_count()

    def _page(self, offset: int, limit: int) -> list[dict[str, Any]]:
        return self.store.journal_page(offset, limit) if limit > 0 else []

    def _newest(self) -> list[dict[str, Any]]:
        return self.store.journal_page(0, None)

    def get(self, entry_id: int | str) -> dict[str, Any] | None:
        self.sync()
        return self.store.journal_get(str(entry_id))

    def reset(self) -> None:
        """With the store's reset (inside its block: the store's part goes with it, ids from 1 again): this
        process's unwritten entries go, and so do every other process's, whenever they arrive (``journal_clear``:
        a store that defers drops what was answered before it)."""
        self._unwritten.take()
        if self.deferred:
            self.store.journal_clear()

    def clear(self) -> None:
        """Forget every entry answered before now, in every process (ids keep counting)."""
        self._unwritten.take()
        self.store.journal_clear()  # a store that defers drops the entries answered before it, whenever they come


def open_journal(ctx: Context) -> RequestRing | Journal:
    """The journal for this simulator's store: in this process's memory unless the store is shared."""
    config = ctx.config
    if not ctx.store.shared:
        return RequestRing(config.journal_limit, config.journal_max_bytes)
    return Journal(ctx.store, config.journal_limit, config.journal_max_bytes)
