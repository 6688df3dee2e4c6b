"""Run the benchmarks of issue 17 (and issue 25's video memory) and end with ONE table: every figure next to its
target.

    python -m benchmarks.run            # everything, as recorded in docs/performance.md (~6-10 min)
    python -m benchmarks.run --quick    # shorter loads (~4 min): a smoke run, figures noisier
    python -m benchmarks.run --suite    # also time the whole test suite
    python -m benchmarks.run --only http,startup
    python -m benchmarks.run --with validation   # add a benchmark outside issue 17

Every figure comes from this one run: the HTTP ratios (simulator / bare Flask on the same server
with the same options, simulator / WireMock with its journal on and capped at 10,000), p99 and the
per-connection answer counts at c16 (``benchmarks/loadgen.py``: a fine p99 bought by starving
connections shows as MISSED), Redis against memory with one worker each and the round trips per
request (``scale_bench``, with issue 28's server CPU per request Redis / memory), the resident memory a
Redis-backed process gains when another process stores 100k jobs (``redis_memory_bench``, issue 28),
peak RSS with 100k completed jobs (``jobs_bench``) and start-up to the first 200 (``startup_bench``).
The load average is printed with the machine at the start, per benchmark and at the end, and stands
next to each figure: on a shared 2-core machine it says how far to trust it. Each benchmark also
writes ``benchmarks/results/<name>-<time>.json`` and ``<name>-latest.json``; this one writes
``summary-*.json`` with the table.

A benchmark that is missing, fails or does not produce a figure leaves its rows "not measured"
with the reason; the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import math
import os
import time
from collections.abc import Iterator
from typing import Any

from benchmarks import emit, machine_info, table, write_results

BENCHMARKS = ("http", "hotpath", "scale", "redis_memory", "jobs", "startup", "media", "observe")  # issue 17's figures
# (hotpath: the profile), issue 25's (media: RSS after 1,000 video downloads), issue 27's (observe: access log and
# metrics on/off) and issue 28's (scale: Redis CPU per request; redis_memory: a process that served none of the jobs)
GET_ROUTES = ("GET /scheduler/available", "GET /assets/{jobId}")
POST_ROUTE = "POST /images/create"
HTTP_ROUTES = (*GET_ROUTES, POST_ROUTE)
SCALE_GET = "GET /scheduler/available"
C = 16


def argvs(quick: bool, suite: bool) -> dict[str, list[list[str]]]:
    """Each benchmark's arguments, then fallbacks in case its owner changed its flags (tried in order)."""
    return {
        "http": [["--duration", "2", "--warmup", "1", "--lib-duration", "1.5", "--rounds", "1"] if quick else []],
        "hotpath": [["-n", "500"] if quick else ["-n", "2000"], []],
        "scale": [["--workers", "1", *(["--duration", "2", "--warmup", "0.5"] if quick else [])], []],
        "redis_memory": [["--jobs", "20000"] if quick else ["--jobs", "100000"], []],
        "jobs": [["--sizes", "100000", "--no-http", "--stored", ""], ["--sizes", "100000"], []],
        "startup": [(["--runs", "3"] if quick else ["--runs", "5"]) + (["--suite"] if suite else [])],
        "validation": [["--duration", "2", "--seconds", "1"] if quick else []],
        "media": [["--quick"] if quick else []],
        "stubs": [["--quick"] if quick else []],  # issue 30: --with stubs
        "inprocess": [["--quick"] if quick else []],  # issue 23: mock_ltxstudio vs static stubs (--with inprocess)
        "observe": [["--quick"] if quick else []],
    }


