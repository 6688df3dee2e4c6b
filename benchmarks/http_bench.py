"""HTTP throughput and latency: the simulator on its production server against its ceiling and its peers.

Routes: GET /scheduler/available, GET /assets/{jobId}, POST /images/create, each at
1, 16 and 64 keep-alive connections (``benchmarks/loadgen.py``: wrk when present).
Targets, each in its own process, measured in the same run:

* ``simulator``  ``ltx-mock serve`` as a user starts it (waitress, 1 worker, 8 request threads
  unless ``--server/--threads`` say otherwise). The GETs run against a default
  server holding one completed job; POST runs against ``--speed 100000`` with the
  demo account at maxJobs 100 and 10^9 credits, so each job finishes within a
  millisecond and 429/402 cannot occur: every non-2xx answer is reported as such.
* ``bare``       a bare Flask app with the same routes answering fixed JSON (the
  documented examples), on the same server with the same options: the ceiling.
* ``prism``      Prism 5 mocking openapi.yaml (``benchmarks/peers.py``).
* ``wiremock``   WireMock 3 standalone with the same examples as stubs, warmed up.

    python -m benchmarks.http_bench [--duration 5] [--targets simulator,bare,prism,wiremock]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from benchmarks import (
    API,
    AUTH,
    DEMO_EMAIL,
    DEMO_TOKEN,
    PYTHON,
    ServerProcess,
    admin,
    emit,
    free_port,
    loadgen,
    peers,
    simulator,
    table,
    write_results,
)

CONNECTIONS = (1, 16, 64)
POST_BODY = json.dumps({"prompt": "A serene mountain landscape at sunset"})
EXAMPLE_JOB = "email:user@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:video"
ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create")
TARGETS = ("simulator", "bare", "prism", "wiremock")


# -- the ceiling: bare Flask, same routes, fixed JSON ------------------------
def bare_app() -> Any:
    """Flask with the three routes answering the documented examples: no validation, no state, no journal."""
    from flask import Flask, Response, request

    app = Flask("bare")
    available = json.dumps(peers.example("getSchedulerAvailable"), separators=(",", ":"))
    job = json.dumps(peers.example("getJob"), separators=(",", ":"))
    started = json.dumps(peers.example("createImage"), separators=(",", ":"))

    @app.get(f"{API}/scheduler/available")
    def scheduler_available() -> Response:
        return Response(available, mimetype="application/json")

    @app.get(f"{API}/assets/<path:job_id>")
    def get_job(job_id: str) -> Response:
        return Response(job, mimetype="application/json")

    @app.post(f"{API}/images/create")
    def create_image() -> Response:
        request.get_json(silent=True)
        return Response(started, mimetype="application/json")

    @app.get("/__admin/state")
    def ready() -> Response:
        return Response("{}", mimetype="application/json")

    return app


def serve_bare(port: int, server: str, threads: int) -> None:
    """Serve ``bare_app`` exactly as ``mock_server.server.run`` serves the simulator (same server, same options)."""
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from ltxstudio_mock.mock_server.server import granian_options

        Granian("benchmarks.http_bench:bare_app", address="127.0.0.1", port=port, interface=Interfaces.WSGI,
                workers=1, factory=True, log_level="warning", **granian_options(threads)).serve()
    elif server == "waitress":
        import waitress
        from ltxstudio_mock.mock_server.server import Admission, bind, waitress_options

        waitress.create_server(Admission(bare_app(), threads), sockets=[bind("127.0.0.1", port)],
                               **waitress_options(threads, 32)).run()
    else:
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, bare_app(), threaded=True).serve_forever()


def bare_server(server: str, threads: int) -> ServerProcess:
    port = free_port()
    argv = [PYTHON, "-m", "benchmarks.http_bench", "--serve-bare", str(port), "--server", server,
            "--threads", str(threads)]
    return ServerProcess(argv, port, name="bare")


# -- measuring ---------------------------------------------------------------
def _measure(base: str, job_path: str, routes: list[str], duration: float, warmup: float,
             headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every (route, connections) figure for one target whose API root is ``base``."""
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        method, path = route.split(" ", 1)
        url = base + (job_path if "{jobId}" in path else path)
        hdrs = dict(headers)
        body = None
        if method == "POST":
            hdrs["Content-Type"] = "application/json"
            body = POST_BODY
        if warmup:
            loadgen.run(url, method=method, headers=hdrs, body=body, connections=16, duration=warmup)
        for conns in CONNECTIONS:
            res = loadgen.run(url, method=method, headers=hdrs, body=body, connections=conns, duration=duration)
            out[f"{route} c{conns}"] = {"route": route, **res}
            emit(f"  {route:<28} c={conns:<3} {res['rps']:>9,.0f} req/s  p50 {res['p50_ms']:>7.2f} ms  "
                 f"p99 {res['p99_ms']:>7.2f} ms  non2xx {res['non2xx']}  errors {res['errors']}")
    return out


