"""HTTP throughput and latency: the simulator on its production server against its ceiling and its peers.

Routes: GET /scheduler/available, GET /assets/{jobId}, POST /images/create, each at
16 keep-alive connections by default (``--connections 1,16,64`` for more), loaded by
``benchmarks/loadgen.py`` (wrk with one thread per connection, so every figure also says how
many of the connections got answers and the fewest answers any got: a fine p99 bought by
leaving connections unanswered shows there). Then the same c16 loads from real client
libraries (threads each with a ``requests.Session`` / ``httpx.Client``) against the simulator
and bare Flask: what a Python user's load test sees. Then a **self-check** of the starvation
count: bare Flask on granian with ``backpressure`` 8 under 16 connections must show starved
connections (it answers 8, the other 8 wait), or the count is not to be trusted.
The simulator and bare Flask are measured route by route, each on a fresh server, back to back, which goes
first alternating, ``--rounds`` (3) times: the machine's speed moves within a minute, and their ratio is the
median of the pairs (``paired`` in the results); each target's figure is its median round.
Targets, each in its own process, measured in the same run:

* ``simulator``  ``ltx-mock serve`` as a user starts it (waitress, 1 worker, 8 request threads
  unless ``--server/--threads`` say otherwise). The GETs run against a default
  server holding one completed job; POST runs against ``--speed 100000`` with the
  demo account at maxJobs 100 and 10^9 credits, so each job finishes within a
  millisecond and 429/402 cannot occur: every non-2xx answer is reported as such.
* ``bare``       a bare Flask app with the same routes answering fixed JSON (the
  documented examples), on the same server with the same options: the ceiling.
* ``wiremock``   WireMock 3 standalone with the same examples as stubs, its request journal on
  and capped at 10,000 like ours (the entry count is read back after the load), warmed up.
* ``prism``      Prism 5 mocking openapi.yaml (``benchmarks/peers.py``); not in the default
  targets (issue 17 has no Prism figure): ``--targets simulator,bare,wiremock,prism``.

    python -m benchmarks.http_bench [--duration 5] [--connections 16] [--targets simulator,bare,wiremock]
        [--libraries requests,httpx] [--no-self-check]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
from collections.abc import Iterator
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

CONNECTIONS = (16,)
POST_BODY = json.dumps({"prompt": "A serene mountain landscape at sunset"})
EXAMPLE_JOB = "email:user@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:video"
ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}", "POST /images/create")
TARGETS = ("simulator", "bare", "wiremock", "prism")
DEFAULT_TARGETS = ("simulator", "bare", "wiremock")


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


def bare_rsgi() -> Any:
    """Bare Flask behind the same RSGI front as the simulator on granian (bodies read in the event loop, the app
    in a pool of request + poll-wait threads): the same server and options."""
    from mock_server.rsgi import BufferedWsgi

    return BufferedWsgi(bare_app(), int(os.environ.get("LTX_BARE_THREADS", "40")), body_timeout_s=10.0,
                        max_body=20 * 1024 * 1024 + 1)


def serve_bare(port: int, server: str, threads: int, backpressure: int | None = None) -> None:
    """Serve ``bare_app`` exactly as ``mock_server.server.run`` serves the simulator (same server, same options).

    ``backpressure`` (granian only) overrides the connection cap: the starvation self-check sets it below the
    number of connections, as the simulator's granian set-up once did."""
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces

        from mock_server.server import granian_options

        options = granian_options(threads)
        if backpressure is not None:  # the starvation self-check: granian's WSGI threads, as the old set-up had
            options.update(backpressure=backpressure, blocking_threads=threads)
            Granian("benchmarks.http_bench:bare_app", address="127.0.0.1", port=port, interface=Interfaces.WSGI,
                    workers=1, factory=True, log_level="warning", **options).serve()
            return
        os.environ["LTX_BARE_THREADS"] = str(threads + 32)
        Granian("benchmarks.http_bench:bare_rsgi", address="127.0.0.1", port=port, interface=Interfaces.RSGI,
                workers=1, factory=True, log_level="warning", **options).serve()
    elif server == "waitress":
        import waitress

        from mock_server.server import Admission, bind, waitress_options

        waitress.create_server(Admission(bare_app(), threads), sockets=[bind("127.0.0.1", port)],
                               **waitress_options(threads, 32)).run()
    else:
        from werkzeug.serving import make_server

        make_server("127.0.0.1", port, bare_app(), threaded=True).serve_forever()


