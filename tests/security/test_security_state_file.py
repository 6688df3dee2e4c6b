"""``--state`` refuses a file that is not a simulator state (empty, truncated, damaged, someone else's) with one
line naming it and the way out, a non-zero exit and no traceback; the file is left as it was. (A 0-byte file used
to start as an empty store, losing everything silently; a truncated one died with a raw DatabaseError.)"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mock_server.config import SimConfig
from mock_server.sim import Simulator
from mock_server.store.sqlite import SQLiteStore, StateFileError


def real_state(path: Path) -> bytes:
    """A genuine simulator state with some bulk (so truncation cuts pages), closed (WAL checkpointed)."""
    sim = Simulator(SimConfig(store_url=f"sqlite://{path}", background=False))
    for i in range(200):
        sim.store.blob_put(f"blob-{i}", bytes([i % 251]) * 4000)
    sim.store.close()
    return path.read_bytes()


def empty(p: Path) -> None:
    p.write_bytes(b"")


def text(p: Path) -> None:
    p.write_text("name,email\nalice,alice@example.com\n", encoding="utf-8")


def foreign(p: Path) -> None:
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE people (name TEXT)")
    db.execute("INSERT INTO people VALUES ('alice')")
    db.commit()
    db.close()


def truncated(p: Path) -> None:
    whole = real_state(p.with_name("whole.db"))
    p.write_bytes(whole[: len(whole) // 2])


def header_only(p: Path) -> None:
    p.write_bytes(real_state(p.with_name("whole.db"))[:60])


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (empty, "is empty (0 bytes), not a simulator state"),
    "text": (text, "is not a simulator state (not an SQLite database)"),
    "foreign": (foreign, "is an SQLite database but not a simulator state (its tables: people)"),
    "truncated": (truncated, "is truncated ("),
    "header-only": (header_only, "is not a simulator state (not an SQLite database)"),
}


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES)
def test_security_state_refuses_a_file_that_is_not_a_state(case: str, tmp_path: Path) -> None:
    make, expected = CASES[case]
    path = tmp_path / "state.db"
    make(path)
    before = digest(path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port),
                           "--state", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: state file {path} {expected}"), lines[0]
    assert "delete it to start a new state" in lines[0] and "Traceback" not in proc.stderr + proc.stdout
    assert digest(path) == before  # refused, not "repaired"
    with pytest.raises(StateFileError):  # the library refuses it too (create_app, the pytest plugin)
        SQLiteStore(path)


def test_security_state_accepts_a_new_path_and_a_real_state(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "new" / "state.db").close()  # missing: a new state
    path = tmp_path / "real.db"
    real_state(path)
    reopened = SQLiteStore(path)
    assert reopened.blob_get("blob-7") == bytes([7]) * 4000
    reopened.close()
