"""What stubs cost the API's request path: throughput with no stubs and with 100 stubs, as ratios against a
baseline measured in the same run (the pipeline with its stub step taken out: the request path before stubs).

The WSGI app is called in-process (no server, no network) and timed in CPU microseconds, best of several
interleaved rounds, so other work on a shared machine counts as little as it can. The 100 stubs are what a
suite plausibly leaves in force: 95 on other operations, and 5 on the timed operation itself that do not match
(another token's, or a body field), so the request still reads and checks its own key's stubs.
Targets (issue 30): no stubs >= 0.95 of the baseline, 100 stubs >= 0.80.

    python -m benchmarks.stubs_bench [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks import emit, table, write_results
from benchmarks.hotpath_bench import _caller, simulator_app

ROUTES = ("GET /scheduler/available", "GET /accounts")
OTHER_OPERATIONS = ("createImage", "editImage", "upscaleImage", "createLtxVideo", "createVeoVideo", "getJob",
                    "listAssets", "uploadAsset", "createAccount", "getAccount", "deleteAccount", "cancelJob",
                    "listRunningJobs")
TARGETS = {"no stubs": 0.95, "100 stubs": 0.80}


def add_stubs(sim: Any, route: str) -> None:
    from mock_server.sim import tenant_id

    operation = {"GET /scheduler/available": "getSchedulerAvailable", "GET /accounts": "listAccounts"}[route]
    for i in range(95):
        sim.stubs.add({"match": {"operationId": OTHER_OPERATIONS[i % len(OTHER_OPERATIONS)]},
                       "answer": {"status": 500, "body": {"error": "x", "code": 500}}})
    for i in range(5):
        sim.stubs.add({"match": {"operationId": operation}, "answer": {"status": 500}},
                      tenant_id(f"someone-else-{i}"))
    assert len(sim.stubs.list()) == 100


def measure(n: int, rounds: int) -> dict[str, dict[str, float]]:
    from mock_server.pipeline import Pipeline

    real_find = Pipeline.find_stub
    out: dict[str, dict[str, float]] = {}
    for route in ROUTES:
        setups: dict[str, Callable[[], str]] = {}
        for name in ("baseline", "no stubs", "100 stubs"):
            app, job = simulator_app()
            if name == "100 stubs":
                add_stubs(app.extensions["ltx_sim"], route)
            pipeline = app.wsgi_app
            if name == "baseline":
                pipeline.find_stub = lambda call: True  # the request path without its stub step
            setups[name] = _caller(app, route, job)
        best = dict.fromkeys(setups, float("inf"))
        for _ in range(rounds):  # interleaved, so a burst of load elsewhere hits every setup alike
            for name, call in setups.items():
                t0 = time.process_time()
                for _ in range(n):
                    call()
                best[name] = min(best[name], (time.process_time() - t0) / n * 1e6)
        out[route] = {f"{name} us": round(us, 1) for name, us in best.items()}
        for name in ("no stubs", "100 stubs"):
            out[route][f"{name} ratio"] = round(best["baseline"] / best[name], 3)
    assert Pipeline.find_stub is real_find
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: -n 300 --rounds 3")
    args = parser.parse_args(argv)
    n, rounds = (300, 3) if args.quick else (args.n, args.rounds)
    results = measure(n, rounds)
    rows = [[route, r["baseline us"], r["no stubs us"], r["100 stubs us"], r["no stubs ratio"],
             r["100 stubs ratio"]] for route, r in results.items()]
    emit(table("stubs: CPU us per request, in-process (ratio = baseline / setup; targets 0.95 and 0.80)",
               ["route", "baseline", "no stubs", "100 stubs", "ratio none", "ratio 100"], rows))
    data = {"n": n, "rounds": rounds, "targets": TARGETS, "results": results}
    write_results("stubs", data)
    return data


if __name__ == "__main__":
    main()