# -- reading figures out of the benchmarks' results -----------------------------
def _walk(obj: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (key, dict value) pair anywhere in a JSON-like tree."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, dict):
                yield str(key), value
            yield from _walk(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _walk(value)


def loads_measured(obj: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every load figure anywhere in the results (a dict with ``rps`` and ``connections``), with its path."""
    if isinstance(obj, dict):
        if "rps" in obj and "connections" in obj:
            yield path, obj
            return
        for key, value in obj.items():
            yield from loads_measured(value, f"{path} / {key}" if path else str(key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from loads_measured(value, f"{path}[{i}]")


def answered_rows(results: dict[str, Any]) -> list[list[Any]]:
    """Every c16 measurement of the run (the other benchmarks' too: they share ``loadgen``) with how many of
    its connections got answers, the fewest answers one got, and how many were starved."""
    rows = []
    for path, f in loads_measured(results):
        if f.get("connections") == C:
            rows.append([path, f.get("tool"), f["rps"], f.get("p99_ms"),
                         "-" if f.get("answered_connections") is None else f"{f['answered_connections']}/{C}",
                         f.get("min_per_connection"), f.get("starved")])
    return rows


def per_route(res: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """``{route: value}`` for the first dict under each route name that carries ``key`` (wherever the
    benchmark put it: ``scale_bench`` may carry ``round_trips`` / ``redis_1w_over_memory_1w`` per route)."""
    out: dict[str, Any] = {}
    for name, value in _walk(res or {}):
        if name in HTTP_ROUTES and key in value and name not in out:
            out[name] = value[key]
    return out


def redis_ratio(scale: dict[str, Any] | None, route: str) -> float | None:
    """Redis 1 worker / memory 1 worker req/s for ``route``: the scale benchmark's own figure if it has one,
    else computed from its runs."""
    own = per_route(scale, "redis_1w_over_memory_1w").get(route)
    if own is not None:
        return float(own)
    runs = (scale or {}).get("runs", {})
    mem, red = runs.get("memory x1", {}).get(route), runs.get("redis x1", {}).get(route)
    if mem and red and mem.get("rps"):
        return red["rps"] / mem["rps"]
    return None


def cpu_ratio(scale: dict[str, Any] | None, route: str) -> float | None:
    """Server CPU per request, Redis 1 worker / memory 1 worker, for ``route`` (issue 28): the scale benchmark's own
    figure if it has one, else computed from its runs' ``server_cpu_ms_per_req``."""
    own = per_route(scale, "cpu_redis_over_memory").get(route)
    if own is not None:
        return float(own)
    runs = (scale or {}).get("runs", {})
    mem, red = runs.get("memory x1", {}).get(route) or {}, runs.get("redis x1", {}).get(route) or {}
    if mem.get("server_cpu_ms_per_req") and red.get("server_cpu_ms_per_req") is not None:
        return float(red["server_cpu_ms_per_req"]) / float(mem["server_cpu_ms_per_req"])
    return None


def peak_rss_100k(jobs: dict[str, Any] | None) -> float | None:
    for r in (jobs or {}).get("in_process", []):
        if r.get("n") == 100_000 and r.get("peak_rss_mb") is not None:
            return float(r["peak_rss_mb"])
    return None


def startup_median(startup: dict[str, Any] | None) -> tuple[float | None, str]:
    rows = (startup or {}).get("startup", [])
    for server in ("waitress", "granian", "werkzeug"):
        for r in rows:
            if r.get("server") == server:
                return float(r["median_s"]), server
    return None, ""


# -- the table ----------------------------------------------------------------
def _floor2(ratio: float) -> str:
    """Two decimals rounded down: 0.4999 shows as 0.49, never as a 0.50 that then reads MISSED against >= 0.5."""
    return f"{math.floor(ratio * 100) / 100:.2f}"


def _ceil2(ratio: float) -> str:
    """Two decimals rounded up, for an upper bound: 1.501 shows as 1.51, never as a 1.50 that reads MISSED."""
    return f"{math.ceil(ratio * 100 - 1e-9) / 100:.2f}"


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("holds" if ok else "MISSED")


def _load(figure: dict[str, Any] | None, fallback: float | None) -> float | None:
    if figure and figure.get("loadavg"):
        return round(float(figure["loadavg"][0]), 1)
    return fallback


def _answered(f: dict[str, Any]) -> str:
    if f.get("answered_connections") is None:
        return "answers per connection not measured"
    return f"{f['answered_connections']}/{f['connections']} answered, min {f['min_per_connection']:,}/conn"


def targets(res: dict[str, Any], loads: dict[str, float]) -> list[list[Any]]:
    """Issue 17's table: [figure, measured, target, verdict, load average (1 min) when measured]."""
    rows: list[list[Any]] = []
    http = res.get("http") or {}

    def fig(target: str, route: str) -> dict[str, Any] | None:
        return (http.get(target) or {}).get("figures", {}).get(f"{route} c{C}")

    def ratio_row(route: str, peer: str, label: str, need: float) -> None:
        s, o = fig("simulator", route), fig(peer, route)
        pairs = (http.get("paired") or {}).get(f"{route} c{C}") if peer == "bare" else None
        if s and o and o["rps"]:
            if pairs:  # measured route by route, back to back: the median of the pairs' ratios
                ratio = pairs["median"]
                each = pairs["rounds"]
                shown = f"{_floor2(ratio)} (median of {len(each)} pairs, {min(each):.2f}-{max(each):.2f})"
            else:
                ratio = s["rps"] / o["rps"]
                shown = f"{_floor2(ratio)} ({s['rps']:,.0f} / {o['rps']:,.0f})"
            rows.append([f"{route} c{C}: simulator / {label}", shown,
                         f">= {need}", _verdict(ratio >= need), _load(s, loads.get("http"))])
        else:
            why = (http.get("skipped") or {}).get(peer, "not run") if not o else "simulator not run"
            rows.append([f"{route} c{C}: simulator / {label}", f"- ({why})"[:60], f">= {need}", _verdict(None),
                         loads.get("http")])

    for route in GET_ROUTES:
        ratio_row(route, "bare", "bare Flask", 0.7)
    ratio_row(POST_ROUTE, "bare", "bare Flask", 0.5)
    journal = (http.get("wiremock") or {}).get("journal") or {}
    wm = "WireMock (journal on, cap 10k)" if journal.get("on") else "WireMock (journal cap 10k)"
    ratio_row(POST_ROUTE, "wiremock", wm, 1.5)
    for route in HTTP_ROUTES:
        s = fig("simulator", route)
        if not s:
            rows.append([f"{route} c{C}: p99, no connection starved", "- (not run)", "< 15 ms", _verdict(None),
                         loads.get("http")])
            continue
        starved = s.get("starved")
        ok = None if starved is None else (s["p99_ms"] < 15 and starved == 0
                                           and s["answered_connections"] == s["connections"])
        rows.append([f"{route} c{C}: p99, no connection starved", f"{s['p99_ms']:.1f} ms; {_answered(s)}",
                     "< 15 ms, 16/16", _verdict(ok), _load(s, loads.get("http"))])
    scale = res.get("scale")
    for route, need, label in ((SCALE_GET, 0.7, "GET"), (POST_ROUTE, 0.5, "POST")):
        r = redis_ratio(scale, route)
        rows.append([f"Redis 1 worker / memory 1 worker: {label}", "-" if r is None else _floor2(r), f">= {need}",
                     _verdict(None if r is None else r >= need), loads.get("scale")])
    trips = per_route(scale, "round_trips")
    for route, label in ((SCALE_GET, "GET"), (POST_ROUTE, "POST")):
        t = trips.get(route)
        rows.append([f"Redis round trips per {label}", "-" if t is None else f"{t:g}", "<= 2",
                     _verdict(None if t is None else t <= 2), loads.get("scale")])
    for route, label in ((SCALE_GET, "GET"), (POST_ROUTE, "POST")):
        c = cpu_ratio(scale, route)
        rows.append([f"server CPU per request, Redis 1 worker / memory 1 worker: {label}",
                     "-" if c is None else _ceil2(c), "<= 1.5", _verdict(None if c is None else c <= 1.5),
                     loads.get("scale")])
    memory = res.get("redis_memory") or {}
    delta = memory.get("delta_mb")
    rows.append([f"RSS of a Redis process that served none of {memory.get('jobs', 100_000):,} jobs, over idle",
                 "-" if delta is None else f"{delta:+.0f} MB ({memory['rss_idle_mb']:.0f} -> "
                                           f"{memory['rss_after_mb']:.0f} MB)",
                 "<= 20 MB", _verdict(None if delta is None else delta <= 20), loads.get("redis_memory")])
    rss = peak_rss_100k(res.get("jobs"))
    rows.append(["peak RSS with 100k completed jobs", "-" if rss is None else f"{rss:.0f} MB", "< 150 MB",
                 _verdict(None if rss is None else rss < 150), loads.get("jobs")])
    median, server = startup_median(res.get("startup"))
    observe = (res.get("observe") or {}).get("ratios", {}).get("both", {})
    for route in (SCALE_GET, POST_ROUTE):
        r = observe.get(route)
        rows.append([f"{route} c{C}: access log + metrics on / off", "-" if r is None else _floor2(r), ">= 0.9",
                     _verdict(None if r is None else r >= 0.9), loads.get("observe")])
    rows.append(["start-up to first 200 (median)", "-" if median is None else f"{median:.2f} s ({server})",
                 "< 0.5 s", _verdict(None if median is None else median < 0.5), loads.get("startup")])
    media = res.get("media") or {}
    growth = media.get("rss_growth_mb")
    rows.append([f"RSS growth over {media.get('downloads', 1000):,} video downloads (issue 25)",
                 "-" if growth is None else f"{growth:.0f} MB", "< 100 MB",
                 _verdict(None if growth is None else growth < 100), loads.get("media")])
    return rows


def _run_one(name: str, argv_options: list[list[str]]) -> Any:
    module = importlib.import_module(f"benchmarks.{name}_bench")
    entry = getattr(module, "main", None)
    if entry is None:
        raise RuntimeError("no main()")
    if not inspect.signature(entry).parameters:
        return entry()
    last: BaseException | None = None
    for argv in argv_options:
        try:
            return entry(argv)
        except SystemExit as exc:  # its argparse refused our flags (its owner changed them): try the next set
            last = exc
            emit(f"{name}: arguments {argv} refused ({exc}); trying the next set")
    raise RuntimeError(f"every argument set refused ({last})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter loads: a smoke run")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite (slow)")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--with", dest="extra", default="", help="more benchmarks to run, e.g. validation")
    args = parser.parse_args(argv)
    only = [b.strip() for b in (args.only + "," + args.extra).split(",") if b.strip()]
    t0 = time.perf_counter()
    machine = machine_info()
    emit(f"machine: {machine}")
    options = argvs(args.quick, args.suite)
    results: dict[str, Any] = {}
    loads: dict[str, float] = {}
    for name in only:
        loads[name] = round(os.getloadavg()[0], 1)
        emit(f"\n=== {name} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}) ===")
        started = time.perf_counter()
        try:
            results[name] = _run_one(name, options.get(name, [[]]))
        except ImportError as exc:
            emit(f"{name}: not available ({exc})")
        except Exception as exc:
            emit(f"{name}: FAILED: {type(exc).__name__}: {exc}")
        emit(f"({name}: {time.perf_counter() - started:.0f} s)")
    rows = targets(results, loads)
    elapsed = round(time.perf_counter() - t0, 1)
    check = (results.get("http") or {}).get("self_check") or {}
    check_line = ("starvation self-check (granian backpressure 8, c16): "
                  + ({True: "caught", False: "NOT caught: answered counts suspect", None: "not run"}
                     [check.get("ok")] if check else "not run"))
    end = os.getloadavg()
    write_results("summary", {"targets": rows, "elapsed_s": elapsed, "quick": args.quick, "loads": loads,
                              "self_check_ok": check.get("ok"), "loadavg_end": list(end)})
    emit("\n" + table("Answers per connection, every c16 measurement of this run (starved: < 10% of the mean)",
                      ["measurement", "tool", "req/s", "p99 ms", "answered", "min/conn", "starved"],
                      answered_rows(results)))
    emit(f"\nall benchmarks: {elapsed:.0f} s; {machine['nproc']} x {machine['cpu_model']}, "
         f"load average at start {' '.join(f'{x:.2f}' for x in machine['loadavg'])}, "
         f"at end {' '.join(f'{x:.2f}' for x in end)}; {check_line}")
    emit("\n" + table(f"Targets (issue 17), one run{' (--quick)' if args.quick else ''}",
                      ["figure", "measured", "target", "verdict", "load"], rows))
    return results


if __name__ == "__main__":
    main()
