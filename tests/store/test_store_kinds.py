"""Which store a ``--store`` URL opens (``store_kind``, ``open_store``; health names the kind the same way)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mock_server.store import MemoryStore, open_store, store_kind
from mock_server.store.redis import RedisStore
from mock_server.store.sqlite import SQLiteStore


@pytest.mark.parametrize(("url", "kind"), [
    (None, "memory"), ("", "memory"), ("memory://", "memory"),
    ("redis://127.0.0.1:6379/0", "redis"), ("rediss://127.0.0.1:6380/0", "redis"), ("unix:///tmp/redis.sock", "redis"),
    ("sqlite:///tmp/x.db", "sqlite"), ("/tmp/x.db", "sqlite"), ("state.db", "sqlite"),
])
def test_a_urls_scheme_names_its_store(url: str | None, kind: str) -> None:
    assert store_kind(url) == kind


def test_each_kind_opens_its_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rediss://`` (TLS) is Redis: it once fell through to SQLite, which took the URL for a file name."""
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store(None), MemoryStore)
    sqlite = open_store(f"sqlite://{tmp_path / 'x.db'}")
    assert isinstance(sqlite, SQLiteStore)
    sqlite.close()
    tls = open_store(f"rediss://127.0.0.1:1/0?prefix=ltxkinds-{uuid.uuid4().hex[:8]}:")  # connects on first use
    assert isinstance(tls, RedisStore)
    tls.close()
    assert not list(tmp_path.glob("rediss:*"))

