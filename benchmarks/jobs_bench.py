"""Job throughput: N jobs created and driven to completion, its wall time, jobs/s and peak memory.

In-process (the ``Simulator`` API, no HTTP), for N = 1k, 10k, 100k, each in a fresh
subprocess so that its peak RSS (``resource.getrusage``) is its own. The clock
runs at ``--speed`` (default 100000: a 12-s FLUX job ends 0.12 ms after it starts);
every creation is followed by ``settle`` as the HTTP layer does, and a final
settle drives the last ones home. Job retention is raised so that all N jobs stay
stored: the worst case for memory. The demo account gets maxJobs 1000 and 10^9
credits; every job must end ``completed`` with its artifact listed, or the run fails.

Linearity: the cost of each successive block of 1000 jobs is recorded; the first
and last block's microseconds per job show whether the per-job cost grows with
the number of stored jobs (it must not: no per-request scan of all jobs).

One HTTP variant at 1k: ``ltx-mock serve --speed 1000`` in a subprocess (so jobs
end in ~12 ms real yet none expires during the run), 8 client threads creating,
then polling every job's ``GET /assets/{jobId}`` until completed.

    python -m benchmarks.jobs_bench [--sizes 1000,10000,100000] [--no-http]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from benchmarks import API, AUTH, DEMO_EMAIL, DEMO_TOKEN, PYTHON, ROOT, admin, emit, peak_rss_mb, simulator, table
from benchmarks import write_results

BLOCK = 1000
YEAR_S = 400 * 24 * 3600


def run_in_process(n: int, speed: float) -> dict[str, Any]:
    """Create and complete ``n`` jobs through the Simulator API; called in a child process."""
    from mock_server.config import SimConfig
    from mock_server.sim import Simulator, tenant_id

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sim = Simulator(SimConfig(speed=speed, seed=1, job_retention_s=YEAR_S, journal=False, background=False))
    tenant = tenant_id(DEMO_TOKEN)
    sim.accounts.set_max_jobs(tenant, DEMO_EMAIL, 1000)
    sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    credits0 = sim.ltx.get_user(DEMO_EMAIL)["credits"]
    body = {"prompt": "A serene mountain landscape at sunset"}
    blocks: list[float] = []
    t0 = time.perf_counter()
    tb = t0
    for i in range(n):
        now = sim.now()
        sim.settle(now)
        sim.jobs.create(tenant, "images/create", body, now)
        if (i + 1) % BLOCK == 0:
            t = time.perf_counter()
            blocks.append((t - tb) / BLOCK * 1e6)
            tb = t
    created_s = time.perf_counter() - t0
    # Drive the last jobs home: let simulated time pass the longest FLUX run (14.4 s).
    sim.clock.set(advance_s=60)
    sim.settle(sim.now())
    wall = time.perf_counter() - t0
    now = sim.now()
    ids = sim.store.index_range("jobs")
    completed = sum(1 for job in sim.store.get_many("job", ids) if job and sim.jobs.status(job, now)["type"] == "completed")
    credits1 = sim.ltx.get_user(DEMO_EMAIL)["credits"]
    ok = (completed == n and sim.store.count("asset") == n and sim.scheduler.executing(tenant, DEMO_EMAIL, now) == 0
          and credits0 - credits1 == 12 * n)
    # Per-request cost with N jobs stored: the two hot GET paths, timed in-process.
    job = sim.store.get("job", ids[-1])
    reps = 2000
    ta = time.perf_counter()
    for _ in range(reps):
        sim.scheduler.available(tenant, now)
    avail_us = (time.perf_counter() - ta) / reps * 1e6
    tj = time.perf_counter()
    for _ in range(reps):
        sim.jobs.view(sim.jobs.require_visible(tenant, job["jobId"], now), now, "http://127.0.0.1:8787")
    job_us = (time.perf_counter() - tj) / reps * 1e6
    return {
        "n": n, "speed": speed, "ok": ok, "completed": completed, "wall_s": round(wall, 3),
        "create_s": round(created_s, 3), "jobs_per_s": round(n / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_at_start_mb": round(rss_start, 1),
        "us_per_job_first_block": round(blocks[0], 1) if blocks else None,
        "us_per_job_last_block": round(blocks[-1], 1) if blocks else None,
        "us_per_job_blocks": [round(b, 1) for b in blocks[:: max(1, len(blocks) // 20)]],
        "available_us": round(avail_us, 1), "get_job_us": round(job_us, 1),
    }


def run_child(n: int, speed: float) -> dict[str, Any]:
    """``run_in_process`` in a fresh interpreter (its own peak RSS)."""
    out = subprocess.run([PYTHON, "-m", "benchmarks.jobs_bench", "--child", str(n), "--speed", str(speed)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"jobs_bench child for n={n} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_http(n: int = 1000, threads: int = 8) -> dict[str, Any]:
    """Create n jobs over HTTP, then poll each until completed; the server's wall time and peak RSS."""
    with simulator("--speed", "1000", name="jobs-http") as srv:
        admin(srv.url, "PATCH", f"/accounts/{DEMO_EMAIL}", {"token": DEMO_TOKEN, "maxJobs": 100})
        admin(srv.url, "PATCH", f"/ltx-users/{DEMO_EMAIL}", {"credits": 10**9})
        ids: list[str] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        per_thread = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]

        def create(count: int) -> None:
            s = requests.Session()
            for _ in range(count):
                while True:
                    r = s.post(f"{srv.url}{API}/images/create", headers=AUTH, json={"prompt": "bench"}, timeout=30)
                    with lock:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 429:  # capacity full: retry, as a client would
                        time.sleep(0.005)
                        continue
                    r.raise_for_status()
                    with lock:
                        ids.append(r.json()["jobId"])
                    break

        def poll(chunk: list[str]) -> None:
            s = requests.Session()
            for job_id in chunk:
                while True:
                    r = s.get(f"{srv.url}{API}/assets/{job_id}", headers=AUTH, timeout=30)
                    r.raise_for_status()
                    st = r.json()["status"]
                    if st["type"] == "completed" and st.get("artifact"):
                        break
                    time.sleep(0.005)

        t0 = time.perf_counter()
        pool = [threading.Thread(target=create, args=(k,)) for k in per_thread]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        created = time.perf_counter() - t0
        chunks = [ids[i::threads] for i in range(threads)]
        pool = [threading.Thread(target=poll, args=(c,)) for c in chunks]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - t0
        peak = peak_rss_mb(srv.proc.pid)  # type: ignore[union-attr]
        return {"n": n, "threads": threads, "wall_s": round(wall, 3), "create_s": round(created, 3),
                "jobs_per_s": round(n / wall, 1), "peak_rss_mb": peak, "statuses": statuses,
                "ok": len(ids) == n}


