"""What the access log and the metrics cost: the same simulator with both off, each alone, and both on.

Four ``ltx-mock serve`` processes (granian, the default server) run at once, identical but for
``--no-metrics`` / ``--access-log FILE``; each route is measured on each of them in turn, ``--rounds`` times,
alternately (so a burst of load on this shared machine falls on all four alike), and each keeps its best round.
Reported as req/s and p99 per configuration and the ratio against ``off`` measured in the same run; the target
(issue 27): both on >= 0.90 of off. Beside it, each server's CPU per request served (its process and granian's
worker, from ``/proc``; best round): on a loaded machine req/s moves with what else runs, the CPU a request costs
much less, and ``off / this`` of it is the throughput ratio the server would reach where CPU is the limit.

Routes: ``GET /scheduler/available`` and ``POST /images/create`` (``--speed 100000``, maxJobs 100, 10^9
credits: jobs end within a millisecond of real time, so a loaded machine does not fill maxJobs and answer 429s; a
fresh LTX session before each measurement, since the simulated 90-day session passes in 78 s of real time here; at
``--speed 1000000`` it passed in 8 s and every POST measured after it was the 400 "session expired"),
at 16 keep-alive connections (``benchmarks/loadgen.py``). The access log goes to a
file in a temporary directory, plain format (json costs about the same: its parts are encoded once and reused).

First, the same four configurations without a server, side by side in one child process: the CPU time one request
takes through the app's WSGI callable, median and best of 30 rounds of 500 requests that alternate the
configurations. The process's CPU (``time.process_time``, every thread), and each round ends by doing what
``observe`` queued (the access log's lines written, the metrics' queue folded), so the work moved off the request
thread is counted. Then the ``observe`` step alone, the same tuple of a GET's figures each call: what the request
thread pays (``thread_time``) and what it costs with the queue's work done (in this thread). On a busy shared machine
this is the steadier figure (a server's req/s there moves by +-30% between rounds). Both sections run the
default single worker (metrics queued and folded in the process; ``--workers N`` writes them through to
prometheus-client's memory-mapped multiprocess files instead, ~5 us a request).

    python -m benchmarks.observe_bench [--duration 3] [--warmup 1] [--rounds 3] [--connections 16] [--cpu-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import (
    API,
    AUTH,
    DEMO_EMAIL,
    DEMO_TOKEN,
    admin,
    cpu_seconds,
    emit,
    loadgen,
    simulator,
    table,
    tree_pids,
    write_results,
)
from benchmarks.http_bench import POST_BODY

CONFIGS = ("off", "metrics", "access log", "both")
ROUTES = ("GET /scheduler/available", "POST /images/create")
SPEED = 100_000  # the simulated clock's speed: a job ends within a millisecond, a 90-day session lasts 78 s
TARGET = 0.90


def _flags(config: str, log: Path) -> list[str]:
    out = []
    if config in ("off", "access log"):
        out.append("--no-metrics")
    if config in ("access log", "both"):
        out += ["--access-log", str(log)]
    return out


def _load(url: str, route: str, connections: int, duration: float) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    headers = dict(AUTH)
    body = None
    if method == "POST":
        headers["Content-Type"] = "application/json"
        body = POST_BODY
    return loadgen.run(url + API + path, method=method, headers=headers, body=body, connections=connections,
                       duration=duration)


def cpu_per_request(rounds: int = 30, n: int = 500) -> dict[str, dict[str, dict[str, float]]]:
    """Microseconds of CPU per request through the app (no server): ``{config: {route: {"best", "median"}}}``.

    One child process (one worker's environment: prometheus-client picks its mode at import) builds the four
    configurations' apps side by side and runs ``rounds`` rounds of ``n`` requests on each, the configurations
    taking turns in alternating order: a burst of load on a shared machine falls on all alike, and one process
    means one memory layout (a process per configuration moved its figures by +-15% from run to run)."""
    import json
    import subprocess
    import sys

    with tempfile.TemporaryDirectory(prefix="observe-cpu-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}  # as one worker runs
        code = f"from benchmarks.observe_bench import _cpu_child; _cpu_child({rounds}, {n}, {tmp!r})"
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    out: dict[str, dict[str, dict[str, float]]] = json.loads(res.stdout.splitlines()[-1])
    return out


def _cpu_child(rounds: int, n: int, tmp: str) -> None:
    import io
    import json
    import statistics
    import time

    from werkzeug.test import EnvironBuilder

    from mock_server.app import create_app
    from mock_server.config import SimConfig

    statuses: list[str] = []

    def start_response(status: str, *args: Any) -> None:
        statuses.append(status)

    apps = {}
    for i, config in enumerate(CONFIGS):
        app = create_app(SimConfig(background=False, speed=SPEED, metrics=config in ("metrics", "both"),
                                   access_log=f"{tmp}/access-{i}.log" if config in ("access log", "both") else None))
        admin_call = app.test_client()
        admin_call.patch(f"/__admin/accounts/{DEMO_EMAIL}", json={"token": DEMO_TOKEN, "maxJobs": 100})
        admin_call.patch(f"/__admin/ltx-users/{DEMO_EMAIL}", json={"credits": 10**9})
        apps[config] = app

    def one_round(app: Any, base: dict[str, Any], body: bytes, count: int) -> float:
        """CPU seconds per request of ``count`` requests, every thread's, the queued work done at the end."""
        observe = app.extensions["ltx_observer"]
        app.test_client().patch(f"/__admin/ltx-users/{DEMO_EMAIL}", json={"newSession": True})
        statuses.clear()
        t0 = time.process_time()
        for _ in range(count):
            environ = dict(base)
            environ["wsgi.input"] = io.BytesIO(body)
            for _ in app(environ, start_response):
                pass
        if observe is not None:  # the queued work, done now: the access log's lines written, the counts folded
            observe.flush()
            if observe.metrics is not None and observe.metrics.counts is not None:
                observe.metrics.counts.fold()
        took = (time.process_time() - t0) / count
        failed = [x for x in statuses if not x.startswith("2")]
        if failed:  # the figures would be an error answer's
            raise RuntimeError(f"{len(failed)} of {count} answers were not 2xx (first: {failed[0]})")
        return took

    out: dict[str, dict[str, dict[str, float]]] = {c: {} for c in CONFIGS}
    for route in ROUTES:
        method, path = route.split(" ", 1)
        builder = EnvironBuilder(method=method, path=API + path, headers=AUTH,
                                 data=POST_BODY if method == "POST" else None,
                                 content_type="application/json" if method == "POST" else None)
        body = POST_BODY.encode() if method == "POST" else b""
        base = builder.get_environ()
        for app in apps.values():
            one_round(app, base, body, 200)
        times: dict[str, list[float]] = {c: [] for c in CONFIGS}
        for r in range(rounds):
            for config in CONFIGS if r % 2 == 0 else tuple(reversed(CONFIGS)):
                times[config].append(one_round(apps[config], base, body, n) * 1e6)
        for config in CONFIGS:
            out[config][route] = {"best": round(min(times[config]), 2),
                                  "median": round(statistics.median(times[config]), 2)}
    environ = {"REMOTE_ADDR": "127.0.0.1", "QUERY_STRING": ""}
    step = (environ, "GET", API + "/scheduler/available", 200, 0.00012, "getSchedulerAvailable", "t_3f0c9a1b2c4d5e6f")
    for config in CONFIGS[1:]:  # the observe step alone: its request-thread part, then with its queued work done
        observe = apps[config].extensions["ltx_observer"]
        hot, total = [], []
        for _ in range(rounds * 4):
            t0 = time.thread_time()
            for _ in range(n):
                observe(*step)
            t1 = time.thread_time()
            observe.flush()
            if observe.metrics is not None and observe.metrics.counts is not None:
                observe.metrics.counts.fold()
            hot.append((t1 - t0) / n * 1e6)
            total.append((time.thread_time() - t0) / n * 1e6)
        out[config]["observe step"] = {"request thread": round(statistics.median(hot), 2),
                                       "with queued work": round(statistics.median(total), 2)}
    print(json.dumps(out))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per server and route")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; each configuration keeps its best")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="--duration 1.5 --warmup 0.5 --rounds 2")
    parser.add_argument("--cpu-only", action="store_true", help="only the in-process CPU per request")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 1.5, 0.5, 2
    cpu = cpu_per_request(rounds=10 if args.quick else 30)
    cpu_rows = []
    for route in ROUTES:
        off = cpu["off"][route]
        for config in CONFIGS:
            us = cpu[config][route]
            cpu_rows.append([route, config, f"{us['median']:.1f}", f"+{us['median'] - off['median']:.1f}",
                             f"{off['median'] / us['median']:.2f}", f"{us['best']:.1f}",
                             f"+{us['best'] - off['best']:.1f}"])
    emit(table("CPU per request in the app (no server), alternating rounds", [
        "route", "configuration", "median us", "vs off", "off / this", "best us", "vs off"], cpu_rows))
    emit(table("the observe step alone (Observer.__call__, one GET's figures), median us", [
        "configuration", "request thread", "with its queued work done"],
        [[c, cpu[c]["observe step"]["request thread"], cpu[c]["observe step"]["with queued work"]]
         for c in CONFIGS[1:]]))
    if args.cpu_only:
        return {"cpu_us": cpu}
    best: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in CONFIGS}
    cpu_best: dict[str, dict[str, float]] = {c: {} for c in CONFIGS}  # server CPU us per request, best round
    loads: list[float] = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="observe-bench-") as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for i, config in enumerate(CONFIGS):
            sim = simulator("--speed", str(SPEED), *_flags(config, Path(tmp) / f"access-{i}.log"), name=f"obs-{i}")
            servers[config] = stack.enter_context(sim)
            admin(sim.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
            admin(sim.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        for route in ROUTES:
            for config in CONFIGS:
                _load(servers[config].url, route, args.connections, args.warmup)
            for r in range(args.rounds):
                order = CONFIGS if r % 2 == 0 else tuple(reversed(CONFIGS))
                for config in order:
                    proc = servers[config].proc
                    pids = tree_pids(proc.pid) if proc is not None else []  # ltx-mock serve, granian's worker
                    admin(servers[config].url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"newSession": True})
                    cpu0 = cpu_seconds(pids)
                    res = _load(servers[config].url, route, args.connections, args.duration)
                    if res["non2xx"] or res["errors"]:  # the figures would be error answers'
                        raise RuntimeError(f"{config} {route}: {res['non2xx']} non-2xx answers, {res['errors']} errors "
                                           f"of {res['requests']}")
                    res["server_cpu_us"] = round((cpu_seconds(pids) - cpu0) / max(1, res["requests"]) * 1e6, 1)
                    loads.append(os.getloadavg()[0])
                    emit(f"  round {r + 1} {config:<10} {route:<26} {res['rps']:>8,.0f} req/s  "
                         f"p99 {res['p99_ms']:>7.2f} ms  server CPU {res['server_cpu_us']:>6.1f} us/req  "
                         f"non2xx {res['non2xx']}  errors {res['errors']}  load {loads[-1]:.1f}")
                    if route not in best[config] or res["rps"] > best[config][route]["rps"]:
                        best[config][route] = res
                    cpu_best[config][route] = min(cpu_best[config].get(route, float("inf")), res["server_cpu_us"])
        log_lines = sum(1 for f in Path(tmp).glob("access-*.log") for _ in f.open(encoding="utf-8"))
    rows = []
    ratios: dict[str, dict[str, float]] = {}
    cpu_ratios: dict[str, dict[str, float]] = {}  # req/s a CPU-second buys, against off: steadier under load
    for route in ROUTES:
        off = best["off"][route]["rps"]
        for config in CONFIGS:
            res = best[config][route]
            ratio = res["rps"] / off if off else 0.0
            ratios.setdefault(config, {})[route] = round(ratio, 3)
            cpu_ratio = cpu_best["off"][route] / cpu_best[config][route] if cpu_best[config][route] else 0.0
            cpu_ratios.setdefault(config, {})[route] = round(cpu_ratio, 3)
            rows.append([route, config, round(res["rps"]), round(res["p99_ms"], 2), res["non2xx"], f"{ratio:.2f}",
                         "" if config == "off" else ("met" if ratio >= TARGET or config != "both" else "MISSED"),
                         cpu_best[config][route], f"{cpu_ratio:.2f}"])
    emit(table(f"access log and metrics, c{args.connections}, best of {args.rounds} alternating rounds "
               f"(load {min(loads):.1f}-{max(loads):.1f})",
               ["route", "configuration", "req/s", "p99 ms", "non-2xx", "/ off", f"both >= {TARGET}",
                "server CPU us/req", "off / this (CPU)"], rows))
    emit(f"  access-log lines written: {log_lines}")
    results = {"best": best, "ratios": ratios, "server_cpu_us": cpu_best, "server_cpu_ratios": cpu_ratios,
               "target": TARGET, "loads": loads, "log_lines": log_lines,
               "args": vars(args), "cpu_us": cpu}
    write_results("observe", results)
    return results


if __name__ == "__main__":
    main()
