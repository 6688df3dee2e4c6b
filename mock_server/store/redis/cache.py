"""What this process has read of the state in Redis, kept current from Redis's change log, bounded in size.

Redis holds the authoritative state (one HASH per record kind, one ZSET per index, the meta HASH, the blobs) and,
beside it, ``<p>ver`` (how many changes were ever committed) and ``<p>log`` (a LIST of the last ``LOG_LIMIT``
changes, one MessagePack array of operations each: ``load_entry``). A process keeps only what its requests read:

* **records** it looked up (a value, or ``None``: known to be absent), at most ``MAX_RECORDS``;
* **index heads**: for an index of at most ``HEAD_MAX`` members, all of them (``whole``); for a larger one its
  first members by score, up to a ``boundary`` score below which every member is present. A head answers the reads
  the rules make on the hot path (the oldest job, the work due by now, one account's running jobs) without a round
  trip, and never holds a 100,000-member index;
* **meta**: the whole ``<p>meta`` hash (small singletons: the clock, faults, stubs).

Catching up (one round trip, ``lock.SYNC``) returns the log entries after the cache's version; each operation
updates only what the cache holds (a record it never read is not added), so memory follows what this process
serves, not the size of the state. A cache further behind than ``CATCH_UP_MAX`` entries is dropped (reading 4,096
entries would cost more than reading again what is needed).

Operations (names relative to the prefix; the same list is applied by Redis's commit script and by every process's
cache when it reads the log):

=====================================  ==========================================
``["HS", kind, key, json]``            put a record (``HD`` kind key: delete it)
``["MS", name, json]``                 put a meta value (``MD`` name: delete it)
``["ZA", index, score, member]``       add/move an index member (``ZR``: remove it)
``["ZD", index]``                      drop an index
``["BS", key]`` / ``["BD", key]``      a blob written / deleted (the bytes go to
                                       Redis beside the entry, never in the log)
``["X"]``                              clear: forget everything
``["P", token]``                       (first) the process that wrote the entry
=====================================  ==========================================

Record values stay JSON text here and are decoded on each read, so no caller can change the cache by changing what
it was given.
"""

from __future__ import annotations

import bisect
import json
import threading
import uuid
from typing import Any

from msgpack import unpackb

from mock_server.store.memory import _Index

LOG_LIMIT = 4096  # changes kept in <p>log
CATCH_UP_MAX = 512  # a cache further behind than this is dropped rather than brought up to date
CATCH_UP_BYTES = 1 << 20  # ... or than this many bytes of log (a bulk load's entries): reading them would cost more
HEAD_MAX = 1024  # members of an index kept at most (its first, by score)
MAX_RECORDS = 20_000  # records kept at most; past it the oldest half of the largest kind is dropped
MAX_INDEXES = 2_000  # index heads kept at most; past it the oldest half are dropped
INF = float("inf")

Op = list[Any]


def parse_score(raw: Any) -> float:
    """A score as Redis or an op writes it (``1.5``, ``+inf``, ``-inf``) as a float."""
    return float(raw.decode() if isinstance(raw, bytes) else raw)


def load_entry(raw: bytes) -> list[Op]:
    """A log entry's operations: MessagePack, as the commit script stores them (``transaction.py``), or JSON, as
    the versions before it did (a log written by one of them is still read)."""
    ops: list[Op] = json.loads(raw) if raw[:1] == b"[" else unpackb(raw)
    return ops


class Head(_Index):
    """The first members of an index by score: every member scored below ``boundary`` (all of them: ``whole``)."""

    __slots__ = ("boundary", "whole")

    def __init__(self, boundary: float = INF, whole: bool = True) -> None:
        super().__init__()
        self.boundary = boundary
        self.whole = whole

    def covers(self, max_score: float) -> bool:
        """Whether every member scored up to ``max_score`` is here."""
        return self.whole or max_score < self.boundary

    def trim(self, most: int) -> None:
        """Keep at most ``most`` members: past that the head keeps those scored below the first one dropped."""
        if len(self.order) <= most:
            return
        cut = self.order[most][0]
        i = bisect.bisect_left(self.order, (cut, ""))
        for _, member in self.order[i:]:
            del self.scores[member]
        del self.order[i:]
        self.boundary = cut
        self.whole = False

    def copy(self) -> Head:
        out = Head(self.boundary, self.whole)
        out.order = list(self.order)
        out.scores = dict(self.scores)
        return out

    @classmethod
    def from_reply(cls, card: int, flat: list[Any]) -> Head:
        """A head from ``ZCARD`` and ``ZRANGE 0 HEAD_MAX WITHSCORES`` (one member past the head, if any)."""
        pairs = [(parse_score(flat[j + 1]), flat[j].decode()) for j in range(0, len(flat), 2)]
        if card <= HEAD_MAX:
            head = cls()
        else:
            boundary = pairs[HEAD_MAX][0] if len(pairs) > HEAD_MAX else pairs[-1][0]
            head = cls(boundary, whole=False)
            pairs = [p for p in pairs if p[0] < boundary]
        head.order = sorted(pairs)
        head.scores = {m: s for s, m in pairs}
        return head


