"""A bounded HTTP load generator that runs outside the server's process.

``wrk`` (Debian: ``apt-get install -y wrk``) is used when it is on PATH: it is a C
event loop that costs the 2-core machine least, so the server under test keeps
most of a core. POSTs go through a wrk Lua script. Without wrk, a Python
generator runs in separate processes (``multiprocessing``), each with keep-alive
``http.client`` connections in threads; it is slower, so its ceiling is lower and
its figures are labelled ``tool: python``.

**Starved connections.** Total req/s and percentiles hide a server that answers some
connections and leaves others waiting (granian with ``backpressure`` below the number of
connections: wrk reports a fine p99 over the connections that were served). So every run
also counts the 2xx/3xx answers *per connection*: wrk runs with one thread per connection
(``-t`` = ``-c``; each wrk thread has its own Lua state, whose ``response()`` counts and whose
count the main state collects in ``done()`` through ``thread:get``), the Python generators keep
one counter per connection. A connection is **starved** when it got fewer than
``STARVED_FRACTION`` of the mean answers per connection (zero included).
``tests/test_bench_loadgen.py`` shows the check failing on a server that never answers some
connections.

``run_library`` measures what a user's code sees: threads each with its own
``requests.Session`` (or ``httpx.Client``), one keep-alive connection per thread.

Every run is bounded by ``duration`` seconds and targets loopback only.

    python -m benchmarks.loadgen http://127.0.0.1:8787/v1/ltxstudio/scheduler/available \\
        -c 16 -d 5 -H 'Authorization: Bearer demo-token'
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

STARVED_FRACTION = 0.1  # a connection with fewer answers than this share of the mean is starved
MAX_WRK_THREADS = 64  # one wrk thread per connection up to this; above it, per-connection counts are not taken

# Each wrk thread runs this script in its own Lua state: ``answered``/``ok`` are that thread's (= that
# connection's, with -t = -c) counters. ``setup`` and ``done`` run in the main state, which keeps the
# thread objects and reads each thread's counters with ``thread:get`` once the load has stopped.
LUA = r"""
wrk.method = %(method)s
%(body)s
%(headers)s
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
answered = 0
ok = 0
function response(status, headers, body)
  answered = answered + 1
  if status < 400 then ok = ok + 1 end
end
function done(summary, latency, requests)
  local e = summary.errors
  local per = {}
  local per_any = {}
  for i, t in ipairs(threads) do
    per[i] = tostring(t:get("ok"))
    per_any[i] = tostring(t:get("answered"))
  end
  io.write(string.format(
    "\nWRKJSON{\"requests\":%%d,\"duration_us\":%%d,\"bytes\":%%d,\"p50_us\":%%d,\"p90_us\":%%d,\"p99_us\":%%d," ..
    "\"max_us\":%%d,\"mean_us\":%%f,\"connect\":%%d,\"read\":%%d,\"write\":%%d,\"status\":%%d,\"timeout\":%%d," ..
    "\"per_thread_ok\":[%%s],\"per_thread_answered\":[%%s]}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(per, ","), table.concat(per_any, ",")))
end
"""


def fairness(per_connection: Sequence[int] | None) -> dict[str, Any]:
    """Per-connection answer counts summarised: how many connections got any answer, the least any got,
    and how many are starved (below ``STARVED_FRACTION`` of the mean). ``None``: not measured."""
    if per_connection is None:
        return {"per_connection": None, "answered_connections": None, "min_per_connection": None,
                "starved": None}
    counts = list(per_connection)
    mean = sum(counts) / len(counts) if counts else 0.0
    return {"per_connection": counts, "answered_connections": sum(1 for c in counts if c > 0),
            "min_per_connection": min(counts) if counts else 0,
            "starved": sum(1 for c in counts if c == 0 or c < STARVED_FRACTION * mean)}


def _lua_str(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for our ASCII payloads


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(f"load generation targets loopback only, not {host}")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: str | None = None,
        connections: int = 16, duration: float = 5.0, tool: str = "auto") -> dict[str, Any]:
    """Load ``url`` for ``duration`` seconds over ``connections`` keep-alive connections.

    Returns ``{tool, connections, requests, rps, p50_ms, p90_ms, p99_ms, max_ms, non2xx, errors}`` and the
    per-connection figures of :func:`fairness` (``per_connection``: 2xx/3xx answers on each connection).
    ``non2xx`` counts answers outside 2xx/3xx (the benchmarks decide whether those are valid).
    """
    _check_loopback(url)
    if tool == "wrk" or (tool == "auto" and have_wrk()):
        return _run_wrk(url, method, headers or {}, body, connections, duration)
    return _run_python(url, method, headers or {}, body, connections, duration)


# -- wrk -------------------------------------------------------------------
def _run_wrk(url: str, method: str, headers: dict[str, str], body: str | None, connections: int,
             duration: float) -> dict[str, Any]:
    script = LUA % {
        "method": _lua_str(method),
        "body": f"wrk.body = {_lua_str(body)}" if body is not None else "",
        "headers": "\n".join(f"wrk.headers[{_lua_str(k)}] = {_lua_str(v)}" for k, v in headers.items()),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
        path = fh.name
    try:
        secs = max(1, round(duration))
        threads = connections if connections <= MAX_WRK_THREADS else 1  # -t = -c: one connection per thread
        argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{secs}s", "--timeout", "10s", "-s", path, url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60, check=False)
    finally:
        os.unlink(path)
    marker = [line for line in out.stdout.splitlines() if line.startswith("WRKJSON")]
    if not marker:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(marker[-1].removeprefix("WRKJSON"))
    elapsed = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    per = raw["per_thread_ok"] if threads == connections else None
    return {
        "tool": f"wrk -t{threads}", "connections": connections, "duration_s": round(elapsed, 2),
        "requests": raw["requests"], "rps": round(raw["requests"] / elapsed, 1) if elapsed else 0.0,
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 3),
        "non2xx": raw["status"], "errors": errors, **fairness(per),
    }


# -- the Python fallback ---------------------------------------------------
def _connection_loop(url: str, method: str, headers: dict[str, str], body: str | None, deadline: float,
                     out: list[tuple[list[float], int, int, int]], lock: threading.Lock) -> None:
    """One keep-alive ``http.client`` connection loading ``url`` until ``deadline``; appends its own figures."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = body.encode() if body is not None else None
    lat: list[float] = []
    ok = non2xx = errors = 0
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=max(0.1, deadline - time.time()))
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            if conn.sock is not None:  # a connection left unanswered gives up at the deadline, not later
                conn.sock.settimeout(max(0.05, deadline - time.time()))
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=max(0.1, deadline - time.time()))
            continue
        lat.append(time.perf_counter() - t0)
        if 200 <= resp.status < 400:
            ok += 1
        else:
            non2xx += 1
    conn.close()
    with lock:
        out.append((lat, ok, non2xx, errors))


