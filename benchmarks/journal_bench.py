"""The request journal's CPU per request, in process: the journal on minus the journal off, memory and Redis.

Flask's test client on the simulator (``--speed 100000``, the demo account at maxJobs 100 and 10^9 credits, as
``scale_bench.py``), one request at a time. Blocks of ``--block`` requests with the journal on and off
(``SimConfig.journal`` switched) alternate in one process, ``--rounds`` pairs; CPU is the whole process's
(``time.process_time``: the store's threads included); a figure is the median of the pairs' differences, so the
slow drift of a shared machine cancels out. Per store and route:

* ``request``: what a request pays for its entry while nobody reads the journal (memory: the ring; Redis: kept
  in the process, raw, as in memory; before issue 28's change Redis also masked, encoded and wrote every entry on
  a thread every 50 ms: ~40-50 µs more);
* ``read each block``: each journal-on block ends with a read (``GET /__admin/requests/count``), which makes
  Redis write (mask, encode, stage) and merge what was kept: what a request costs when the journal is read that
  often (every ``--block`` requests).

Then ``--entries`` kept entries (10,000: a full journal) written by one read on Redis: CPU seconds of this
process (masking, encoding, the scripts' round trips) and the wall time of the read.

    python -m benchmarks.journal_bench [--quick] [--block 250] [--rounds 30] [--entries 10000]

Writes ``benchmarks/results/journal-latest.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, emit, table, write_results
from benchmarks.scale_bench import PROMPT, redis_server

ROUTES = {"GET /scheduler/available": ("GET", "/scheduler/available", None),
          "POST /images/create": ("POST", "/images/create", PROMPT)}


def _app(store_url: str | None) -> Any:
    from mock_server import SimConfig, create_app

    app = create_app(SimConfig(store_url=store_url, speed=100000, background=False, job_retention_s=10**9))
    client = app.test_client()
    client.patch(f"/__admin/accounts/{DEMO_EMAIL}", json={"token": DEMO_TOKEN, "maxJobs": 100})
    client.patch(f"/__admin/ltx-users/{DEMO_EMAIL}", json={"credits": 10**9})
    return app


def _paired(app: Any, route: str, block: int, rounds: int, read: bool) -> float:
    """Median over ``rounds`` pairs of (CPU µs per request, journal on) - (journal off)."""
    method, path, body = ROUTES[route]
    client, sim = app.test_client(), app.extensions["ltx_sim"]
    headers = {**AUTH, "Content-Type": "application/json"}

    def call() -> None:
        resp = client.open(API + path, method=method, data=body, headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)

    for _ in range(200):
        call()
    diffs = []
    for pair in range(rounds):
        cpu = {}
        for on in (True, False) if pair % 2 else (False, True):
            sim.config.journal = on
            t0 = time.process_time()
            for _ in range(block):
                call()
            if on and read:
                client.get("/__admin/requests/count")
            cpu[on] = (time.process_time() - t0) * 1e6 / block
        diffs.append(cpu[True] - cpu[False])
    sim.config.journal = True
    client.delete("/__admin/requests")
    return statistics.median(diffs)


def _whole(app: Any, entries: int) -> tuple[float, float]:
    """``entries`` GETs kept unwritten, then one read: (CPU s of this process, wall s of the read)."""
    client, journal = app.test_client(), app.extensions["ltx_sim"].journal
    client.delete("/__admin/requests")
    for _ in range(entries):
        client.get(API + "/scheduler/available", headers=AUTH)
    t0, c0 = time.perf_counter(), time.process_time()
    count = client.get("/__admin/requests/count").get_json()["count"]
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    assert count == min(entries, 10000) and getattr(journal, "unwritten", lambda: 0)() == 0
    return cpu, wall


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--block", type=int, default=250, help="requests per block")
    parser.add_argument("--rounds", type=int, default=30, help="pairs of blocks (journal on, off)")
    parser.add_argument("--entries", type=int, default=10000, help="entries written by one read (Redis)")
    parser.add_argument("--quick", action="store_true", help="--block 100 --rounds 4 --entries 1000: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.block, args.rounds, args.entries = 100, 4, 1000
    rows, out = [], {"block": args.block, "rounds": args.rounds, "us_per_request": {}}
    with redis_server() as server:
        stores = {"memory": None, "redis": f"{server.url}?prefix=jb-{uuid.uuid4().hex[:8]}:"}
        for name, url in stores.items():
            app = _app(url)
            for route in ROUTES:
                figures = {"request": round(_paired(app, route, args.block, args.rounds, read=False), 1),
                           "read each block": round(_paired(app, route, args.block, args.rounds, read=True), 1)}
                out["us_per_request"][f"{name} {route}"] = figures
                rows.append([name, route, *figures.values()])
            if name == "redis":
                cpu, wall = _whole(app, args.entries)
                out["whole"] = {"entries": args.entries, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3)}
            app.extensions["ltx_sim"].close()
    emit(table(f"Journal CPU us per request, on - off (median of {args.rounds} pairs of {args.block})",
               ["store", "route", "request", f"read every {args.block}"], rows))
    emit(f"{args.entries} entries written by one read (Redis): {out['whole']['cpu_s']} s CPU, "
         f"{out['whole']['wall_s']} s wall")
    write_results("journal", out)
    return out


if __name__ == "__main__":
    main()
