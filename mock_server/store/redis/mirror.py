"""This process's copy of the state in Redis, kept current from Redis's change log.

Redis holds the authoritative state (one HASH per record kind, one ZSET per index, the meta
HASH, the blobs) and, beside it, ``<p>ver`` (how many changes were ever committed) and
``<p>log`` (a LIST of the last ``LOG_LIMIT`` changes, one JSON array of operations each). A
process catches up by asking for the entries after the version it has (one script, one round
trip, an empty reply when nothing changed); one that fell further behind than the log reaches
gets the whole state instead (``load``). Reads are then dict look-ups in this process.

Operations (names relative to the prefix; the same list is applied by Redis's commit script,
by this mirror, and by every other process's mirror when it reads the log):

=====================================  ==========================================
``["HS", kind, key, json]``            put a record (``HD`` kind key: delete it)
``["MS", name, json]``                 put a meta value (``MD`` name: delete it)
``["ZA", index, score, member]``       add/move an index member (``ZR``: remove it)
``["ZD", index]``                      drop an index
``["BS", key]`` / ``["BD", key]``      a blob written / deleted (the bytes go to
                                       Redis beside the entry, never in the log)
``["X"]``                              clear: forget everything
=====================================  ==========================================

Record values stay JSON text here and are decoded on each read, so no caller can change the
mirror by changing what it was given.
"""

from __future__ import annotations

import threading
from typing import Any

from mock_server.store.memory import _Index

LOG_LIMIT = 4096  # changes kept in <p>log; a mirror further behind than this reloads everything

Op = list[Any]


def parse_score(raw: Any) -> float:
    """A score as Redis or an op writes it (``1.5``, ``+inf``, ``-inf``) as a float."""
    return float(raw.decode() if isinstance(raw, bytes) else raw)


class Mirror:
    """Records, indexes and meta as of ``version``; ``mutex`` guards catching up."""

    def __init__(self) -> None:
        self.version = -1  # nothing loaded yet: the first sync loads everything
        self.mutex = threading.Lock()
        self.records: dict[str, dict[str, str | bytes]] = {}
        self.indexes: dict[str, _Index] = {}
        self.meta: dict[str, str | bytes] = {}

    # -- applying changes --------------------------------------------------------------------
    def apply(self, ops: list[Op]) -> list[Op]:
        """Apply operations in order; returns the operations that undo them (in the order to apply)."""
        undo: list[Op] = []
        for op in ops:
            undo.append(self._apply_one(op))
        undo.reverse()
        return undo

    def _apply_one(self, op: Op) -> Op:
        code = op[0]
        if code == "HS" or code == "HD":
            table = self.records.setdefault(op[1], {})
            old = table.get(op[2])
            if code == "HS":
                table[op[2]] = op[3]
            else:
                table.pop(op[2], None)
            return ["HD", op[1], op[2]] if old is None else ["HS", op[1], op[2], old]
        if code == "ZA" or code == "ZR":
            idx = self.indexes.get(op[1])
            if idx is None:
                idx = self.indexes[op[1]] = _Index()
            member = op[3] if code == "ZA" else op[2]
            prev = idx.scores.get(member)
            if code == "ZA":
                idx.add(member, parse_score(op[2]))
            else:
                idx.remove(member)
            return ["ZR", op[1], member] if prev is None else ["ZA", op[1], repr(prev), member]
        if code == "MS" or code == "MD":
            old = self.meta.get(op[1])
            if code == "MS":
                self.meta[op[1]] = op[2]
            else:
                self.meta.pop(op[1], None)
            return ["MD", op[1]] if old is None else ["MS", op[1], old]
        if code == "ZD":
            return ["_restore_index", op[1], self.indexes.pop(op[1], None)]
        if code == "X":
            saved = (self.records, self.indexes, self.meta)
            self.records, self.indexes, self.meta = {}, {}, {}
            return ["_restore_all", saved]
        if code == "_restore_index":
            if op[2] is None:
                self.indexes.pop(op[1], None)
            else:
                self.indexes[op[1]] = op[2]
            return ["ZD", op[1]]
        if code == "_restore_all":
            self.records, self.indexes, self.meta = op[1]
            return ["X"]
        return ["noop"]  # BS, BD: mirrors hold no blob bytes

    def load(self, version: int, meta: list[bytes], hashes: list[Any], zsets: list[Any]) -> None:
        """Replace everything with a full copy (the reply of the sync script's reload)."""
        records: dict[str, dict[str, str | bytes]] = {}
        for i in range(0, len(hashes), 2):
            flat = hashes[i + 1]
            records[hashes[i].decode()] = {flat[j].decode(): flat[j + 1] for j in range(0, len(flat), 2)}
        indexes: dict[str, _Index] = {}
        for i in range(0, len(zsets), 2):
            flat = zsets[i + 1]
            idx = _Index()
            idx.scores = {flat[j].decode(): parse_score(flat[j + 1]) for j in range(0, len(flat), 2)}
            idx.order = sorted((s, m) for m, s in idx.scores.items())
            indexes[zsets[i].decode()] = idx
        self.records, self.indexes = records, indexes
        self.meta = {meta[j].decode(): meta[j + 1] for j in range(0, len(meta), 2)}
        self.version = version

    def forget(self) -> None:
        """Drop everything: the next sync reloads (after a commit whose outcome is unknown)."""
        self.version = -1
