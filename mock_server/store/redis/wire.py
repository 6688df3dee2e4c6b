"""Talking to Redis: one raw socket per thread, each command or script call counted as one round trip.

In CPU, a redis-py ``execute_command`` costs ~8x a bare socket's round trip, and its connection's send and
pure-Python parser alone ~2x (``benchmarks/wire_bench.py``, docs/performance.md), so each thread keeps one
socket, packs commands itself and reads replies with a small RESP2 reader (hiredis's C reader when it is
installed, else :class:`PyReader`): ~1.2-1.3x the bare socket with hiredis. redis-py
still does what it does once per connection: the URL, connecting (TCP, unix socket, TLS), ``AUTH`` and
``SELECT``; and its error classes are what an error reply raises (``NoScriptError``, ``MovedError``...).
``stats["round_trips"]`` counts every reply waited for (a command, a script): what
``benchmarks/scale_bench.py`` reports and ``tests/store/test_store_redis_round_trips.py`` holds to per request.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import hashlib
import os
import socket
import struct
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis
from redis._parsers.base import BaseParser
from redis.exceptions import InvalidResponse, MovedError, NoScriptError

try:  # the C reader and packer redis-py itself uses when installed: measured in benchmarks/wire_bench.py
    import hiredis
except ImportError:  # pragma: no cover - hiredis comes with the redis extra; the pure-Python path is tested too
    hiredis = None  # type: ignore[assignment]

HAVE_HIREDIS = hiredis is not None
RECV_SIZE = 65536  # one recv_into fills at most this much: a typical reply is one recv

# Keeping the GIL while a reply is on its way (``HiredisLink.read_held``). A blocking ``recv`` lets go of the GIL:
# under load another thread takes it, and the thread whose reply came (a same-host Redis answers a commit in
# ~150-250 us) sleeps until the GIL comes back: two more context switches and GIL hand-offs per round trip, which
# cost a served POST more than the wait itself. So the first read after a command polls the socket without
# letting go (libc's recv through ``ctypes.PyDLL``, which keeps the GIL, with MSG_DONTWAIT) for up to HOLD_NS,
# then blocks as before. Measured (``ltx-mock serve``, c16 POSTs, one process, five alternations): -6 to -10% CPU
# per POST, +13-20% POSTs/s, 9.5 context switches per POST against 13.5. A reply that does not come within it (a
# remote Redis, a big reply, a frozen server) costs that much once, then the next 1, 2, 4 ... 1,024 round trips
# of that connection block at once; one in time starts polling again. Commands that wait in Redis (``BLOCKING``:
# the lock's and the journal handshake's ``BLPOP``) are never held.
HOLD_NS = 300_000
HOLD_BACKOFF_MAX = 1024
BLOCKING = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BZPOPMIN", "BZPOPMAX", "WAIT"})  # never held


def _libc_recv() -> Any:
    """libc's ``recv`` called with the GIL kept (None where that is not possible: not Linux or macOS)."""
    if not sys.platform.startswith(("linux", "darwin")) or not hasattr(socket, "MSG_DONTWAIT"):
        return None  # pragma: no cover - CI is Linux
    try:
        recv = ctypes.PyDLL(None, use_errno=True).recv
    except (OSError, AttributeError):  # pragma: no cover - a libc without recv
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    recv.restype = ctypes.c_ssize_t
    return recv


_RECV_HELD = _libc_recv()


def _libc_send() -> Any:
    """libc's ``send`` called with the GIL kept (None where ``recv`` cannot be: see above)."""
    if _RECV_HELD is None or not hasattr(socket, "MSG_NOSIGNAL"):
        return None  # pragma: no cover - CI is Linux
    send = ctypes.PyDLL(None, use_errno=True).send
    send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    send.restype = ctypes.c_ssize_t
    return send


_SEND_HELD = _libc_send()
_AGAIN = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})
# The flags as plain ints: ``socket.MSG_*`` are IntFlag members, whose ``|`` runs enum.py's Python (~5 us a commit)
_DONTWAIT = int(getattr(socket, "MSG_DONTWAIT", 0))
_SEND_FLAGS = _DONTWAIT | int(getattr(socket, "MSG_NOSIGNAL", 0))