def bench_simulator(duration: float, warmup: float, server: str, threads: int) -> dict[str, Any]:
    opts = ["--server", server, "--threads", str(threads)]
    results: dict[str, Any] = {}
    with simulator(*opts, name="sim-get") as sim:
        created = loadgen_post_once(sim.url)
        admin(sim.url, "POST", "/clock", {"advance": 120})  # the job completes: its artifact is signed per GET
        results["rss_mb_idle"] = sim.rss_mb()
        figures = _measure(sim.url + API, f"/assets/{created}", list(ROUTES[:2]), duration, warmup, AUTH)
        results["rss_mb_after_get"] = sim.rss_mb()
    with simulator(*opts, "--speed", "100000", name="sim-post") as sim:
        admin(sim.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
        admin(sim.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        figures.update(_measure(sim.url + API, "", [ROUTES[2]], duration, warmup, AUTH))
        state = admin(sim.url, "GET", "/state")
        results["post_state_after"] = state["counts"]
        results["rss_mb_after_post"] = sim.rss_mb()
    results["figures"] = figures
    return results


def loadgen_post_once(url: str) -> str:
    import requests

    resp = requests.post(f"{url}{API}/images/create", headers=AUTH, json={"prompt": "benchmark"}, timeout=30)
    resp.raise_for_status()
    return resp.json()["jobId"]


def bench_bare(duration: float, warmup: float, server: str, threads: int) -> dict[str, Any]:
    with bare_server(server, threads) as srv:
        return {"figures": _measure(srv.url + API, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration, warmup, AUTH)}


def bench_prism(duration: float, warmup: float, binary: Any) -> dict[str, Any]:
    with peers.prism_server(binary) as srv:
        return {"figures": _measure(srv.url, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration, warmup, AUTH)}


def bench_wiremock(duration: float, warmup: float, jar: Any) -> dict[str, Any]:
    with peers.wiremock_server(jar) as srv:
        # The JVM needs far more than a couple of seconds to JIT its hot paths: warm each route longer.
        return {"figures": _measure(srv.url + API, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration,
                                    max(warmup, 5.0), AUTH)}


def ratios(results: dict[str, Any]) -> list[list[Any]]:
    """The simulator's rps and p99 against each other target, per route and concurrency."""
    sim = results.get("simulator", {}).get("figures", {})
    rows = []
    for key, s in sim.items():
        row: list[Any] = [key]
        for other in ("bare", "prism", "wiremock"):
            o = results.get(other, {}).get("figures", {}).get(key)
            row.append(round(s["rps"] / o["rps"], 2) if o and o["rps"] else None)
        for other in ("bare", "prism", "wiremock"):
            o = results.get(other, {}).get("figures", {}).get(key)
            row.append(round(s["p99_ms"] / o["p99_ms"], 2) if o and o["p99_ms"] else None)
        rows.append(row)
    return rows


def report(results: dict[str, Any]) -> str:
    targets = [t for t in TARGETS if t in results and "figures" in results[t]]
    keys = list(results[targets[0]]["figures"]) if targets else []
    rows = []
    for key in keys:
        row: list[Any] = [key]
        for t in targets:
            f = results[t]["figures"].get(key)
            row += [f["rps"], f["p50_ms"], f["p99_ms"]] if f else [None, None, None]
        rows.append(row)
    headers = ["route / connections"] + [f"{t} {m}" for t in targets for m in ("req/s", "p50", "p99")]
    text = table("HTTP throughput (req/s) and latency (ms)", headers, rows)
    text += "\n\n" + table("Simulator relative to each target (req/s ratio: >1 is faster; p99 ratio: <1 is better)",
                           ["route / connections", "rps/bare", "rps/prism", "rps/wiremock", "p99/bare",
                            "p99/prism", "p99/wiremock"], ratios(results))
    for name, why in results.get("skipped", {}).items():
        text += f"\n{name}: skipped ({why})"
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per route")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--server", default="waitress", choices=("waitress", "granian", "werkzeug"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.server, args.threads)
        sys.exit(0)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    results: dict[str, Any] = {"config": {"duration_s": args.duration, "warmup_s": args.warmup,
                                          "server": args.server, "threads": args.threads,
                                          "loadgen": "wrk -t1" if loadgen.have_wrk() else "python",
                                          "post_mode": "speed 100000, maxJobs 100, 10^9 credits: no 429/402"},
                               "skipped": {}}
    found, skipped = peers.install() if {"prism", "wiremock"} & set(targets) else ({}, {})
    for target in targets:
        emit(f"[http] {target}")
        if target == "simulator":
            results[target] = bench_simulator(args.duration, args.warmup, args.server, args.threads)
        elif target == "bare":
            results[target] = bench_bare(args.duration, args.warmup, args.server, args.threads)
        elif target in ("prism", "wiremock"):
            if target not in found:
                results["skipped"][target] = skipped.get(target, "not installed")
                emit(f"  skipped: {results['skipped'][target]}")
                continue
            fn = bench_prism if target == "prism" else bench_wiremock
            try:
                results[target] = fn(args.duration, args.warmup, found[target])
            except RuntimeError as exc:
                results["skipped"][target] = f"failed to start: {exc}"[:500]
                emit(f"  skipped: {results['skipped'][target]}")
    results["ratios"] = ratios(results)
    path = write_results("http", results)
    emit(report(results))
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