def report(results: dict[str, Any]) -> str:
    rows = []
    for r in results["in_process"]:
        rows.append([f"in-process {r['n']:,}", r["wall_s"], r["jobs_per_s"], r["peak_rss_mb"],
                     r["us_per_job_first_block"], r["us_per_job_last_block"], r["available_us"], r["get_job_us"],
                     "yes" if r["ok"] else "NO"])
    if results.get("http"):
        h = results["http"]
        rows.append([f"HTTP {h['n']:,}", h["wall_s"], h["jobs_per_s"], h["peak_rss_mb"], None, None, None, None,
                     "yes" if h["ok"] else "NO"])
    text = table("Job throughput (created and driven to completion)",
                 ["run", "wall s", "jobs/s", "peak RSS MB", "us/job 1st 1k", "us/job last 1k",
                  "available us", "getJob us", "all completed"], rows)
    ip = results["in_process"]
    if len(ip) >= 2:
        growth = [f"{b['n'] // a['n']}x jobs -> {b['wall_s'] / a['wall_s']:.1f}x time"
                  for a, b in zip(ip, ip[1:], strict=False)]
        text += "\nscaling: " + "; ".join(growth)
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--speed", type=float, default=100000.0)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_in_process(args.child, args.speed)))
        sys.exit(0)
    results: dict[str, Any] = {"config": {"speed": args.speed, "block": BLOCK}, "in_process": []}
    for n in (int(x) for x in args.sizes.split(",")):
        emit(f"[jobs] in-process n={n:,}")
        results["in_process"].append(run_child(n, args.speed))
    if not args.no_http:
        emit("[jobs] HTTP n=1,000")
        results["http"] = run_http(1000)
    path = write_results("jobs", results)
    emit(report(results))
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