def parse_error(message: str) -> redis.RedisError:
    """An error reply as the exception redis-py raises for it (its own mapping: NOSCRIPT, MOVED, WRONGPASS...)."""
    error: redis.RedisError = BaseParser.parse_error(message)  # type: ignore[no-untyped-call]
    return error


_ERROR = redis.RedisError


class Forks:
    """How many times this process was forked into (``os.register_at_fork``): a cheaper test for "am I a forked
    child?" than ``os.getpid()`` (a system call) on every store call. Per-process state (connections, threads, the
    cache) remembers ``count`` and is rebuilt when it changes."""

    count = 0


def _forked() -> None:  # pragma: no cover - runs in a forked child
    Forks.count += 1


os.register_at_fork(after_in_child=_forked)


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


class _More(Exception):
    """The buffer ends inside the reply: read more and parse it again from its start (raised as a new instance
    each time: one instance raised again and again would pile up tracebacks)."""


class _MoreSentinel:
    """What ``gets()`` returns while no whole reply is buffered (hiredis's ``notEnoughData`` too)."""


_MORE = _MoreSentinel()
MORE = _MORE  # what ``Link.read_ready`` returns while a reply is not whole yet


class PyReader:
    """RESP2 replies from a ``bytearray`` filled by ``recv_into``: what redis-py's RESP2 parser returns (``bytes``,
    ``int``, lists, ``None`` for a nil bulk or array; an error reply as its redis-py exception, not raised).

    The whole reply is parsed from its first byte each time more arrives (a reply is almost always in one
    ``recv``); a bulk string whose length is known grows the buffer to hold it at once, so a 1 MB value costs
    a few ``recv``s, not a parse per segment."""

    __slots__ = ("buf", "end", "need", "pos", "view")

    def __init__(self) -> None:
        self.buf = bytearray(RECV_SIZE)
        self.view = memoryview(self.buf)
        self.pos = 0  # the start of the next reply
        self.end = 0  # the end of the bytes received
        self.need = 0  # bytes the reply being parsed needs in all, from pos (0: unknown)

    def room(self) -> memoryview:
        """Where the next ``recv_into`` writes: the buffer after ``end``, compacted or grown as the reply needs."""
        buf, pos, end = self.buf, self.pos, self.end
        missing = max(self.need - (end - pos), 4096)
        if len(buf) - end < missing:
            if pos:  # move the reply being read to the front
                buf[:end - pos] = buf[pos:end]
                self.pos, self.end = 0, end - pos
            if len(buf) - self.end < missing:  # grow to hold the rest of it (a large bulk string or array)
                self.view.release()
                buf.extend(bytes(max(missing, len(buf))))
                self.view = memoryview(buf)
        return self.view[self.end:]

    def gets(self) -> Any:
        """The next whole reply, or ``_MORE`` (nothing consumed) if the buffer does not hold all of it yet."""
        if self.pos == self.end:
            return _MORE
        try:
            reply, pos = self._parse(self.pos)
        except _More:
            if self.need <= self.end - self.pos:  # an array (or a line) cut short: at least double what we hold
                self.need = 2 * (self.end - self.pos)
            return _MORE
        self.need = 0
        if pos == self.end:  # all consumed (the usual case): start again at the front, and shed a grown buffer
            self.pos = self.end = 0
            if len(self.buf) > 4 * RECV_SIZE:
                self.view.release()
                self.buf = bytearray(RECV_SIZE)
                self.view = memoryview(self.buf)
        else:
            self.pos = pos
        return reply

    def _parse(self, pos: int) -> tuple[Any, int]:
        buf = self.buf
        nl = buf.find(b"\r\n", pos, self.end)
        if nl < 0:
            raise _More
        kind = buf[pos]
        if kind == 36:  # $ bulk string
            size = int(buf[pos + 1:nl])
            if size < 0:
                return None, nl + 2
            stop = nl + 2 + size
            if stop + 2 > self.end:
                self.need = stop + 2 - self.pos
                raise _More
            return bytes(buf[nl + 2:stop]), stop + 2
        if kind == 58:  # : integer
            return int(buf[pos + 1:nl]), nl + 2
        if kind == 42:  # * array
            size = int(buf[pos + 1:nl])
            if size < 0:
                return None, nl + 2
            items = []
            pos = nl + 2
            parse = self._parse
            for _ in range(size):
                item, pos = parse(pos)
                items.append(item)
            return items, pos
        if kind == 43:  # + simple string
            return bytes(buf[pos + 1:nl]), nl + 2
        if kind == 45:  # - error
            return parse_error(buf[pos + 1:nl].decode(errors="replace")), nl + 2
        raise InvalidResponse(f"Protocol error, got {chr(kind)!r} as reply type byte")


