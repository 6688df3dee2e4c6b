"""The c16 ratios of issue 17, quickly: simulator / bare Flask per route, one server after another, one run.

For choosing the server (docs/performance.md, "Choosing the server again"): each server gets the simulator
(GETs against a server holding one completed job; POST at ``--speed 100000`` with maxJobs 100 and 10^9 credits,
so no 429/402) and bare Flask with the same options, all three running at once, each route measured alternately
on the simulator and bare Flask (best of ``rounds``), 16 keep-alive connections, 1 s warm-up each. ``http_bench`` is
the full table (1/16/64 connections, peers); this is its c16 column, minutes instead of a quarter hour.

    python -m benchmarks.c16_ratios [--servers granian,waitress] [--duration 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, admin, emit, loadgen, simulator
from benchmarks.http_bench import EXAMPLE_JOB, POST_BODY, bare_server, loadgen_post_once


def _load(url: str, method: str, duration: float, connections: int = 16) -> dict[str, Any]:
    headers, body = dict(AUTH), None
    if method == "POST":
        headers["Content-Type"] = "application/json"
        body = POST_BODY
    loadgen.run(url, method=method, headers=headers, body=body, connections=16, duration=1)
    return loadgen.run(url, method=method, headers=headers, body=body, connections=connections, duration=duration)


def measure(server: str, duration: float, rounds: int = 2) -> dict[str, dict[str, Any]]:
    """The three servers run at once; each route is measured simulator, bare, simulator, bare, ... and the best
    of each kept, so that both sides of a ratio see the same moments of a busy machine."""
    opts = ["--server", server]
    with contextlib.ExitStack() as stack:
        get = stack.enter_context(simulator(*opts, name="sim-get"))
        post = stack.enter_context(simulator(*opts, "--speed", "100000", name="sim-post"))
        bare = stack.enter_context(bare_server(server, 8))
        job = loadgen_post_once(get.url)
        admin(get.url, "POST", "/clock", {"advance": 120})
        admin(post.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
        admin(post.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        pairs = {"avail": (get.url + API + "/scheduler/available", bare.url + API + "/scheduler/available", "GET"),
                 "getJob": (f"{get.url}{API}/assets/{job}", f"{bare.url}{API}/assets/{EXAMPLE_JOB}", "GET"),
                 "post": (post.url + API + "/images/create", bare.url + API + "/images/create", "POST")}
        out: dict[str, dict[str, Any]] = {}
        for name, (sim_url, bare_url, method) in pairs.items():
            for _ in range(rounds):
                for side, url in (("sim", sim_url), ("bare", bare_url)):
                    res = _load(url, method, duration)
                    key = f"{side} {name}"
                    if key not in out or res["rps"] > out[key]["rps"]:
                        out[key] = res
        out["sim post c1"] = _load(post.url + API + "/images/create", "POST", duration, connections=1)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="granian,waitress")
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args(argv)
    for server in args.servers.split(","):
        out = measure(server, args.duration)
        for name, r in out.items():
            emit(f"{server:9} {name:12} {r['rps']:>7,.0f} req/s  p50 {r['p50_ms']:6.2f}  p99 {r['p99_ms']:7.2f}  "
                 f"non2xx {r['non2xx']}  errors {r['errors']}")
        ratio = {k: out[f"sim {k}"]["rps"] / out[f"bare {k}"]["rps"] for k in ("avail", "getJob", "post")}
        emit(f"{server:9} sim/bare c16: avail {ratio['avail']:.2f}  getJob {ratio['getJob']:.2f}  "
             f"post {ratio['post']:.2f}  (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
