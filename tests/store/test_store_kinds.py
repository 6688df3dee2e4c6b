"""Which store a ``--store`` URL opens, and what a granian worker makes of it (how many writes run at once)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest

from mock_server import SimConfig, server
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


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_granian_worker_runs_one_write_at_a_time_on_redis_two_in_memory(
        kind: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under Redis one account's writes take turns on its contended keys anyway: a second write slot only handed
    the GIL and a thread around (``RedisStore.writes_at_once``; docs/performance.md has the measurement)."""
    store_url = f"{redis_url}?prefix=ltxkinds-{uuid.uuid4().hex[:8]}:" if kind == "redis" else None
    config = SimConfig(store_url=store_url, background=False)
    monkeypatch.setenv(server.CONFIG_ENV, json.dumps(dataclasses.asdict(config)))
    monkeypatch.setenv(server.RUNNING_ENV, str(server.GRANIAN_RUNNING))
    monkeypatch.setattr(server, "die_with_parent", lambda *a, **k: None)  # this is the test process, not a worker
    front = server.granian_app_from_env()
    try:
        assert front.writes == (1 if kind == "redis" else server.GRANIAN_RUNNING)
    finally:
        front.app.extensions["ltx_sim"].close()