def bare_server(server: str, threads: int, backpressure: int | None = None) -> ServerProcess:
    port = free_port()
    argv = [PYTHON, "-m", "benchmarks.http_bench", "--serve-bare", str(port), "--server", server,
            "--threads", str(threads)]
    if backpressure is not None:
        argv += ["--backpressure", str(backpressure)]
    return ServerProcess(argv, port, name="bare")


def answered(res: dict[str, Any]) -> str:
    """``16/16 min 1,234`` (connections that got 2xx answers / connections, fewest answers on one), or ``-``."""
    if res.get("answered_connections") is None:
        return "-"
    return f"{res['answered_connections']}/{res['connections']} min {res['min_per_connection']:,}"


# -- measuring ---------------------------------------------------------------
def _request(route: str, base: str, job_path: str,
             headers: dict[str, str]) -> tuple[str, str, dict[str, str], str | None]:
    """(method, url, headers, body) of one benchmarked route against the API root ``base``."""
    method, path = route.split(" ", 1)
    url = base + (job_path if "{jobId}" in path else path)
    hdrs = dict(headers)
    body = None
    if method == "POST":
        hdrs["Content-Type"] = "application/json"
        body = POST_BODY
    return method, url, hdrs, body


def _measure(base: str, job_path: str, routes: list[str], duration: float, warmup: float,
             headers: dict[str, str], connections: tuple[int, ...] = CONNECTIONS) -> dict[str, dict[str, Any]]:
    """Every (route, connections) figure for one target whose API root is ``base``."""
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        method, url, hdrs, body = _request(route, base, job_path, headers)
        if warmup:
            loadgen.run(url, method=method, headers=hdrs, body=body, connections=16, duration=warmup)
        for conns in connections:
            res = loadgen.run(url, method=method, headers=hdrs, body=body, connections=conns, duration=duration)
            out[f"{route} c{conns}"] = {"route": route, "loadavg": list(os.getloadavg()), **res}
            emit(f"  {route:<28} c={conns:<3} {res['rps']:>9,.0f} req/s  p50 {res['p50_ms']:>7.2f} ms  "
                 f"p99 {res['p99_ms']:>7.2f} ms  non2xx {res['non2xx']}  errors {res['errors']}  "
                 f"answered {answered(res)}  load {os.getloadavg()[0]:.1f}")
    return out


def _measure_libraries(base: str, job_path: str, routes: list[str], duration: float, libraries: list[str],
                       headers: dict[str, str], connections: int = 16) -> dict[str, dict[str, Any]]:
    """The c16 loads again from Python client libraries (threads, one Session/Client each)."""
    out: dict[str, dict[str, Any]] = {}
    for library in libraries:
        for route in routes:
            method, url, hdrs, body = _request(route, base, job_path, headers)
            res = loadgen.run_library(url, library, method=method, headers=hdrs, body=body, connections=connections,
                                      duration=duration)
            out[f"{library} {route} c{connections}"] = {"route": route, "library": library,
                                                          "loadavg": list(os.getloadavg()), **res}
            emit(f"  {library:<8} {route:<28} c={connections:<3} {res['rps']:>7,.0f} req/s  "
                 f"p99 {res['p99_ms'] or 0:>7.2f} ms  non2xx {res['non2xx']}  errors {res['errors']}  "
                 f"answered {answered(res)}")
    return out