def _worker(url: str, method: str, headers: dict[str, str], body: str | None, threads: int, deadline: float,
            queue: Any) -> None:
    results: list[tuple[list[float], int, int, int]] = []
    lock = threading.Lock()
    pool = [threading.Thread(target=_connection_loop, args=(url, method, headers, body, deadline, results, lock))
            for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put(results)


def _summarise(tool: str, connections: int, duration: float,
               per_conn: list[tuple[list[float], int, int, int]]) -> dict[str, Any]:
    """One figure from each connection's (latencies, ok, non-2xx, errors)."""
    lat = sorted(x for r in per_conn for x in r[0])

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3) if lat else None

    return {
        "tool": tool, "connections": connections, "duration_s": round(duration, 2), "requests": len(lat),
        "rps": round(len(lat) / duration, 1), "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 3) if lat else None,
        "mean_ms": round(sum(lat) / len(lat) * 1000, 3) if lat else None,
        "non2xx": sum(r[2] for r in per_conn), "errors": sum(r[3] for r in per_conn),
        **fairness([r[1] for r in per_conn]),
    }


def _run_python(url: str, method: str, headers: dict[str, str], body: str | None, connections: int,
                duration: float) -> dict[str, Any]:
    procs_n = max(1, min(connections, os.cpu_count() or 1))
    split = [connections // procs_n + (1 if i < connections % procs_n else 0) for i in range(procs_n)]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 0.5  # let every process spawn before the clock starts
    deadline = start + duration
    procs = [ctx.Process(target=_worker, args=(url, method, headers, body, n, deadline, queue)) for n in split]
    for p in procs:
        p.start()
    per_conn: list[tuple[list[float], int, int, int]] = []
    for _ in procs:
        per_conn.extend(queue.get(timeout=duration + 60))
    for p in procs:
        p.join(timeout=10)
    return _summarise("python", connections, duration, per_conn)


# -- real client libraries ---------------------------------------------------
LIBRARIES = ("requests", "httpx")


def have_library(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def run_library(url: str, library: str = "requests", *, method: str = "GET", headers: dict[str, str] | None = None,
                body: str | None = None, connections: int = 16, duration: float = 3.0,
                timeout: float = 10.0) -> dict[str, Any]:
    """``connections`` threads in this process, each with its own ``requests.Session`` / ``httpx.Client`` (one
    keep-alive connection each), calling ``url`` until ``duration`` has passed: the throughput and latency a
    Python user's code sees (its own CPU and GIL included), with the per-connection counts of ``run``."""
    _check_loopback(url)
    hdrs = dict(headers or {})
    data = body.encode() if body is not None else None
    results: list[tuple[list[float], int, int, int]] = []
    lock = threading.Lock()

    def make_client() -> Any:
        if library == "httpx":
            import httpx

            return httpx.Client(timeout=timeout)
        import requests

        return requests.Session()

    clients = [make_client() for _ in range(connections)]  # built first: an httpx.Client costs milliseconds
    window = [0.0]

    def open_window() -> None:
        window[0] = time.time() + duration

    # The timed window opens once every thread is running (on a busy machine starting 16 threads can take longer
    # than a short window), and every connection sends at least one request: a connection that never asked
    # cannot tell whether the server would have answered it.
    ready = threading.Barrier(connections, action=open_window)

    def loop(client: Any) -> None:
        lat: list[float] = []
        ok = non2xx = errors = 0
        ready.wait()
        deadline = window[0]
        try:
            first = True
            while first or time.time() < deadline:
                first = False
                t0 = time.perf_counter()
                try:
                    if library == "httpx":
                        resp = client.request(method, url, headers=hdrs, content=data)
                    else:
                        resp = client.request(method, url, headers=hdrs, data=data, timeout=timeout)
                except Exception:  # any client error counts as an error; the load goes on
                    errors += 1
                    continue
                lat.append(time.perf_counter() - t0)
                if 200 <= resp.status_code < 400:
                    ok += 1
                else:
                    non2xx += 1
        finally:
            client.close()
        with lock:
            results.append((lat, ok, non2xx, errors))

    pool = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=duration + timeout + 5)
    return _summarise(library, connections, duration, results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--body")
    parser.add_argument("--tool", choices=("auto", "wrk", "python", *LIBRARIES), default="auto")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    if args.tool in LIBRARIES:
        res = run_library(args.url, args.tool, method=args.method, headers=headers, body=args.body,
                          connections=args.connections, duration=args.duration)
    else:
        res = run(args.url, method=args.method, headers=headers, body=args.body, connections=args.connections,
                  duration=args.duration, tool=args.tool)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
