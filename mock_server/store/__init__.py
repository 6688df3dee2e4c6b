"""Stores behind one interface; ``open_store`` picks one from a URL."""

from __future__ import annotations

from mock_server.store.base import Conflict, Record, Store
from mock_server.store.memory import MemoryStore

__all__ = ["Conflict", "MemoryStore", "Record", "Store", "open_store", "store_kind"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def store_kind(url: str | None) -> str:
    """Which store a URL names: "memory", "redis" or "sqlite" (what :func:`open_store` opens for it)."""
    if not url or url == "memory://":
        return "memory"
    return "redis" if url.startswith(REDIS_SCHEMES) else "sqlite"


def open_store(url: str | None = None) -> Store:
    """``None``/``memory://`` -> memory; ``sqlite:///path`` or a plain path -> SQLite; ``redis://``, ``rediss://``
    (TLS) or ``unix://`` -> Redis."""
    kind = store_kind(url)
    if kind == "memory":
        return MemoryStore()
    assert url is not None
    if kind == "redis":
        from mock_server.store.redis import RedisStore

        return RedisStore(url)
    from mock_server.store.sqlite import SQLiteStore

    return SQLiteStore(url.removeprefix("sqlite://"))
