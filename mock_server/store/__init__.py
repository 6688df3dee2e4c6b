"""Stores behind one interface; ``open_store`` picks one from a URL."""

from __future__ import annotations

from mock_server.store.base import Conflict, Record, Store
from mock_server.store.memory import MemoryStore

__all__ = ["Conflict", "MemoryStore", "Record", "Store", "open_store"]


def open_store(url: str | None = None) -> Store:
    """``None``/``memory://`` -> memory; ``sqlite:///path`` or a plain path -> SQLite; ``redis://`` -> Redis."""
    if not url or url == "memory://":
        return MemoryStore()
    if url.startswith("redis://") or url.startswith("unix://"):
        from mock_server.store.redis import RedisStore

        return RedisStore(url)
    from mock_server.store.sqlite import SQLiteStore

    return SQLiteStore(url.removeprefix("sqlite://"))
