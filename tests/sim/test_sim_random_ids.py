"""Unseeded ids come from the kernel's random source, read 4 kB at a time (``context._random_bytes``): one system
call per 256 UUIDs (``os.urandom`` lets go of the GIL for it, and a served request waited for it back). What must
hold: no id repeats, within a process, across threads, or in a process forked after bytes were read (granian and
waitress workers fork; a child that used the parent's buffer would mint the parent's next ids)."""

from __future__ import annotations

import os
import threading

from mock_server.config import SimConfig
from mock_server.sim.context import Context, _random_bytes
from mock_server.store.memory import MemoryStore


def test_ids_never_repeat_within_a_process_or_across_threads() -> None:
    ctx = Context(MemoryStore(), None, SimConfig())  # type: ignore[arg-type]
    seen: list[str] = []
    lock = threading.Lock()

    def mint() -> None:
        mine = [ctx.uuid() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=mint) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8000
    assert all(len(u) == 36 and u[14] == "4" and u[19] in "89ab" for u in seen)


def test_a_forked_child_never_mints_the_parent_s_next_bytes() -> None:
    _random_bytes(16)  # the buffer is filled: the next bytes are in this process's memory
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, _random_bytes(64))
        finally:
            os._exit(0)
    os.close(write)
    child = b""
    while len(child) < 64:
        part = os.read(read, 64)
        if not part:
            break
        child += part
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 64
    assert child != _random_bytes(64)