@contextlib.contextmanager
def _target(target: str, route: str, server: str, threads: int) -> Iterator[tuple[Any, str]]:
    """A fresh server of ``target`` (simulator or bare) ready for ``route``: (the server, its asset path)."""
    if target == "bare":
        with bare_server(server, threads) as srv:
            yield srv, f"/assets/{EXAMPLE_JOB}"
        return
    opts = ["--server", server, "--threads", str(threads)]
    if route.startswith("POST"):
        with simulator(*opts, "--speed", "100000", name="sim-post") as sim:
            admin(sim.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
            admin(sim.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
            yield sim, ""
        return
    with simulator(*opts, name="sim-get") as sim:
        created = loadgen_post_once(sim.url)
        admin(sim.url, "POST", "/clock", {"advance": 120})  # the job completes: its artifact is signed per GET
        yield sim, f"/assets/{created}"


def paired_rounds(duration: float, warmup: float, server: str, threads: int, connections: tuple[int, ...],
                  rounds: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The simulator and bare Flask, route by route, each on a fresh server, back to back, which goes first
    alternating (A B, B A, ...), ``rounds`` times: {target: {"<route> c<n>": [figures, round by round]}}.

    Why: the machine's speed moves by tens of percent within a minute. Measured one target's routes after the
    other's, minutes apart, a ratio said as much about the machine as about the simulator (the simulator's POST
    came out at 0.27 of bare Flask's in one run, 0.89 an hour before; its httpx clients meanwhile saw it answer
    more POSTs than bare Flask). The ratios are the medians of the pairs (:func:`pair_ratios`)."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {"simulator": {}, "bare": {}}
    turn = 0
    for i in range(max(1, rounds)):
        for route in ROUTES:
            order = ("simulator", "bare") if turn % 2 == 0 else ("bare", "simulator")
            turn += 1
            for target in order:
                emit(f"[http] round {i + 1}, {target}")
                with _target(target, route, server, threads) as (srv, job_path):
                    for key, figure in _measure(srv.url + API, job_path, [route], duration, warmup, AUTH,
                                                connections).items():
                        runs[target].setdefault(key, []).append(figure)
    return runs


def median_figure(taken: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose req/s is the median (of an even count, the lower middle): a whole figure, p99 and
    answered connections with it, as measured together."""
    ordered = sorted(taken, key=lambda f: f["rps"])
    return ordered[(len(ordered) - 1) // 2]


def pair_ratios(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Per route: the simulator's req/s over bare Flask's, round by round, and their median."""
    out: dict[str, dict[str, Any]] = {}
    for key, sims in runs.get("simulator", {}).items():
        each = [round(s["rps"] / b["rps"], 3) for s, b in zip(sims, runs.get("bare", {}).get(key, []), strict=False)
                if b["rps"]]
        if each:
            out[key] = {"rounds": each, "median": round(statistics.median(each), 3)}
    return out


def bench_simulator(duration: float, warmup: float, server: str, threads: int, connections: tuple[int, ...],
                    libraries: list[str], lib_duration: float, *, wrk: bool = True) -> dict[str, Any]:
    """``wrk``: False when the paired rounds measured its wrk figures (the client libraries and RSS only)."""
    opts = ["--server", server, "--threads", str(threads)]
    results: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    with simulator(*opts, name="sim-get") as sim:
        created = loadgen_post_once(sim.url)
        admin(sim.url, "POST", "/clock", {"advance": 120})  # the job completes: its artifact is signed per GET
        results["rss_mb_idle"] = sim.rss_mb()
        if wrk:
            figures = _measure(sim.url + API, f"/assets/{created}", list(ROUTES[:2]), duration, warmup, AUTH,
                               connections)
        libs = _measure_libraries(sim.url + API, f"/assets/{created}", list(ROUTES[:2]), lib_duration, libraries,
                                  AUTH)
        results["rss_mb_after_get"] = sim.rss_mb()
    with simulator(*opts, "--speed", "100000", name="sim-post") as sim:
        admin(sim.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
        admin(sim.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        if wrk:
            figures.update(_measure(sim.url + API, "", [ROUTES[2]], duration, warmup, AUTH, connections))
        libs.update(_measure_libraries(sim.url + API, "", [ROUTES[2]], lib_duration, libraries, AUTH))
        state = admin(sim.url, "GET", "/state")
        results["post_state_after"] = state["counts"]
        results["rss_mb_after_post"] = sim.rss_mb()
    results["figures"] = figures
    results["libraries"] = libs
    return results


def loadgen_post_once(url: str) -> str:
    import requests

    resp = requests.post(f"{url}{API}/images/create", headers=AUTH, json={"prompt": "benchmark"}, timeout=30)
    resp.raise_for_status()
    return resp.json()["jobId"]


def bench_bare(duration: float, warmup: float, server: str, threads: int, connections: tuple[int, ...],
               libraries: list[str], lib_duration: float, *, wrk: bool = True) -> dict[str, Any]:
    with bare_server(server, threads) as srv:
        return {"figures": _measure(srv.url + API, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration, warmup, AUTH,
                                    connections) if wrk else {},
                "libraries": _measure_libraries(srv.url + API, f"/assets/{EXAMPLE_JOB}", list(ROUTES),
                                                lib_duration, libraries, AUTH)}


def bench_prism(duration: float, warmup: float, binary: Any, connections: tuple[int, ...]) -> dict[str, Any]:
    with peers.prism_server(binary) as srv:
        return {"figures": _measure(srv.url, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration, warmup, AUTH,
                                    connections)}


def bench_wiremock(duration: float, warmup: float, jar: Any, connections: tuple[int, ...]) -> dict[str, Any]:
    with peers.wiremock_server(jar) as srv:
        # The JVM needs far more than a couple of seconds to JIT its hot paths: warm each route longer.
        figures = _measure(srv.url + API, f"/assets/{EXAMPLE_JOB}", list(ROUTES), duration, max(warmup, 5.0), AUTH,
                           connections)
        journal = peers.wiremock_journal(srv.url)
    state = "on, at its cap" if journal["at_cap"] else ("on, below its cap" if journal["on"] else "EMPTY: off?")
    emit(f"  WireMock request journal after the load: {journal['entries']:,} entries ({state} of "
         f"{journal['cap']:,})")
    return {"figures": figures, "journal": journal}


def starvation_self_check(duration: float, threads: int) -> dict[str, Any]:
    """Bare Flask on granian with ``backpressure`` 8 under 16 connections: granian serves 8 connections and
    leaves the rest waiting, so the per-connection count must report starved connections. If it does not,
    the "no connection starved" figures of this run are not to be trusted."""
    try:
        import granian  # noqa: F401
    except ImportError:
        return {"ok": None, "why": "granian not installed (pip install granian): self-check skipped"}
    with bare_server("granian", threads, backpressure=8) as srv:
        res = loadgen.run(f"{srv.url}{API}/scheduler/available", headers=AUTH, connections=16,
                          duration=max(1.0, duration))
    caught = bool(res.get("starved"))
    emit(f"  granian backpressure 8, 16 connections: {res['rps']:,.0f} req/s, p99 {res['p99_ms']:.2f} ms, answered "
         f"{answered(res)}, starved {res.get('starved')} -> the check {'CATCHES it' if caught else 'MISSES it'}")
    return {"ok": caught, "figure": res}


def ratios(results: dict[str, Any]) -> list[list[Any]]:
    """The simulator's rps and p99 against each other target, per route and concurrency."""
    sim = results.get("simulator", {}).get("figures", {})
    rows = []
    for key, s in sim.items():
        row: list[Any] = [key]
        for other in ("bare", "wiremock", "prism"):
            o = results.get(other, {}).get("figures", {}).get(key)
            row.append(round(s["rps"] / o["rps"], 2) if o and o["rps"] else None)
        for other in ("bare", "wiremock", "prism"):
            o = results.get(other, {}).get("figures", {}).get(key)
            row.append(round(s["p99_ms"] / o["p99_ms"], 2) if o and o["p99_ms"] else None)
        rows.append(row)
    return rows


def report(results: dict[str, Any]) -> str:
    targets = [t for t in TARGETS if t in results and "figures" in results[t]]
    keys = list(results[targets[0]]["figures"]) if targets else []
    rows = []
    for key in keys:
        for t in targets:
            f = results[t]["figures"].get(key)
            if f:
                rows.append([key, t, f["tool"], f["rps"], f["p50_ms"], f["p99_ms"], f["non2xx"] + f["errors"],
                             answered(f), f["loadavg"][0]])
    text = table("HTTP throughput (req/s) and latency (ms); answered = connections with 2xx answers, fewest on one",
                 ["route / connections", "target", "tool", "req/s", "p50", "p99", "non2xx+err", "answered", "load"],
                 rows)
    text += "\n\n" + table("Simulator relative to each target (req/s ratio: >1 is faster; p99 ratio: <1 is better)",
                           ["route / connections", "rps/bare", "rps/wiremock", "rps/prism", "p99/bare",
                            "p99/wiremock", "p99/prism"], ratios(results))
    lib_rows = []
    sim_libs = results.get("simulator", {}).get("libraries", {})
    bare_libs = results.get("bare", {}).get("libraries", {})
    for key, f in sim_libs.items():
        b = bare_libs.get(key)
        lib_rows.append([f["library"], f["route"], f["rps"], f["p99_ms"], answered(f), b["rps"] if b else None,
                         b["p99_ms"] if b else None, round(f["rps"] / b["rps"], 2) if b and b["rps"] else None])
    if lib_rows:
        text += "\n\n" + table("What Python clients see, c16 (threads, one Session/Client each; no targets)",
                               ["library", "route", "sim req/s", "sim p99", "sim answered", "bare req/s",
                                "bare p99", "sim/bare"], lib_rows)
    paired = results.get("paired") or {}
    if paired:
        text += "\n\n" + table("Simulator / bare Flask, route by route, back to back (alternating which goes first)",
                               ["route / connections", "median", "rounds"],
                               [[key, p["median"], ", ".join(f"{r:.2f}" for r in p["rounds"])]
                                for key, p in paired.items()])
    check = results.get("self_check")
    if check:
        if check.get("ok") is None:
            text += f"\nstarvation self-check: {check.get('why')}"
        else:
            f = check["figure"]
            verdict = "caught" if check["ok"] else "NOT caught: the answered counts are suspect"
            text += (f"\nstarvation self-check (bare Flask, granian backpressure 8, c16): answered {answered(f)}, "
                     f"starved {f['starved']}: {verdict}")
    for name, why in results.get("skipped", {}).items():
        text += f"\n{name}: skipped ({why})"
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per route")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help=f"any of {','.join(TARGETS)}")
    parser.add_argument("--connections", default=",".join(str(c) for c in CONNECTIONS))
    parser.add_argument("--libraries", default=",".join(loadgen.LIBRARIES),
                        help="client libraries to load the simulator and bare Flask with ('' for none)")
    parser.add_argument("--lib-duration", type=float, default=3.0, help="seconds per client-library measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the simulator and bare Flask measured route by route, back to back, this many times "
                             "(their ratios are the medians of the pairs)")
    parser.add_argument("--no-self-check", action="store_true", help="skip the starvation self-check")
    parser.add_argument("--server", default="granian", choices=("waitress", "granian", "werkzeug"))
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backpressure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare(args.serve_bare, args.server, args.threads, args.backpressure)
        sys.exit(0)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    connections = tuple(int(c) for c in args.connections.split(",") if c.strip())
    libraries = [lib.strip() for lib in args.libraries.split(",") if lib.strip()]
    missing = [lib for lib in libraries if not loadgen.have_library(lib)]
    libraries = [lib for lib in libraries if lib not in missing]
    results: dict[str, Any] = {"config": {"duration_s": args.duration, "warmup_s": args.warmup,
                                          "server": args.server, "threads": args.threads,
                                          "connections": connections, "libraries": libraries,
                                          "loadgen": "wrk -t<c> -c<c>" if loadgen.have_wrk() else "python",
                                          "post_mode": "speed 100000, maxJobs 100, 10^9 credits: no 429/402"},
                               "skipped": {f"library {lib}": "not installed" for lib in missing}}
    found, skipped = peers.install() if {"prism", "wiremock"} & set(targets) else ({}, {})
    runs = None
    if {"simulator", "bare"} <= set(targets):
        runs = paired_rounds(args.duration, args.warmup, args.server, args.threads, connections, args.rounds)
        results["paired"] = pair_ratios(runs)
    for target in targets:
        emit(f"[http] {target}")
        if target == "simulator":
            results[target] = bench_simulator(args.duration, args.warmup, args.server, args.threads, connections,
                                              libraries, args.lib_duration, wrk=runs is None)
        elif target == "bare":
            results[target] = bench_bare(args.duration, args.warmup, args.server, args.threads, connections,
                                         libraries, args.lib_duration, wrk=runs is None)
        elif target in ("prism", "wiremock"):
            if target not in found:
                results["skipped"][target] = skipped.get(target, "not installed")
                emit(f"  skipped: {results['skipped'][target]}")
                continue
            fn = bench_prism if target == "prism" else bench_wiremock
            try:
                results[target] = fn(args.duration, args.warmup, found[target], connections)
            except RuntimeError as exc:
                results["skipped"][target] = f"failed to start: {exc}"[:500]
                emit(f"  skipped: {results['skipped'][target]}")
    if runs is not None:  # the wrk figures of the paired rounds: each route's median round
        for target, by_key in runs.items():
            results[target]["figures"] = {key: median_figure(taken) for key, taken in by_key.items()}
            results[target]["rounds"] = {key: [f["rps"] for f in taken] for key, taken in by_key.items()}
    if not args.no_self_check:
        emit("[http] starvation self-check")
        results["self_check"] = starvation_self_check(min(args.duration, 2.0), args.threads)
    results["ratios"] = ratios(results)
    path = write_results("http", results)
    emit(report(results))
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