def os_timeout(sock: socket.socket, seconds: float) -> None:
    """Make ``sock`` blocking, with the kernel's read and write timeouts (``SO_RCVTIMEO`` / ``SO_SNDTIMEO``: a
    timed-out call fails with ``EAGAIN``) instead of Python's: a socket with a Python timeout ``poll()``s before
    every send and receive, two more system calls per round trip (~1 us of 5 here, benchmarks/wire_bench.py).
    Where the kernel will not take them, Python's timeout stays."""
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
    except OSError:  # pragma: no cover - not on Linux or macOS
        return
    sock.settimeout(None)


class Link:
    """One thread's socket to Redis: set up by redis-py's connection class (URL, TCP_NODELAY, unix socket, TLS,
    AUTH, SELECT, timeouts), then spoken to directly: ``sendall`` the packed command, ``recv_into`` a buffer
    the reader parses. Subclasses: one per reader (``read_ready``), so reading has no branch on it."""

    __slots__ = ("__weakref__", "conn", "owed", "reader", "sock")
    reader: Any  # the reply reader of the subclass (hiredis's, or PyReader)

    def __init__(self, connection_class: Any, kwargs: dict[str, Any]) -> None:
        self.owed: collections.deque[Any] = collections.deque()  # commits sent ahead, replies not read (in order)
        self.conn = connection_class(**kwargs)
        self.conn.connect()  # redis-py disconnects again itself if its handshake fails
        self.sock: socket.socket = self.conn._sock  # redis-py read every reply of its handshake: none is buffered
        timeout = self.conn.socket_timeout
        if timeout and type(self.sock) is socket.socket:  # TCP or unix, not TLS: the kernel keeps the timeout
            os_timeout(self.sock, timeout)

    def round_trip(self, packed: bytes, hold: bool = True) -> Any:
        """Send one command, return its reply (an error reply raised as its redis-py exception). ``hold``: the
        first read may keep the GIL a while (a command that waits in Redis, ``BLOCKING``, passes False)."""
        if self.owed:
            self.settle_owed()  # the replies owed to commits sent ahead come first
        try:
            self.send(packed)
            reply = self.read_held() if hold else self.read_ready()
            while reply is _MORE:
                reply = self.read_ready()
            if isinstance(reply, _ERROR):  # an error reply (MaxClientsReachedError is a ConnectionError)
                raise reply
            return reply
        except redis.ResponseError:
            raise  # an error reply read whole: the socket is in step
        except BaseException as exc:
            error = self.failed(exc)
            if error is exc:
                raise
            raise error from exc

    def send_ahead(self, packed: bytes, pending: Any) -> None:
        """Send a command whose reply is read later (``settle_owed``), in order with any sent before it; the
        ``pending`` gets the reply (``pending.reply``), or the failure (``pending.failed``)."""
        try:
            self.send(packed)
        except BaseException as exc:
            error = self.failed(exc)
            raise (error if error is not exc else exc) from None
        self.owed.append(pending)

    def settle_owed(self, until: Any = None) -> None:
        """Read the replies owed to commits sent ahead (up to ``until``'s, or all), in order; each one's reply (an
        error reply as its exception, not raised) goes to its ``pending``. A failed read closes the socket: every
        reply still owed is lost with it (``pending.failed``; their commits are sent again, which the commit
        script's retry marker makes safe), and the failure is raised."""
        owed = self.owed
        while owed:
            pending = owed[0]
            try:
                reply = self.reader.gets()  # a reply that came in the same read as the one before
                if reply is _MORE:
                    reply = self.read_now()
                    while reply is _MORE:
                        reply = self.read_ready()
            except BaseException as exc:
                error = self.failed(exc)  # marks every reply still owed as lost
                raise error from None
            owed.popleft()
            pending.reply = reply
            if pending is until:
                return

    def send(self, packed: bytes) -> None:
        """All of ``packed`` onto the socket."""
        self.sock.sendall(packed)

    def read_now(self) -> Any:
        """Read a reply that has most likely come already (a commit's sent ahead): the next whole reply, or
        ``MORE``; blocks only if nothing has come."""
        return self.read_ready()

    def read_ready(self) -> Any:
        """Read what comes (a blocking socket: at least one byte; the event loop's: what polled readable): the next
        whole reply, or ``MORE``."""
        raise NotImplementedError

    def read_held(self) -> Any:
        """The first read of a reply in :meth:`round_trip`; a link that cannot keep the GIL reads as ``read_ready``."""
        return self.read_ready()

    def failed(self, exc: BaseException) -> BaseException:
        """Close the socket after a failed round trip; what to raise (socket errors as redis-py's)."""
        self.close()
        if isinstance(exc, (TimeoutError, BlockingIOError)):  # the read timeout (30 s) passed
            return redis.TimeoutError(f"Timeout reading from Redis: {exc}")
        if isinstance(exc, OSError):
            return redis.ConnectionError(f"Error talking to Redis: {exc}")
        return exc  # dropped, a protocol error, or interrupted mid-reply: never reuse a socket out of step

    def close(self) -> None:
        if self.owed:  # replies owed to commits sent ahead are lost with the socket
            lost = redis.ConnectionError("the connection to Redis closed before a commit's reply was read")
            for pending in self.owed:
                pending.failed = lost
            self.owed.clear()
        self.conn.disconnect()


