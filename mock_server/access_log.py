"""The access log (``ltx-mock serve --access-log -|FILE [--log-format plain|json]``): one line per request.

Each line: the time (UTC, ms), the client address, method, path with its query, status, the time the simulator
took, the operationId and the tenant's label (``t_`` + a hash of its token: never the token). Nothing else of the
request is written: no header (so no ``Authorization``, ``Cookie`` or admin token), no body. Path and query are
masked by the one masking engine (``masking.mask_text``, ``masking.mask_query_string``: an ``lt_token=`` in a path,
a credential-named query parameter or a signature shows as ``…secured…``).

``plain``::

    2026-12-06T08:40:00.123Z 127.0.0.1 "POST /v1/ltxstudio/images/create" 200 1.84ms createImage t_3f0c9a1b2c4d5e6f

``json`` (one object a line): ``{"time", "remote", "method", "path", "query", "status", "durationMs",
"operationId", "tenant"}``.

Off the request thread: a request only queues its figures (one ``deque.append`` of a tuple, ~0.5-1 us); the line
is formatted and written by the log's writer thread, every ``FLUSH_EVERY_S`` (0.1 s) as one ``write`` of every line
queued since, in the order the answers were made (so a line reaches the file within ~0.1 s of its answer). Written
on the request thread (one ``os.write`` a line, the masking engine on each path) it cost ~9 us a request; queued and
batched, with the masked path and query remembered per distinct (method, path, query) (``TARGETS`` of them), ~3 us
of CPU in all, most of it in the writer thread (``benchmarks/observe_bench.py``, docs/performance.md). Nothing
queued is lost at a stop: ``close`` (``ltx-mock serve``'s SIGTERM/SIGINT path for every server,
``ServerThread.stop``) and an ``atexit`` hook write what is left; a ``kill -9`` loses at most the last 0.1 s. If the
writer thread is starved of the GIL until ``QUEUE_MAX`` lines wait, each request that queues one more writes the
oldest ``INLINE_LINES`` itself (memory stays bounded; no one request pays for thousands).

Several ``--workers`` append to one file: each batch is written in one ``write`` per chunk of whole lines (at most
64 KiB to a file opened in append mode, ``PIPE_BUF`` to a pipe or terminal), so lines never interleave. Off by
default: a CI log does not need a line per request unless asked (docs/service.md).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import logging
import os
import stat
import sys
import threading
import time
from typing import Any

from mock_server.masking import mask_query_string, mask_text

FORMATS = ("plain", "json")
FLUSH_EVERY_S = 0.1  # the writer thread's period: how long a line may wait in the queue
QUEUE_MAX = 2048  # lines queued (the writer starved of the GIL) before each request writes INLINE_LINES of them
INLINE_LINES = 256  # ... a share at a time, so no one request pays for thousands (memory stays bounded)
TARGETS = 4096  # masked (method, path, query) parts remembered (then forgotten all at once and remembered anew)
PIPE_BUF = 4096  # POSIX: a write to a pipe up to this size is never interleaved with another process's
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # one encoder: no per-call set-up


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a decoded ``%0A`` in a path cannot start a forged line."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def masked_query(query_string: str) -> str:
    """A raw query string as logged: the masking engine's (``masking.mask_query_string``), bounded."""
    return mask_query_string(query_string[:8192]) if query_string else ""


Queued = tuple[float, Any, Any, str, str, int, float, "str | None", "str | None"]
# (time, REMOTE_ADDR, QUERY_STRING, method, path, status, seconds, operationId, tenant): a request's figures


