"""Talking to Redis: one connection per thread, each command or script call counted as one round trip.

redis-py's pool, retry and instrumentation layers cost about twice the round trip itself, so each
thread keeps one connection and speaks RESP on it directly. ``stats["round_trips"]`` counts every
reply waited for (a command, a script, a pipeline of commands): what ``benchmarks/scale_bench.py``
reports and ``tests/store/test_store_redis_round_trips.py`` holds to at most 2 per API request.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from typing import Any

import redis
from redis.exceptions import MovedError, NoScriptError


class _Forks:
    """How many times this process was forked into (``os.register_at_fork``): a cheaper test for "am I a forked
    child?" than ``os.getpid()`` (a system call) on every store call."""

    count = 0


def _forked() -> None:  # pragma: no cover - runs in a forked child
    _Forks.count += 1


os.register_at_fork(after_in_child=_forked)


def fork_generation() -> int:
    """Changes in a forked child: per-process state (connections, threads, the cache) is rebuilt when it does."""
    return _Forks.count


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP, ~10x cheaper than redis-py's general packer (this runs twice per request)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is bytes:
            data = arg
        elif kind is int:
            data = b"%d" % arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):  # bool
            data = b"%d" % arg
        else:
            data = repr(arg).encode() if isinstance(arg, float) else bytes(arg)
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


class Script:
    """A Lua script run by SHA (``EVALSHA``), sent whole once if the server does not know it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class Wire:
    """Per-thread connections to one Redis, rebuilt in a forked child."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self.closing = threading.Event()  # set by close(): the watchdog stops
        self.stats: dict[str, float] = {"round_trips": 0, "blocks": 0, "held_s": 0.0, "wait_s": 0.0, "waits": 0,
                                        "syncs": 0, "reloads": 0}
        self._moving = threading.Lock()
        self.reset_process()

    def reset_process(self) -> None:
        self.fork = fork_generation()
        self._tl = threading.local()
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        return self.closing.is_set()

    def _conn(self) -> Any:
        conn = getattr(self._tl, "conn", None)
        if conn is None:
            if self.closing.is_set():
                raise RuntimeError("RedisStore is closed")
            pool = self._redis.connection_pool
            conn = self._tl.conn = pool.connection_class(**pool.connection_kwargs)
            self._conns.add(conn)
        return conn

    def call(self, *args: Any, counted: bool = True) -> Any:
        """One command and its reply. A dropped connection is retried on a new one: every
        command sent here is safe to repeat (reads; scripts made idempotent by the lock token).
        ``counted``: a request's round trip (``stats``); the deferred-work thread's are not.

        On Redis Cluster a node that does not serve the keys' slot answers ``MOVED slot host:port``:
        every key of one store shares a hash tag (one slot), so the store moves to that node for good."""
        if self.fork != _Forks.count:
            self.reset_process()
        conn = self._conn()
        if counted:
            self.stats["round_trips"] += 1
        packed = pack(args)
        for attempt in (1, 2, 3):
            try:
                conn.send_packed_command([packed], check_health=False)
                return conn.read_response()
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
                if attempt == 3 or self.closing.is_set():  # closed under us: no new connection
                    raise
            except MovedError as exc:
                if attempt == 3:
                    raise
                conn = self._move(exc.host, int(exc.port))
            except redis.ResponseError:
                raise  # an error reply: the connection is in sync
            except BaseException:
                conn.disconnect()  # interrupted mid-reply: never reuse a connection out of step
                raise
        raise AssertionError("unreachable")

    def _move(self, host: str, port: int) -> Any:
        """Serve from the cluster node at ``host:port`` from now on (every thread's next connection goes there)."""
        with self._moving:
            kwargs = self._redis.connection_pool.connection_kwargs
            kwargs.update(host=host, port=port)  # other threads' connections get MOVED once too, then follow
        self._tl.conn.disconnect()
        self._tl.conn = None
        return self._conn()

    def run(self, script: Script, keys: list[str], args: list[Any], *, counted: bool = True) -> Any:
        """Run a script by SHA; a server that does not know it yet gets it whole (a second round trip, once)."""
        try:
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args, counted=counted)
        except NoScriptError:
            return self.call("EVAL", script.source, len(keys), *keys, *args, counted=counted)

    def close(self) -> None:
        self.closing.set()
        for conn in list(self._conns):
            conn.disconnect()
        self._redis.close()
        self._redis.connection_pool.disconnect()
