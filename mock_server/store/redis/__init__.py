"""A store in Redis, shared by every process of ``ltx-mock serve --workers N --store redis://...``.

==================  ============================================================
``store.py``        ``RedisStore``: the Store interface, transactions, reads
``cache.py``        what this process has read, caught up from the change log, bounded
``transaction.py``  one transaction's checks and writes, and the commit script
``lock.py``         catching up (one script), the exclusive lock, its watchdog
``journal.py``      the request journal, outside transactions: staged when written, merged in answer order when read
``peers.py``        asking every process to write what it kept (a journal read); the heartbeat thread
``keys.py``         every key name
``wire.py``         one connection per thread; every reply counted as a round trip
==================  ============================================================

docs/redis.md explains the design and its measurements.
"""

from mock_server.store.base import Conflict
from mock_server.store.redis.store import DEFAULT_LOCK_TTL_MS, DEFAULT_PREFIX, RedisStore, parse_url
from mock_server.store.redis.transaction import LockLost

__all__ = ["DEFAULT_LOCK_TTL_MS", "DEFAULT_PREFIX", "Conflict", "LockLost", "RedisStore", "parse_url"]
