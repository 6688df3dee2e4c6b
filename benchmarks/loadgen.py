"""A bounded HTTP load generator that runs outside the server's process.

``wrk`` (Debian: ``apt-get install -y wrk``) is used when it is on PATH: it is a C
event loop that costs the 2-core machine least, so the server under test keeps
most of a core. POSTs go through a wrk Lua script. Without wrk, a Python
generator runs in separate processes (``multiprocessing``), each with keep-alive
``http.client`` connections in threads; it is slower, so its ceiling is lower and
its figures are labelled ``tool: python``.

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
from typing import Any
from urllib.parse import urlsplit

LUA = r"""
wrk.method = %(method)s
%(body)s
%(headers)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\nWRKJSON{\"requests\":%%d,\"duration_us\":%%d,\"bytes\":%%d,\"p50_us\":%%d,\"p90_us\":%%d,\"p99_us\":%%d," ..
    "\"max_us\":%%d,\"mean_us\":%%f,\"connect\":%%d,\"read\":%%d,\"write\":%%d,\"status\":%%d,\"timeout\":%%d}\n",
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


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

    Returns ``{tool, connections, requests, rps, p50_ms, p90_ms, p99_ms, max_ms, non2xx, errors}``.
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
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{secs}s", "--timeout", "10s", "-s", path, url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60, check=False)
    finally:
        os.unlink(path)
    marker = [line for line in out.stdout.splitlines() if line.startswith("WRKJSON")]
    if not marker:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    raw = json.loads(marker[-1].removeprefix("WRKJSON"))
    elapsed = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "tool": "wrk", "connections": connections, "duration_s": round(elapsed, 2), "requests": raw["requests"],
        "rps": round(raw["requests"] / elapsed, 1) if elapsed else 0.0,
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 3),
        "non2xx": raw["status"], "errors": errors,
    }


# -- the Python fallback ---------------------------------------------------
def _worker(url: str, method: str, headers: dict[str, str], body: str | None, threads: int, deadline: float,
            queue: Any) -> None:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = body.encode() if body is not None else None
    results: list[tuple[list[float], int, int, int]] = []
    lock = threading.Lock()

    def loop() -> None:
        lat: list[float] = []
        ok = non2xx = errors = 0
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.time() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request(method, target, body=data, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            lat.append(time.perf_counter() - t0)
            if 200 <= resp.status < 400:
                ok += 1
            else:
                non2xx += 1
        conn.close()
        with lock:
            results.append((lat, ok, non2xx, errors))

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    lat = [x for r in results for x in r[0]]
    queue.put((lat, sum(r[2] for r in results), sum(r[3] for r in results)))


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
    lat: list[float] = []
    non2xx = errors = 0
    for _ in procs:
        part, bad, err = queue.get(timeout=duration + 60)
        lat.extend(part)
        non2xx += bad
        errors += err
    for p in procs:
        p.join(timeout=10)
    lat.sort()
    elapsed = max(0.001, time.time() - start - 0.0)

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3) if lat else None

    return {
        "tool": "python", "connections": connections, "duration_s": round(elapsed, 2), "requests": len(lat),
        "rps": round(len(lat) / duration, 1), "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 3) if lat else None,
        "mean_ms": round(sum(lat) / len(lat) * 1000, 3) if lat else None, "non2xx": non2xx, "errors": errors,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--body")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    print(json.dumps(run(args.url, method=args.method, headers=headers, body=args.body,
                         connections=args.connections, duration=args.duration, tool=args.tool), indent=2))


if __name__ == "__main__":
    main()
