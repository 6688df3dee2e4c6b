"""A store in Redis, shared by every process of ``ltx-mock serve --workers N --store redis://...``.

==================  ============================================================
``store.py``        ``RedisStore``: the Store interface, request scopes, reads
``mirror.py``       this process's copy of the state, caught up from the change log
``lock.py``         the cross-process lock (one script with catching up), its watchdog
``transaction.py``  one block's buffered writes and the commit script
``wire.py``         one connection per thread; every reply counted as a round trip
==================  ============================================================

docs/redis.md explains the design and its measurements.
"""

from mock_server.store.redis.store import DEFAULT_LOCK_TTL_MS, DEFAULT_PREFIX, RedisStore, parse_url
from mock_server.store.redis.transaction import LockLost

__all__ = ["DEFAULT_LOCK_TTL_MS", "DEFAULT_PREFIX", "LockLost", "RedisStore", "parse_url"]
