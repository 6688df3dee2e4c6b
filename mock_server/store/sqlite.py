"""The persistent store: one SQLite file in WAL mode (``ltx-mock serve --state PATH``).

Same behaviour as ``MemoryStore`` (records, ordered indexes, blobs, meta), kept on
disk so that a restart, even after ``kill -9``, finds everything a 2xx answer
acknowledged.

Threads: each thread gets its own connection (SQLite connections must not be
shared across threads while in use); WAL lets readers run beside the one writer.
``atomic()`` is a re-entrant ``BEGIN IMMEDIATE`` transaction per thread: the
outermost block takes SQLite's write lock at once (so a read-modify-write never
meets a "database is locked" half way) and commits on exit. An exception leaving
the outermost block rolls its writes back; the memory store has nothing to roll
back with, so rules must not rely on either behaviour.

Durability, and why ``synchronous=NORMAL`` is the default: in WAL mode a COMMIT
appends the transaction's pages to the ``-wal`` file with ``write()`` before it
returns; NORMAL only defers the ``fsync`` to the next checkpoint. Once written,
the pages are in the operating system's page cache, which outlives the process,
so a process crash or ``SIGKILL`` cannot lose a committed transaction. Only an
OS crash or power cut can lose the last few commits (never corrupt the file).
Every write of a request commits before its response is sent, so "acknowledged
with a 2xx" implies "survives kill -9". ``sqlite:///path?synchronous=full``
adds an ``fsync`` per commit for power-loss durability, at a few ms per write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mock_server.store.base import INDEX_SPAN, Record, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idx (
    name   TEXT NOT NULL,
    member TEXT NOT NULL,
    score  REAL NOT NULL,
    PRIMARY KEY (name, member)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_by_score ON idx (name, score, member);
CREATE TABLE IF NOT EXISTS blobs (
    key  TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""
TABLES = frozenset({"records", "idx", "blobs", "meta"})
HEADER = b"SQLite format 3\x00"
SYNC_MODES = ("off", "normal", "full", "extra")
BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another's transaction before "database is locked"
CHUNK = 500  # keys per IN (...) query
# SQLite's answers when the file cannot be written or reached (not a bug in a statement): a 503, not a 500.
REFUSALS = ("readonly", "read-only", "disk is full", "disk i/o error", "unable to open", "database is locked",
            "no such table")


class StateFileError(ValueError):
    """The file given as state is not a simulator state (empty, truncated, damaged or someone else's)."""


def check_state_file(path: Path) -> None:
    """Refuse, with one line naming ``path`` and the way out, a file that is not a simulator state.

    A missing file is fine (a new state). Checks are O(1) in the file's size: the SQLite header, the page
    count it declares against the bytes present (a truncated file), the table names. Opening such a file
    anyway would silently start empty (0 bytes) or fail with a raw ``DatabaseError`` on a later request.
    """
    if not path.exists():
        return
    way_out = "move it away or delete it to start a new state, or give --state another path"
    if not path.is_file():
        raise StateFileError(f"state file {path}: not a regular file; give --state a file path")
    wal = path.with_name(path.name + "-wal")
    with path.open("rb") as f:
        head = f.read(100)
    size = path.stat().st_size
    if size == 0:
        if wal.exists() and wal.stat().st_size > 0:
            return  # a new state whose first writes are still only in the write-ahead log
        raise StateFileError(f"state file {path} is empty (0 bytes), not a simulator state: {way_out}")
    if not head.startswith(HEADER) or len(head) < 100:
        raise StateFileError(f"state file {path} is not a simulator state (not an SQLite database): {way_out}")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    header_valid = head[24:28] == head[92:96]  # the declared page count is only valid when these agree
    if header_valid and pages and size < pages * page_size:
        raise StateFileError(f"state file {path} is truncated ({size} of {pages * page_size} bytes): restore it from "
                             f"a copy, or {way_out}")
    try:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)  # reads only; a WAL file needs no mode=ro quirks
        try:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StateFileError(f"state file {path} is damaged ({exc}): restore it from a copy, or {way_out}") from None
    if names and not TABLES.issubset(names):
        listed = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "")
        raise StateFileError(f"state file {path} is an SQLite database but not a simulator state (its tables: "
                             f"{listed}): {way_out}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Connection:
    """A thread's connection and how deep it is in ``atomic()`` blocks."""

    __slots__ = ("__weakref__", "db", "depth", "pid")

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.depth = 0
        self.pid = os.getpid()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # closing twice, or from a dead thread
            self.db.close()

    def __del__(self) -> None:
        # A thread that ends drops its thread-local holder: close its connection with it
        # (a threaded WSGI server runs each request on a new thread).
        self.close()


class SQLiteStore(Store):
    """Everything in one SQLite file; safe for many threads and many processes on one host."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str | None = None) -> None:
        raw = str(path)
        raw, _, query = raw.partition("?")
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        if not raw or raw == ":memory:":
            raise ValueError("SQLiteStore needs a file path (each connection to :memory: is a separate "
                             "database); use memory:// for an in-memory store")
        self.path = Path(raw).expanduser().resolve()
        self.synchronous = (synchronous or options.get("synchronous") or "normal").lower()
        if self.synchronous not in SYNC_MODES:
            raise ValueError(f"synchronous must be one of {SYNC_MODES}, got {self.synchronous!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_state_file(self.path)
        self._local = threading.local()
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        self._inherited: list[_Connection] = []
        self._closed = False
        try:
            conn = self._conn()
            conn.db.executescript(SCHEMA)
            self._probe_write(conn.db)
        except sqlite3.OperationalError as exc:  # a read-only file, directory or disk; a full disk
            self.close()
            raise StateFileError(f"state file {self.path} cannot be written ({exc}): make it (and its directory) "
                                 "writable, free some disk space, or give --state another path") from None

    @staticmethod
    def _probe_write(db: sqlite3.Connection) -> None:
        """Write one row and roll it back: a state SQLite can only read (a read-only file or file system) opens
        without a word and fails on every write after; this fails here, at start-up, instead."""
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('write-probe', '0')")
        finally:
            db.execute("ROLLBACK")

    def unavailable(self, exc: BaseException) -> str | None:
        """The file cannot be written or read now (read-only, disk full, I/O error, locked past the busy
        timeout): a short reason naming the file; other errors are bugs (None)."""
        if isinstance(exc, sqlite3.OperationalError) and any(r in str(exc).lower() for r in REFUSALS):
            return f"the state file {self.path.name} cannot be written ({str(exc)[:160]})"
        return None

    # -- connections -------------------------------------------------------
    def _conn(self) -> _Connection:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if conn.pid == os.getpid():
                return conn
            # Inherited through fork(): never use nor close it here (SQLite forbids both); keep it alive.
            self._inherited.append(conn)
        if self._closed:
            raise RuntimeError(f"SQLiteStore({self.path}) is closed")
        # isolation_level=None: no implicit transactions; atomic() issues BEGIN/COMMIT itself and a
        # statement outside it commits on its own. check_same_thread=False only so that close() and
        # the garbage collector may close a connection from another thread; it is never shared in use.
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        db.execute("PRAGMA temp_store=MEMORY")
        conn = _Connection(db)
        self._local.conn = conn
        with self._all_lock:
            self._all.add(conn)
        return conn

    def _db(self) -> sqlite3.Connection:
        return self._conn().db

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        conn = self._conn()
        if conn.depth:
            conn.depth += 1
            try:
                yield
            finally:
                conn.depth -= 1
            return
        conn.db.execute("BEGIN IMMEDIATE")
        conn.depth = 1
        try:
            yield
        except BaseException:
            conn.depth = 0
            if conn.db.in_transaction:
                conn.db.execute("ROLLBACK")
            raise
        conn.depth = 0
        conn.db.execute("COMMIT")

    def atomic(self) -> AbstractContextManager[None]:
        return self._atomic()

    def close(self) -> None:
        """Close every thread's connection (checkpointing the WAL into the main file)."""
        self._closed = True
        with self._all_lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            if conn.pid == os.getpid():
                conn.close()
        self._local = threading.local()

    # -- records -----------------------------------------------------------
    def get(self, kind: str, key: str) -> Record | None:
        row = self._db().execute("SELECT value FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        if not keys:
            return []
        found: dict[str, str] = {}  # key -> the stored JSON text
        db = self._db()
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), CHUNK):
            part = unique[i:i + CHUNK]
            marks = ",".join("?" * len(part))
            for key, value in db.execute(f"SELECT key, value FROM records WHERE kind = ? AND key IN ({marks})",
                                         (kind, *part)):
                found[key] = value
        return [json.loads(found[k]) if k in found else None for k in keys]

    def put(self, kind: str, key: str, value: Record) -> None:
        self._db().execute("INSERT INTO records (kind, key, value) VALUES (?, ?, ?) "
                           "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value", (kind, key, _dumps(value)))

    def delete(self, kind: str, key: str) -> bool:
        return self._db().execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key)).rowcount > 0

    def count(self, kind: str) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0])

    # -- ordered indexes ---------------------------------------------------
    def index_add(self, index: str, member: str, score: float) -> None:
        self._db().execute("INSERT INTO idx (name, member, score) VALUES (?, ?, ?) "
                           "ON CONFLICT (name, member) DO UPDATE SET score = excluded.score",
                           (index, member, float(score)))

    def index_remove(self, index: str, member: str) -> bool:
        return self._db().execute("DELETE FROM idx WHERE name = ? AND member = ?", (index, member)).rowcount > 0

    def index_score(self, index: str, member: str) -> float | None:
        row = self._db().execute("SELECT score FROM idx WHERE name = ? AND member = ?", (index, member)).fetchone()
        return row[0] if row else None

    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        if limit is not None and limit <= 0:
            return []
        order = "DESC" if reverse else "ASC"
        rows = self._db().execute(
            f"SELECT member FROM idx WHERE name = ? ORDER BY score {order}, member {order} LIMIT ? OFFSET ?",
            (index, -1 if limit is None else min(limit, INDEX_SPAN), min(max(0, offset), INDEX_SPAN)))
        return [r[0] for r in rows]

    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None, *, hint: bool = False) -> list[tuple[str, float]]:
        if limit is not None and limit <= 0:
            return []
        rows = self._db().execute(
            "SELECT member, score FROM idx WHERE name = ? AND score >= ? AND score <= ? "
            "ORDER BY score, member LIMIT ?",
            (index, float(min_score), float(max_score), -1 if limit is None else min(limit, INDEX_SPAN)))
        return [(m, s) for m, s in rows]

    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int:
        db = self._db()
        if min_score == float("-inf") and max_score == float("inf"):
            return int(db.execute("SELECT COUNT(*) FROM idx WHERE name = ?", (index,)).fetchone()[0])
        return int(db.execute("SELECT COUNT(*) FROM idx WHERE name = ? AND score >= ? AND score <= ?",
                              (index, float(min_score), float(max_score))).fetchone()[0])

    def index_drop(self, index: str) -> None:
        self._db().execute("DELETE FROM idx WHERE name = ?", (index,))

    # -- blobs -------------------------------------------------------------
    def blob_put(self, key: str, data: bytes) -> None:
        self._db().execute("INSERT INTO blobs (key, data) VALUES (?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET data = excluded.data", (key, bytes(data)))

    def blob_get(self, key: str) -> bytes | None:
        row = self._db().execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def blob_delete(self, key: str) -> None:
        self._db().execute("DELETE FROM blobs WHERE key = ?", (key,))

    # -- meta --------------------------------------------------------------
    def get_meta(self, name: str) -> Any:
        row = self._db().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_meta(self, name: str, value: Any) -> None:
        self._db().execute("INSERT INTO meta (name, value) VALUES (?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, _dumps(value)))

    # -- whole store -------------------------------------------------------
    def clear(self) -> None:
        with self.atomic():
            db = self._db()
            for table in ("records", "idx", "blobs", "meta"):
                db.execute(f"DELETE FROM {table}")

    def dump(self) -> Iterator[tuple[str, str, Record]]:
        rows = self._db().execute("SELECT kind, key, value FROM records ORDER BY kind, key").fetchall()
        for kind, key, value in rows:
            yield kind, key, json.loads(value)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous})"
