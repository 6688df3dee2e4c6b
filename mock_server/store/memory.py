"""The default store: plain dicts; writers take one re-entrant lock, readers none.

Indexes are sorted lists of ``(score, member)`` beside a member->score dict, so
inserts and removals are O(log n) searches plus a memmove, and pagination is a
slice: a listing costs the same with 10 or 100,000 jobs stored.
"""

from __future__ import annotations

import bisect
import marshal
import pickle
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from mock_server.store.base import Record, Store


class _Pickled:
    """A value marshal cannot encode (not plain JSON-like data), kept pickled instead."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _freeze(value: Any) -> bytes | _Pickled:
    # Stored values are serialised like a real store would: marshal round-trips dicts, lists,
    # str, int, float, bool and None exactly, ~3x faster than copy.deepcopy, and the bytes
    # take a fraction of the memory of the live objects (measured: benchmarks/jobs_bench.py).
    # The copy: marshal grows its buffer past 1 KB and shrinks it in place, so its bytes stay a malloc block with
    # a freed tail beside it; a copy of the exact size is a small-object block (100k jobs: -50 MB peak RSS).
    try:
        return bytes(memoryview(marshal.dumps(value)))
    except ValueError:
        return _Pickled(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def _thaw(raw: bytes | _Pickled) -> Any:
    return marshal.loads(raw) if type(raw) is bytes else pickle.loads(raw.data)  # type: ignore[union-attr]


class _Index:
    __slots__ = ("order", "scores")

    def __init__(self) -> None:
        self.order: list[tuple[float, str]] = []
        self.scores: dict[str, float] = {}

    def add(self, member: str, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.remove(member)
        self.scores[member] = score
        bisect.insort(self.order, (score, member))

    def remove(self, member: str) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        i = bisect.bisect_left(self.order, (score, member))
        del self.order[i]
        return True

    def bounds(self, lo: float, hi: float) -> tuple[int, int]:
        return bisect.bisect_left(self.order, (lo, "")), bisect.bisect_right(self.order, (hi, "\U0010ffff"))

    def page(self, offset: int, limit: int | None, reverse: bool) -> list[str]:
        """Members from ``offset`` (by ascending score, or descending), at most ``limit``."""
        order = self.order
        n = len(order)
        stop = n if limit is None else min(n, offset + limit)
        if offset >= stop:
            return []
        if reverse:
            part = order[n - stop:n - offset]  # one slice: a concurrent writer cannot make it raise
            part.reverse()
            return [m for _, m in part]
        return [m for _, m in order[offset:stop]]


class MemoryStore(Store):
    """Everything in this process's memory; lost on exit."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._records: dict[str, dict[str, bytes | _Pickled]] = {}
            self._indexes: dict[str, _Index] = {}
            self._blobs: dict[str, bytes] = {}
            self._meta: dict[str, Any] = {}

    def atomic(self) -> AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    # records: values are serialised on the way in and rebuilt on the way out, as a real
    # store would, so no caller can mutate stored state by accident.
    def get(self, kind: str, key: str) -> Record | None:
        value = self._records.get(kind, {}).get(key)
        return _thaw(value) if value is not None else None

    def get_many(self, kind: str, keys: list[str]) -> list[Record | None]:
        table = self._records.get(kind, {})
        return [_thaw(table[k]) if k in table else None for k in keys]

    def put(self, kind: str, key: str, value: Record) -> None:
        frozen = _freeze(value)
        with self._lock:
            self._records.setdefault(kind, {})[key] = frozen

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            return self._records.get(kind, {}).pop(key, None) is not None

    def count(self, kind: str) -> int:
        return len(self._records.get(kind, {}))

    # indexes
    def index_add(self, index: str, member: str, score: float) -> None:
        with self._lock:
            self._indexes.setdefault(index, _Index()).add(member, float(score))

    def index_remove(self, index: str, member: str) -> bool:
        with self._lock:
            idx = self._indexes.get(index)
            return idx.remove(member) if idx else False

    def index_score(self, index: str, member: str) -> float | None:
        idx = self._indexes.get(index)
        return idx.scores.get(member) if idx else None

    # Index reads take no lock: each is one or two C-level list operations, atomic under the GIL, and writers
    # change an index only with the lock held. A reader outside ``atomic()`` may see another thread's block
    # half done (as record reads always could); inside ``atomic()`` it holds the lock and sees a settled store.
    # Every request read these under the lock before, which queued request threads behind every writer
    # (docs/performance.md, "POST under concurrency").
    def index_range(self, index: str, offset: int = 0, limit: int | None = None, *, reverse: bool = False) -> list[str]:
        idx = self._indexes.get(index)
        return idx.page(offset, limit, reverse) if idx else []

    def index_by_score(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf"),
                       limit: int | None = None, *, hint: bool = False) -> list[tuple[str, float]]:
        idx = self._indexes.get(index)
        if not idx:
            return []
        lo, hi = idx.bounds(min_score, max_score)
        if limit is not None:
            hi = min(hi, lo + limit)
        # the bounds and the slice are two steps: a writer between them could shift the slice by an entry
        return [(m, s) for s, m in idx.order[lo:hi] if min_score <= s <= max_score]

    def index_count(self, index: str, min_score: float = float("-inf"), max_score: float = float("inf")) -> int:
        idx = self._indexes.get(index)
        if not idx:
            return 0
        if min_score == float("-inf") and max_score == float("inf"):
            return len(idx.order)
        lo, hi = idx.bounds(min_score, max_score)
        return max(0, hi - lo)

    def index_drop(self, index: str) -> None:
        with self._lock:
            self._indexes.pop(index, None)

    # blobs
    def blob_put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._blobs[key] = bytes(data)

    def blob_get(self, key: str) -> bytes | None:
        return self._blobs.get(key)

    def blob_delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    # meta
    def get_meta(self, name: str) -> Any:
        value = self._meta.get(name)
        return _thaw(value) if value is not None else None

    def put_meta(self, name: str, value: Any) -> None:
        frozen = _freeze(value)
        with self._lock:
            self._meta[name] = frozen

    def dump(self) -> Iterator[tuple[str, str, Record]]:
        with self._lock:
            items = [(k, key, _thaw(v)) for k, table in self._records.items() for key, v in table.items()]
        yield from items