class Cache:
    """Records, index heads and meta as of ``version``; ``mutex`` guards changing it."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex  # this process's mark on the log entries it writes (``["P", token]`` first)
        self.version = -1  # nothing read yet: the first catch-up brings the meta hash
        self.mutex = threading.Lock()
        self.records: dict[str, dict[str, str | bytes | None]] = {}
        self.indexes: dict[str, Head] = {}
        self.meta: dict[str, str | bytes] = {}
        self.size = 0  # records kept

    # -- changes from the log ------------------------------------------------------------------------
    def apply(self, ops: list[Op], *, own: bool = False) -> None:
        """Apply one log entry's operations. ``own``: this process wrote them (its commit's reply), so records it
        created are kept too (a client reads what it just made)."""
        if ops and ops[0][0] == "P":  # whose entry: one of this process's, read back from the log by another thread
            own = own or ops[0][1] == self.token
        for op in ops:
            code = op[0]
            if code == "HS" or code == "HD":
                table = self.records.get(op[1])
                if table is None:
                    if not own:
                        continue
                    table = self.records[op[1]] = {}
                if op[2] in table:
                    table[op[2]] = op[3] if code == "HS" else None
                elif own:
                    table[op[2]] = op[3] if code == "HS" else None
                    self.size += 1
            elif code == "ZA" or code == "ZR":
                head = self.indexes.get(op[1])
                if head is None:
                    continue
                if code == "ZA":
                    score = op[2]
                    if type(score) is not float:  # text: a log entry of an older version, or an infinity
                        score = parse_score(score)
                    if head.whole or score < head.boundary:  # head.covers(score), inlined: every write of a POST
                        head.add(op[3], score)
                        if len(head.order) > HEAD_MAX:
                            head.trim(HEAD_MAX)  # an index grown past a head's size stays a head
                    else:
                        head.remove(op[3])  # moved past the boundary: no longer in the head
                else:
                    head.remove(op[2])
            elif code == "MS":
                self.meta[op[1]] = op[2]
            elif code == "MD":
                self.meta.pop(op[1], None)
            elif code == "ZD":
                if op[1] in self.indexes:
                    self.indexes[op[1]] = Head()  # dropped: known empty
            elif code == "X":
                self.records, self.indexes, self.meta, self.size = {}, {}, {}, 0
        if self.size > MAX_RECORDS:
            self._trim()

    def absorb(self, reply: list[Any]) -> list[Any]:
        """Bring the cache to the version a catch-up reply describes; returns the items fetched with it.

        Reply: ``[version, entries | None, meta | None, *items]``: ``entries`` the log after our version (None:
        we are too far behind, or Redis is behind us: drop everything and take ``meta``)."""
        version = int(reply[0])
        entries, meta = reply[1], reply[2]
        if entries is None:
            self.records, self.indexes, self.size = {}, {}, 0
            self.meta = {meta[j].decode(): meta[j + 1] for j in range(0, len(meta or ()), 2)}
            self.version = version
            return reply[3:]
        if version > self.version:
            first = version - len(entries) + 1
            for i, raw in enumerate(entries):
                if first + i > self.version:
                    self.apply(load_entry(raw))
            self.version = version
        return reply[3:]

    def absorb_commit(self, version: int, entries: list[Any], ops: list[Op]) -> None:
        """A commit's reply: the log entries after the cache's version when it was sent, then this commit's own
        operations (``ops``: the cache keeps the records it wrote; none: it only checked its reads, and the
        entries run up to ``version``). An entry None is one of the thread's commits sent ahead of this one, left out
        of the reply: the cache took it from that commit's own reply, unless that reply could not be joined (a gap)."""
        if version <= self.version:
            return
        first = version - len(entries) + (0 if ops else 1)
        if first > self.version + 1:
            return  # a gap (another thread moved the cache meanwhile, or not far enough): the next catch-up fills it
        lacking = entries[self.version + 1 - first:]  # the entries the cache does not hold yet
        if None in lacking:
            return  # a commit sent ahead whose writes the cache does not hold: a gap, as above
        for raw in lacking:
            self.apply(load_entry(raw))
        if ops:
            self.apply(ops, own=True)
        self.version = version

    def forget(self) -> None:
        """Drop everything: the next catch-up starts over (after a commit whose outcome is unknown)."""
        self.records, self.indexes, self.meta, self.size = {}, {}, {}, 0
        self.version = -1

    # -- what a request read -----------------------------------------------------------------------------
    def keep_record(self, kind: str, key: str, raw: str | bytes | None) -> None:
        table = self.records.setdefault(kind, {})
        if key not in table:
            self.size += 1
        table[key] = raw
        if self.size > MAX_RECORDS:
            self._trim()

    def touch(self, kind: str, keys: list[str]) -> dict[str, str | bytes | None]:
        """The records of ``keys`` held here, moved to the newest end: ``_trim`` drops the ones taken first, so
        records about to be read (``RedisStore.warm``) stay while others go. Call with ``mutex`` held."""
        table = self.records.get(kind)
        if not table:
            return {}
        held = {key: table.pop(key) for key in keys if key in table}
        table.update(held)
        return held

    def keep_index(self, name: str, head: Head) -> None:
        self.indexes[name] = head
        if len(self.indexes) > MAX_INDEXES:
            for old in list(self.indexes)[:MAX_INDEXES // 2]:
                del self.indexes[old]

    def _trim(self) -> None:
        """Drop the oldest half of the largest kind's records (dicts keep insertion order)."""
        kind = max(self.records, key=lambda k: len(self.records[k]))
        table = self.records[kind]
        drop = list(table)[:max(1, len(table) // 2)]
        for key in drop:
            del table[key]
        self.size -= len(drop)