class AccessLog:
    """One line per request to ``target`` (``-``: standard output; else a file, appended to), written in batches
    by a thread of its own (started at the first request, so a log nobody writes to costs no thread)."""

    def __init__(self, target: str, fmt: str = "plain", flush_every_s: float | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.json = fmt == "json"
        self.own_fd = target != "-"
        self.fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if self.own_fd \
            else sys.stdout.fileno()
        self.chunk = 65536 if stat.S_ISREG(os.fstat(self.fd).st_mode) else PIPE_BUF  # whole lines per write
        self.flush_every_s = FLUSH_EVERY_S if flush_every_s is None else flush_every_s
        self.queue: collections.deque[Queued] = collections.deque()
        self._lock = threading.Lock()  # one writer at a time: lines leave in the order they were queued
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._targets: dict[tuple[str, str, str], str] = {}  # (method, path, query) -> its masked part of a line
        self._names: dict[str | None, str] = {None: "null"}  # operationId, tenant, address -> its JSON (json format)
        self._ms = self._second = -1
        self._date = self._stamp = ""

    # -- the request thread ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], method: str, path: str, status: int, seconds: float,
                 operation: str | None, tenant: str | None) -> None:
        """Queue the line of one answered request (the pipeline's ``observe`` step)."""
        queue = self.queue
        queue.append((time.time(), environ.get("REMOTE_ADDR"), environ.get("QUERY_STRING"), method, path, status,
                      seconds, operation, tenant))
        if self._thread is None:
            self._start()
        elif len(queue) >= QUEUE_MAX:  # the writer thread is starved of the GIL: this request writes a share
            self.flush(INLINE_LINES)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="ltx-access-log", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    # -- the writer ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.wait(self.flush_every_s):
            if self.queue:
                self.flush()

    def flush(self, limit: int | None = None) -> None:
        """Format and write the queued lines now (the oldest ``limit`` of them, or all), in order (the writer
        thread, ``close``, a request when the queue is long, tests)."""
        with self._lock:
            queue = self.queue
            if self._closed:  # the server stopped: a late answer's line has nowhere to go
                queue.clear()
                return
            pop, line, chunk = queue.popleft, self._line, self.chunk
            out: list[bytes] = []
            size = 0
            for _ in range(len(queue) if limit is None else min(limit, len(queue))):  # later ones: the next flush
                data = line(pop()).encode("utf-8", "replace")
                if size + len(data) > chunk and out:
                    self._write(b"".join(out))
                    out, size = [], 0
                out.append(data)
                size += len(data)
            if out:
                self._write(b"".join(out))

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a full disk or a closed stdout must never fail a request
            while data:
                data = data[os.write(self.fd, data):]

    def _line(self, queued: Queued) -> str:
        """One request's line (with its newline)."""
        at, remote, query, method, path, status, seconds, operation, tenant = queued
        ms = int(at * 1000)
        if ms != self._ms:  # the time formatted once per millisecond (lines come in bursts), the date once a second
            second = ms // 1000
            if second != self._second:
                self._date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                self._second = second
            self._stamp = f"{self._date}.{ms % 1000:03d}Z"
            self._ms = ms
        stamp = self._stamp
        key = (method, path, query or "")
        target = self._targets.get(key)
        if target is None:
            target = self._target(*key)
            if len(path) + len(key[2]) <= 512:  # the routes' paths repeat; an odd long one is not kept
                if len(self._targets) >= TARGETS:
                    self._targets.clear()
                self._targets[key] = target
        if self.json:
            names = self._names
            op = names.get(operation) or self._name(operation)
            who = names.get(tenant) or self._name(tenant)
            remote = remote or "-"
            addr = names.get(remote) or self._name(remote)
            return (f'{{"time":"{stamp}","remote":{addr},{target},"status":{status},'
                    f'"durationMs":{seconds * 1000:.3f},"operationId":{op},"tenant":{who}}}\n')
        return (f"{stamp} {remote or '-'} {target} {status} {seconds * 1000:.2f}ms {operation or '-'} "
                f"{tenant or '-'}\n")

    def _target(self, method: str, path: str, query: str) -> str:
        """The masked request part of a line: ``"GET /path?query"`` plain, its three JSON members in json."""
        query = masked_query(query) if query else ""
        path = mask_text(path[:2048])
        if self.json:
            return f'"method":{_DUMPS(method)},"path":{_DUMPS(path)},"query":{_DUMPS(query)}'
        return f'"{_printable(method)} {_printable(path + ("?" + query if query else ""))}"'

    def _name(self, name: str | None) -> str:
        """``name`` as JSON, remembered (operationIds, tenants, client addresses: a few distinct ones)."""
        encoded = _DUMPS(name)
        if len(self._names) < TARGETS:
            self._names[name] = encoded
        return encoded

    def close(self) -> None:
        """Write what is queued and stop the writer (idempotent); lines queued later are not written."""
        self.flush()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        atexit.unregister(self.flush)
        if self.own_fd:
            os.close(self.fd)


def configure_logging(level: str) -> None:
    """``--log-level``: the level of the simulator's loggers (``ltx_mock.*``), written to stderr with the time.

    Idempotent (each ``--workers`` process calls it as its app is built). The access log has its own handler
    and is not affected.
    """
    root = logging.getLogger("ltx_mock")
    root.setLevel(level.upper())
    if not any(getattr(h, "ltx_mock", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.ltx_mock = True  # type: ignore[attr-defined]
        root.addHandler(handler)