class HiredisLink(Link):
    """Replies parsed by hiredis's C reader (redis-py's own, when installed), commands packed by its packer.
    On a plain TCP or unix socket the first read of a reply keeps the GIL a while (``HOLD_NS``)."""

    __slots__ = ("backoff", "hold_ns", "scratch", "scratch_at", "skip")

    def __init__(self, connection_class: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(connection_class, kwargs)
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=parse_error, notEnoughData=_MORE)
        self.scratch = bytearray(RECV_SIZE)
        held = _RECV_HELD is not None and type(self.sock) is socket.socket  # not TLS: its bytes need ssl's reads
        self.hold_ns = HOLD_NS if held else 0
        # where libc's recv writes: scratch's bytes (a bytearray never resized, so its address stays)
        self.scratch_at = ctypes.addressof((ctypes.c_char * RECV_SIZE).from_buffer(self.scratch)) if held else 0
        self.skip = 0  # round trips left that block at once (after a reply slower than the hold)
        self.backoff = 1  # how many the next slow reply makes block at once

    def read_held(self) -> Any:
        if not self.hold_ns or self.skip:
            if self.skip:
                self.skip -= 1
            return self.read_ready()
        fd = self.sock.fileno()
        end = time.perf_counter_ns() + self.hold_ns
        while True:
            got = _RECV_HELD(fd, self.scratch_at, RECV_SIZE, _DONTWAIT)
            if got > 0:
                self.backoff = 1
                self.reader.feed(self.scratch, 0, got)
                return self.reader.gets()
            if got < 0 and ctypes.get_errno() in _AGAIN:  # nothing yet
                if time.perf_counter_ns() < end:
                    continue
                self.skip = self.backoff  # slower than the hold: block, and hold less often
                self.backoff = min(self.backoff * 2, HOLD_BACKOFF_MAX)
            return self.read_ready()  # (closed or failed: read_ready raises it as a blocking read would)

    def send(self, packed: bytes) -> None:
        """With the GIL kept, as the reads (libc's ``send``, MSG_DONTWAIT: a command fits the socket's empty buffer):
        a ``sendall`` lets go of it, and under load the event loop's thread takes it for as long as it runs
        Python, so the request thread waits to send its commit. What did not fit goes by ``sendall``."""
        if not self.hold_ns or _SEND_HELD is None:  # TLS, or no MSG_NOSIGNAL (macOS)
            self.sock.sendall(packed)
            return
        sent = _SEND_HELD(self.sock.fileno(), packed, len(packed), _SEND_FLAGS)
        if sent == len(packed):
            return
        if sent < 0:
            err = ctypes.get_errno()
            if err not in _AGAIN:
                raise OSError(err, os.strerror(err))
            sent = 0
        self.sock.sendall(memoryview(packed)[sent:])

    def read_now(self) -> Any:
        if self.hold_ns:
            got = _RECV_HELD(self.sock.fileno(), self.scratch_at, RECV_SIZE, _DONTWAIT)
            if got > 0:
                self.reader.feed(self.scratch, 0, got)
                return self.reader.gets()
        return self.read_ready()  # nothing yet (or closed, or failed: read_ready raises it as a blocking read would)

    def read_ready(self) -> Any:
        got = self.sock.recv_into(self.scratch)
        if not got:
            raise redis.ConnectionError("Connection closed by server.")
        self.reader.feed(self.scratch, 0, got)
        return self.reader.gets()


