"""Every Redis key name the store uses, made here from its prefix and nowhere else (docs/redis.md lists them).

The default prefix carries a hash tag (``{ltxmock}:``): Redis Cluster then places every key of one simulator
in one slot, so each script's keys (declared or reached by SCAN) are on the node that runs it. A prefix given
with ``?prefix=`` should carry one too on a cluster (``?prefix={team-a}:``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

RECORDS = "r:"  # + kind: HASH record key -> JSON
INDEXES = "i:"  # + index name: ZSET member -> score
BLOBS = "b:"  # + blob key: STRING bytes
JOURNAL = "j:"  # + e / i / z / s / p / q: the request journal (entries, order, sizes, state, staged); no transactions


@dataclass(frozen=True)
class Keys:
    """Every key name the store uses, from its prefix. The fixed names are worked out once (``cached_property``):
    every catch-up and commit sends several of them."""

    prefix: str

    @cached_property
    def pattern_prefix(self) -> str:
        """The prefix with glob characters escaped, for SCAN MATCH."""
        return "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix)

    def record_kind(self, kind: str) -> str:
        return self.prefix + RECORDS + kind

    def index(self, name: str) -> str:
        return self.prefix + INDEXES + name

    def blob(self, key: str) -> str:
        return self.prefix + BLOBS + key

    def journal(self, part: str) -> str:
        """``e`` HASH id -> entry JSON; ``i`` ZSET padded id -> when answered (µs); ``z`` HASH id -> size; ``s`` HASH
        seq, bytes, pbytes, limit, cap; ``p`` ZSET staged member -> when answered; ``q`` HASH member -> size and
        JSON (``journal.py``)."""
        return self.prefix + JOURNAL + part

    @cached_property
    def journal_cut(self) -> str:
        """STRING: µs; staged entries answered before it are dropped (a clear). Outside ``j:*``: a reset keeps it."""
        return self.prefix + "jcut"

    @cached_property
    def lock(self) -> str:
        return self.prefix + "lock"

    @cached_property
    def wake(self) -> str:
        return self.prefix + "lock:wake"

    def done(self, txn: str) -> str:
        """STRING (10 s): the version transaction ``txn`` committed as, so a commit sent again is not applied twice."""
        return self.prefix + "done:" + txn

    @cached_property
    def version(self) -> str:
        return self.prefix + "ver"

    @cached_property
    def log(self) -> str:
        return self.prefix + "log"

    @cached_property
    def meta(self) -> str:
        return self.prefix + "meta"

    @cached_property
    def procs(self) -> str:
        """ZSET: the processes with a deferred-work thread, scored by their last heartbeat (``peers.py``)."""
        return self.prefix + "procs"

    def flush(self, token: str) -> str:
        """LIST: where a process (``token``) is asked to run its deferred work, or a reader waits for answers."""
        return self.prefix + "flush:" + token
