"""SQLiteStore behaves like MemoryStore, keeps what it committed, and isolates atomic blocks.

The shared store contract (tests/store/) checks each method; this file adds a randomised
differential run against MemoryStore and the SQLite-specific promises: reopen, WAL,
per-thread connections, rollback of a failed outermost block.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import pytest

from mock_server.store import open_store
from mock_server.store.memory import MemoryStore
from mock_server.store.sqlite import SQLiteStore

INF = float("inf")


@pytest.fixture
def sqlite_store(tmp_path: Path):
    store = SQLiteStore(tmp_path / "state.db")
    yield store
    store.close()


def test_sqlite_store_matches_memory_store_on_random_operations(sqlite_store: SQLiteStore) -> None:
    """Thousands of random calls give identical answers on both stores (ties, bounds, reverse, pages)."""
    memory = MemoryStore()
    rng = random.Random(7)
    members = [f"m{i}" for i in range(12)] + ["", "é", "Z", "a b"]
    scores = [0, 1, 1.5, -3, 10**12, INF, -INF, 2]
    for step in range(3000):
        op = rng.choice(["add", "add", "add", "remove", "score", "range", "by_score", "count", "put", "get",
                         "delete", "many", "meta", "blob", "drop", "kindcount"])
        index = rng.choice(["a", "b"])
        if op == "add":
            args = (index, rng.choice(members), rng.choice(scores))
            call = ("index_add", args, {})
        elif op == "remove":
            call = ("index_remove", (index, rng.choice(members)), {})
        elif op == "score":
            call = ("index_score", (index, rng.choice(members)), {})
        elif op == "range":
            limit = rng.choice([None, 0, 1, 3, 50])
            call = ("index_range", (index, rng.randint(0, 8), limit), {"reverse": rng.random() < 0.5})
        elif op == "by_score":
            lo, hi = sorted([rng.choice(scores), rng.choice(scores)])
            call = ("index_by_score", (index, lo, hi, rng.choice([None, 1, 2, 5])), {})
        elif op == "count":
            lo, hi = sorted([rng.choice(scores), rng.choice(scores)])
            call = ("index_count", (index, lo, hi) if rng.random() < 0.7 else (index,), {})
        elif op == "put":
            call = ("put", ("job", rng.choice(members), {"n": step, "nested": {"l": [1, "x", None]}}), {})
        elif op == "get":
            call = ("get", ("job", rng.choice(members)), {})
        elif op == "delete":
            call = ("delete", ("job", rng.choice(members)), {})
        elif op == "many":
            call = ("get_many", ("job", [rng.choice(members) for _ in range(rng.randint(0, 5))]), {})
        elif op == "meta":
            if rng.random() < 0.5:
                call = ("put_meta", ("m", rng.choice([None, 1, [1, 2], {"a": "b"}, "s"])), {})
            else:
                call = ("get_meta", ("m",), {})
        elif op == "blob":
            key = rng.choice(members[:3])
            call = rng.choice([("blob_put", (key, bytes([step % 256]) * 3), {}), ("blob_get", (key,), {}),
                               ("blob_delete", (key,), {})])
        elif op == "drop":
            if rng.random() > 0.05:
                continue
            call = ("index_drop", (index,), {})
        else:
            call = ("count", ("job",), {})
        name, args, kwargs = call
        expected = getattr(memory, name)(*args, **kwargs)
        got = getattr(sqlite_store, name)(*args, **kwargs)
        assert got == expected, f"step {step}: {name}{args} {kwargs}: sqlite {got!r} != memory {expected!r}"
    assert sorted(sqlite_store.dump()) == sorted(memory.dump())


def test_sqlite_store_copies_values_in_and_out(sqlite_store: SQLiteStore) -> None:
    value = {"list": [1, 2]}
    sqlite_store.put("k", "1", value)
    value["list"].append(3)
    got = sqlite_store.get("k", "1")
    assert got == {"list": [1, 2]}
    got["list"].append(4)
    assert sqlite_store.get("k", "1") == {"list": [1, 2]}


def test_sqlite_store_survives_reopen_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(f"sqlite://{path}")
    assert isinstance(store, SQLiteStore)
    with store.atomic():
        store.put("asset", "u1", {"mime": "image/png"})
        store.blob_put("u1", b"\x89PNG")
        store.index_add("assets", "u1", 5)
        store.put_meta("clock", {"paused": True})
    # no close(): a crashed process never closes; another connection must see the commit
    again = SQLiteStore(path)
    assert again.get("asset", "u1") == {"mime": "image/png"}
    assert again.blob_get("u1") == b"\x89PNG"
    assert again.index_by_score("assets") == [("u1", 5.0)]
    assert again.get_meta("clock") == {"paused": True}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()
    again.close()


def test_sqlite_store_rolls_back_a_failed_outermost_block_and_nests(sqlite_store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError), sqlite_store.atomic():
        sqlite_store.put("k", "a", {"v": 1})
        with sqlite_store.atomic():  # re-entrant: no second BEGIN
            sqlite_store.put("k", "b", {"v": 2})
        raise RuntimeError("boom")
    assert sqlite_store.get("k", "a") is None and sqlite_store.get("k", "b") is None
    with sqlite_store.atomic(), sqlite_store.atomic():
        sqlite_store.put("k", "c", {"v": 3})
    assert sqlite_store.get("k", "c") == {"v": 3}


def test_sqlite_store_atomic_blocks_do_not_interleave_across_threads(tmp_path: Path) -> None:
    """Read-modify-write from 4 threads and a second store object (another process's view) loses no update."""
    path = tmp_path / "c.db"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    stores[0].put_meta("n", 0)

    def bump(store: SQLiteStore) -> None:
        for _ in range(50):
            with store.atomic():
                store.put_meta("n", store.get_meta("n") + 1)

    threads = [threading.Thread(target=bump, args=(stores[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].get_meta("n") == 200
    for s in stores:
        s.close()


def test_sqlite_store_rejects_memory_path_and_bad_sync_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file path"):
        SQLiteStore(":memory:")
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "x.db?synchronous=sometimes")
    store = SQLiteStore(f"{tmp_path / 'y.db'}?synchronous=full")
    assert store.synchronous == "full"
    store.close()


def test_sqlite_store_clear_forgets_everything(sqlite_store: SQLiteStore) -> None:
    sqlite_store.put("a", "1", {})
    sqlite_store.index_add("i", "m", 1)
    sqlite_store.blob_put("b", b"x")
    sqlite_store.put_meta("m", 1)
    sqlite_store.clear()
    assert list(sqlite_store.dump()) == []
    assert sqlite_store.index_count("i") == 0
    assert sqlite_store.blob_get("b") is None and sqlite_store.get_meta("m") is None
