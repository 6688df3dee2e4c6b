"""Memory of a Redis-backed process against the size of the shared state it did not serve (issue 28).

One ``ltx-mock serve --store redis://...?prefix=<fresh>`` process (one granian worker), the observed
one, answers a few requests (warm), and its worker's resident memory is taken (``rss_idle_mb``). Then
ANOTHER process (``--populate``: the simulator opened on the same store, ``background=False``) stores
``--jobs`` completed jobs of the demo account through the rules (``jobs.create`` under a paused clock,
1,000 per ``atomic()`` block, then the clock advanced and due work settled, as
``jobs_bench.populate`` does), so the observed process served none of them. The observed process then
answers requests for the demo account (``GET /scheduler/available``, ``GET /accounts``; the first of
them brings it up to date with the store, however the store does that) and its resident memory is
taken again (``rss_after_mb``). ``delta_mb`` = after - idle; issue 28's target: <= 20 MB with 100k jobs.
A store whose every process mirrors the whole state grows by about the whole state.

    python -m benchmarks.redis_memory_bench [--jobs 100000]

The resident memory is the worker's (``ltx-mock serve``'s children: the process that holds the state;
``rss_tree_*`` add the CLI's master process). Writes ``benchmarks/results/redis_memory-*.json``; the keys
``benchmarks/run.py`` reads are ``jobs``, ``rss_idle_mb``, ``rss_after_mb`` and ``delta_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import requests

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, PYTHON, ROOT, emit, rss_mb, simulator, table, write_results
from benchmarks.scale_bench import redis_server

BLOCK = 1000
YEAR_S = 400 * 24 * 3600
TARGET_MB = 20.0
READS = ("/scheduler/available", "/accounts")


def populate(store_url: str, n: int) -> dict[str, Any]:
    """Store ``n`` completed jobs of the demo account in the shared store, from this process; called in a child."""
    from mock_server.config import SimConfig
    from mock_server.sim import Simulator, tenant_id

    t0 = time.perf_counter()
    sim = Simulator(SimConfig(store_url=store_url, background=False, journal=False, job_retention_s=YEAR_S))
    tenant = tenant_id(DEMO_TOKEN)
    with sim.atomic():
        sim.clock.set(advance_s=60)  # the observed process's warm-up job ends first: all 1,000 slots are free
        sim.settle(sim.now())
        sim.clock.set(paused=True)
        sim.accounts.set_max_jobs(tenant, DEMO_EMAIL, BLOCK)
        sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    for start in range(0, n, BLOCK):
        with sim.atomic():  # one commit per block: 100k jobs in a hundred writes, not 100k
            for _ in range(min(BLOCK, n - start)):
                sim.jobs.create(tenant, "images/create", {"prompt": "stored elsewhere"}, sim.now())
            sim.clock.set(advance_s=60)  # past the longest FLUX run: the block's jobs end
            sim.settle(sim.now())
    with sim.atomic():
        sim.clock.set(advance_s=60, paused=False)
        sim.settle(sim.now())
    jobs = sim.store.count("job")
    sim.close()
    return {"jobs_stored": jobs, "populate_s": round(time.perf_counter() - t0, 1)}


def worker_pids(pid: int) -> list[int]:
    """The processes serving requests: the children of ``ltx-mock serve`` (granian's workers), else itself."""
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return sorted(set(children)) or [pid]


def worker_rss_mb(pid: int) -> float:
    return round(sum(rss_mb(p, tree=False) for p in worker_pids(pid)), 1)


def ask(session: requests.Session, url: str, rounds: int) -> list[float]:
    """``rounds`` of the demo account's reads; each answer's milliseconds (each must be a 200)."""
    took = []
    for _ in range(rounds):
        for path in READS:
            t0 = time.perf_counter()
            resp = session.get(url + API + path, headers=AUTH, timeout=300)
            took.append((time.perf_counter() - t0) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"GET {path}: {resp.status_code} {resp.text[:300]}")
    return took


def measure(jobs: int) -> dict[str, Any]:
    with redis_server() as redis:
        store_url = f"{redis.url}?prefix=rssbench-{uuid.uuid4().hex[:8]}:"
        with simulator("--store", store_url, name="redis-memory") as observed:
            assert observed.proc is not None
            session = requests.Session()
            ask(session, observed.url, 20)  # warm: imports, caches, the first connections
            requests.post(observed.url + API + "/images/create", json={"prompt": "warm"}, headers=AUTH, timeout=30)
            ask(session, observed.url, 20)
            time.sleep(0.5)
            idle, idle_tree = worker_rss_mb(observed.proc.pid), observed.rss_mb()
            emit(f"  observed process: {idle} MB resident (worker), {idle_tree} MB (tree); storing {jobs:,} jobs "
                 f"from another process ...")
            out = subprocess.run([PYTHON, "-m", "benchmarks.redis_memory_bench", "--populate", store_url,
                                  "--jobs", str(jobs)], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                                 check=False)
            if out.returncode != 0:
                raise RuntimeError(f"populating process failed: {out.stderr[-2000:]}")
            stored = json.loads(out.stdout.strip().splitlines()[-1])
            first = ask(session, observed.url, 1)
            ask(session, observed.url, 20)
            time.sleep(0.5)
            after, after_tree = worker_rss_mb(observed.proc.pid), observed.rss_mb()
            used = int(requests.get(observed.url + "/__admin/state", timeout=60).json()["counts"]["job"])
        redis_mb = _redis_used_mb(redis.url)
    return {"jobs": jobs, **stored, "jobs_counted_by_observed": used, "rss_idle_mb": idle, "rss_after_mb": after,
            "delta_mb": round(after - idle, 1), "rss_tree_idle_mb": idle_tree, "rss_tree_after_mb": after_tree,
            "first_read_after_ms": round(first[0], 1), "redis_used_mb": redis_mb, "target_mb": TARGET_MB,
            "load_avg": round(os.getloadavg()[0], 2)}


def _redis_used_mb(url: str) -> float | None:
    import redis

    try:
        client = redis.Redis.from_url(url)
        return round(int(client.info("memory")["used_memory"]) / 2**20, 1)
    except Exception:
        return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs stored by the other process")
    parser.add_argument("--populate", metavar="STORE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.populate:
        print(json.dumps(populate(args.populate, args.jobs)))
        sys.exit(0)
    res = measure(args.jobs)
    verdict = "holds" if res["delta_mb"] <= TARGET_MB else "MISSED"
    emit(table(f"RSS of a Redis-backed process that served none of {args.jobs:,} jobs (load {res['load_avg']})",
               ["jobs stored", "RSS idle MB", "RSS after MB", "delta MB", "target", "verdict",
                "1st read after ms", "redis used MB", "populate s"],
               [[res["jobs_stored"], res["rss_idle_mb"], res["rss_after_mb"], res["delta_mb"], f"<= {TARGET_MB:g}",
                 verdict, res["first_read_after_ms"], res["redis_used_mb"], res["populate_s"]]]))
    path = write_results("redis_memory", res)
    emit(f"(results: {os.path.relpath(path)})")
    return res


if __name__ == "__main__":
    main()
