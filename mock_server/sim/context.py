"""What every rule module shares: the store, the clock, the config and seeded randomness."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mock_server.clock import Clock
from mock_server.config import SimConfig
from mock_server.sim.records import GENERATION_HEX
from mock_server.store.base import Store

SIGNING_KEY = "signing-key"
# uuid.UUID(int=n, version=4): clear the variant and version bits, then set variant RFC 4122 and version 4
_UUID_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & (2**128 - 1)
_UUID_V4 = (0x8000 << 48) | (4 << 76)


class _Urandom(threading.local):
    """Bytes from ``os.urandom``, read 4 kB at a time per thread: ``os.urandom`` lets go of the GIL for its system
    call, and under load the event loop's thread took it, so a request's every new id waited for it back."""

    buf = b""
    at = 0


_URANDOM = _Urandom()
URANDOM_CHUNK = 4096


def _forget_random_bytes() -> None:
    """(A forked child) the bytes read before the fork are the parent's too: never use them (ids would repeat)."""
    _URANDOM.buf, _URANDOM.at = b"", 0


os.register_at_fork(after_in_child=_forget_random_bytes)


def _random_bytes(n: int) -> bytes:
    """``n`` bytes as ``os.urandom(n)`` gives them (the kernel's random source), at one system call per 4 kB."""
    pool = _URANDOM
    at = pool.at
    if at + n > len(pool.buf):
        pool.buf, at = os.urandom(max(URANDOM_CHUNK, n)), 0
    pool.at = at + n
    return pool.buf[at:at + n]


def iso(ms: int) -> str:
    """Epoch milliseconds as the service writes them: ``2025-06-03T12:34:56.789Z``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def mmss(ms: int) -> str:
    """Elapsed time as ``MM:SS`` (minutes may exceed 99)."""
    s = max(0, ms) // 1000
    return f"{s // 60:02d}:{s % 60:02d}"


@dataclass
class Context:
    """Shared services; one per simulator instance."""

    store: Store
    clock: Clock
    config: SimConfig
    rng: random.Random = field(default_factory=random.Random)
    _rng_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _faker: Any = field(default=None, repr=False)
    _key: bytes | None = field(default=None, repr=False)
    # Who hears what the rules did (``emit``): the metrics (mock_server/metrics.py) count credits charged and
    # refunded and webhook attempts here, where they happen, without the rules knowing about Prometheus.
    listeners: list[Callable[[str, int], None]] = field(default_factory=list, repr=False)

    def emit(self, event: str, amount: int = 1) -> None:
        """Tell the listeners that ``event`` happened ``amount`` times (``credits.charged``, ``webhook.ok``, ...),
        once the store has made the writes it goes with durable: a transaction an optimistic store refused (and
        runs again) did not happen, and neither did its events."""
        if self.listeners:
            self.store.after_commit(lambda: self._tell(event, amount))

    def _tell(self, event: str, amount: int) -> None:
        for listener in self.listeners:
            listener(event, amount)

    @property
    def faker(self) -> Any:
        """A seeded Faker, imported on first use (faker costs ~50 ms of start-up that most runs never need)."""
        if self._faker is None:
            from faker import Faker

            self._faker = Faker()
            if self.config.seed is not None:
                self._faker.seed_instance(self.config.seed)
        return self._faker

    def reseed(self) -> None:
        """Restart the random streams: with ``--seed`` the same calls give the same ids again."""
        with self._rng_lock:
            self.rng.seed(self.config.seed)
            self._faker = None  # re-made (and re-seeded) on next use

    def uuid(self) -> str:
        """A random (version 4) UUID: from os.urandom, or from the seeded stream with ``--seed``.

        Formatted by hand: the same string ``str(uuid.UUID(int=n, version=4))`` gives, at a third of the cost.
        """
        if self.config.seed is None:
            n = int.from_bytes(_random_bytes(16))
        else:
            with self._rng_lock:
                n = self.rng.getrandbits(128)
        h = "%032x" % (n & _UUID_CLEAR | _UUID_V4)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def random(self) -> float:
        with self._rng_lock:
            return self.rng.random()

    def choice(self, seq: list[str]) -> str:
        with self._rng_lock:
            return self.rng.choice(seq)

    def token_hex(self, n: int) -> str:
        """``n`` random hex digits from the (seeded) stream: one draw of 4n bits, not n choices."""
        with self._rng_lock:
            return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def generation_id(self) -> str:
        """A new job's ``generationId``: ``gen_`` and hex digits from the (seeded) stream."""
        return "gen_" + self.token_hex(GENERATION_HEX)

    def signing_key(self) -> bytes:
        """The key behind every signature: ``config.secret`` if given, else random, made once and kept in the store.

        Kept in the store (meta ``signing-key``, never shown by any view or snapshot) so that every process
        sharing a store signs alike and signed URLs survive a restart on ``--state``/``--store``; random so
        that nobody can sign an ``Expires=99999999999999`` URL for another tenant's upload.
        """
        if self._key is None:
            if self.config.secret:
                self._key = self.config.secret.encode()
            else:
                with self.store.atomic():
                    key = self.store.get_meta(SIGNING_KEY)
                    if not key:
                        key = secrets.token_hex(32)
                        self.store.put_meta(SIGNING_KEY, key)
                self._key = key.encode()
        return self._key

    def sign(self, message: str) -> str:
        return hmac.new(self.signing_key(), message.encode(), hashlib.sha256).hexdigest()[:32]