class PyLink(Link):
    """Replies parsed by :class:`PyReader`, commands packed by :func:`pack`: no C extension needed."""

    def __init__(self, connection_class: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(connection_class, kwargs)
        self.reader = PyReader()

    def read_ready(self) -> Any:
        reader = self.reader
        got = self.sock.recv_into(reader.room())
        if not got:
            raise redis.ConnectionError("Connection closed by server.")
        reader.end += got
        return reader.gets()


class Wire:
    """Per-thread connections to one Redis, rebuilt in a forked child.

    ``reader``: "c" (hiredis) or "py" (:class:`PyReader`); by default hiredis when it is installed."""

    def __init__(self, client: redis.Redis, *, reader: str = "") -> None:
        self._redis = client
        if reader not in ("", "c", "py"):
            raise ValueError(f"reader must be 'c' or 'py', not {reader!r}")
        if reader == "c" and not HAVE_HIREDIS:
            raise ImportError("hiredis is not installed")
        use_c = reader == "c" or (not reader and HAVE_HIREDIS)
        self._link_class: type[Link] = HiredisLink if use_c else PyLink
        self._pack: Callable[[tuple[Any, ...]], bytes] = hiredis.pack_command if use_c else pack
        self.closing = threading.Event()  # set by close(): the watchdog stops
        self.stats: dict[str, float] = {"round_trips": 0, "blocks": 0, "held_s": 0.0, "waits": 0, "syncs": 0}
        self._moving = threading.Lock()
        self.reset_process()

    def reset_process(self) -> None:
        self.fork = Forks.count
        self._tl = threading.local()
        self._links: weakref.WeakSet[Link] = weakref.WeakSet()

    @property
    def closed(self) -> bool:
        return self.closing.is_set()

    def _connect(self) -> Link:
        """This thread's new socket (after none, a drop, or MOVED): to the node the pool's settings name now."""
        if self.closing.is_set():
            raise RuntimeError("RedisStore is closed")
        pool = self._redis.connection_pool
        with self._moving:
            kwargs = dict(pool.connection_kwargs)
        link = self._tl.link = self._link_class(pool.connection_class, kwargs)
        self._links.add(link)
        return link

    @property
    def connection_class(self) -> type[Any]:
        """redis-py's connection class for the URL (``SSLConnection`` for ``rediss://``)."""
        cls: type[Any] = self._redis.connection_pool.connection_class
        return cls

    def open_link(self, name: str = "") -> Link:
        """A connection of its own, bound to no thread (the event loop's, ``ahead.py``); the caller closes it.
        ``name``: its ``CLIENT SETNAME`` (what ``CLIENT LIST`` shows), sent in the handshake."""
        pool = self._redis.connection_pool
        with self._moving:
            kwargs = dict(pool.connection_kwargs)
        if name:
            kwargs["client_name"] = name
        return self._link_class(pool.connection_class, kwargs)

    def pack(self, *args: Any) -> bytes:
        """One command as it goes on the wire."""
        try:
            return self._pack(args)
        except TypeError:  # hiredis packs str, bytes, int, float; ours the rest (bool, bytearray...)
            return pack(args)

    def call(self, *args: Any, counted: bool = True, retry: bool = True) -> Any:
        """One command and its reply. A dropped connection is retried on a new one: every
        command sent here is safe to repeat (reads; scripts made idempotent by the lock token).
        ``counted``: a request's round trip (``stats``); the deferred-work thread's are not.
        ``retry=False``: a command bound to its connection (after ``WATCH`` or ``MULTI``, whose state a new
        connection would not have) raises the ``ConnectionError`` instead; the next call connects anew.

        On Redis Cluster a node that does not serve the keys' slot answers ``MOVED slot host:port``:
        every key of one store shares a hash tag (one slot), so the store moves to that node for good."""
        if self.fork != Forks.count:
            self.reset_process()
        if counted:
            self.stats["round_trips"] += 1
        try:
            packed = self._pack(args)
        except TypeError:  # hiredis packs str, bytes, int, float; ours the rest (bool, bytearray...)
            packed = pack(args)
        hold = args[0] not in BLOCKING
        for attempt in (1, 2, 3):
            try:
                return (getattr(self._tl, "link", None) or self._connect()).round_trip(packed, hold)
            except (redis.ConnectionError, redis.TimeoutError):
                self._tl.link = None  # closed by round_trip (or never opened): the next attempt connects anew
                if attempt == 3 or not retry or self.closing.is_set():  # closed under us: no new connection
                    raise
            except MovedError as exc:
                if attempt == 3:
                    raise
                self._move(exc.host, int(exc.port))
        raise AssertionError("unreachable")

    def _move(self, host: str, port: int) -> None:
        """Serve from the cluster node at ``host:port`` from now on (every thread's next connection goes there)."""
        with self._moving:
            kwargs = self._redis.connection_pool.connection_kwargs
            kwargs.update(host=host, port=port)  # other threads' connections get MOVED once too, then follow
        self._tl.link.close()
        self._tl.link = None

    def run(self, script: Script, keys: list[str], args: list[Any], *, counted: bool = True) -> Any:
        """Run a script by SHA; a server that does not know it yet gets it whole (a second round trip, once)."""
        try:
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args, counted=counted)
        except NoScriptError:
            return self.call("EVAL", script.source, len(keys), *keys, *args, counted=counted)

    def send_ahead(self, script: Script, keys: list[str], args: list[Any], pending: Any) -> None:
        """Send a script call on this thread's connection and return at once: its reply is read later
        (:meth:`settle`), or before this thread's next round trip, in order. Raises a ``ConnectionError`` when it
        could not be sent (nothing owed then)."""
        if self.fork != Forks.count:
            self.reset_process()
        self.stats["round_trips"] += 1
        packed = self.pack("EVALSHA", script.sha, len(keys), *keys, *args)
        link = getattr(self._tl, "link", None) or self._connect()
        try:
            link.send_ahead(packed, pending)
        except (redis.ConnectionError, redis.TimeoutError):
            self._tl.link = None
            raise

    def settle(self, pending: Any) -> None:
        """Read this thread's owed replies up to ``pending``'s (``pending.reply``); a connection that failed or
        was replaced meanwhile leaves ``pending.failed`` set instead."""
        if pending.reply is not None or pending.failed is not None:
            return
        link = getattr(self._tl, "link", None)
        if link is None or pending not in link.owed:
            pending.failed = redis.ConnectionError("the connection a commit was sent on is gone")
            return
        try:
            link.settle_owed(pending)
        except Exception:  # the socket is closed (settle_owed): pending.failed is set, as for every reply owed
            self._tl.link = None

    def close(self) -> None:
        self.closing.set()
        for link in list(self._links):
            link.close()
        self._redis.close()
        self._redis.connection_pool.disconnect()
