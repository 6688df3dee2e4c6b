"""Job throughput: N jobs created and driven to completion, its wall time, jobs/s and peak memory.

In-process (the ``Simulator`` API, no HTTP), for N = 1k, 10k, 100k, each in a fresh
subprocess so that its peak RSS (``resource.getrusage``) is its own. The clock
runs at ``--speed`` (default 10000: a 12-s FLUX job ends 1.2 ms after it starts, and
100k jobs take days, not the 90 simulated days after which the demo session expires);
every creation is followed by ``settle`` as the HTTP layer does, and a final
settle drives the last ones home. Job retention is raised so that all N jobs stay
stored: the worst case for memory. The demo account gets maxJobs 1000 and 10^9
credits; every job must end ``completed`` with its artifact listed, or the run fails.

Linearity: the cost of each successive block of 1000 jobs is recorded; the first
and last block's microseconds per job show whether the per-job cost grows with
the number of stored jobs (it must not: no per-request scan of all jobs). Blocks
are timed in CPU time (``time.process_time``), as other work on a shared machine
inflates wall time.

One HTTP variant at 1k: ``ltx-mock serve --speed 1000`` in a subprocess (so jobs
end in ~12 ms real yet none expires during the run), 8 client threads creating,
then polling every job's ``GET /assets/{jobId}`` until completed.

    python -m benchmarks.jobs_bench [--sizes 1000,10000,100000] [--no-http]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks import (
    API,
    AUTH,
    DEMO_EMAIL,
    DEMO_TOKEN,
    PYTHON,
    ROOT,
    admin,
    emit,
    peak_rss_mb,
    simulator,
    table,
    write_results,
)

BLOCK = 1000
YEAR_S = 400 * 24 * 3600


def own_peak_rss_mb() -> float:
    """This process's own peak resident memory: ``VmHWM`` of its address space. Not ``ru_maxrss``: Linux keeps that
    across ``execve``, so a child started by a big parent (``make bench`` runs the benchmarks in one process that
    grows to ~150 MB) reported the parent's size, not its own (a 300 MB parent's child: ru_maxrss 313 MB, VmHWM
    14 MB). ``ru_maxrss`` only where there is no /proc (macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, kB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb


def run_in_process(n: int, speed: float) -> dict[str, Any]:
    """Create and complete ``n`` jobs through the Simulator API; called in a child process."""
    from mock_server.config import SimConfig
    from mock_server.sim import Simulator, tenant_id
    from mock_server.sim.records import get_jobs

    rss_start = own_peak_rss_mb()
    sim = Simulator(SimConfig(speed=speed, seed=1, job_retention_s=YEAR_S, journal=False, background=False))
    tenant = tenant_id(DEMO_TOKEN)
    sim.accounts.set_max_jobs(tenant, DEMO_EMAIL, 1000)
    sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    credits0 = sim.ltx.get_user(DEMO_EMAIL).credits
    body = {"prompt": "A serene mountain landscape at sunset"}
    blocks: list[float] = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    tb = cpu0  # blocks are timed in CPU time: the machine may be shared, wall time is noisy
    for i in range(n):
        now = sim.now()
        sim.settle(now)
        sim.jobs.create(tenant, "images/create", body, now)
        if (i + 1) % BLOCK == 0:
            t = time.process_time()
            blocks.append((t - tb) / BLOCK * 1e6)
            tb = t
    created_s = time.perf_counter() - t0
    # Drive the last jobs home: let simulated time pass the longest FLUX run (14.4 s).
    sim.clock.set(advance_s=60)
    sim.settle(sim.now())
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    now = sim.now()
    ids = sim.store.index_range("jobs")
    completed = 0
    for i in range(0, len(ids), BLOCK):  # in blocks: materialising 100k records at once would be the peak RSS
        completed += sum(1 for job in get_jobs(sim.store, ids[i:i + BLOCK])
                         if sim.jobs.status(job, now)["type"] == "completed")
    credits1 = sim.ltx.get_user(DEMO_EMAIL).credits
    ok = (completed == n and sim.store.count("asset") == n and sim.scheduler.executing(tenant, DEMO_EMAIL, now) == 0
          and credits0 - credits1 == 12 * n)
    # Per-request cost with N jobs stored: the two hot GET paths, timed in-process.
    job = sim.jobs.find(ids[-1])
    reps = 2000
    ta = time.perf_counter()
    for _ in range(reps):
        sim.scheduler.available(tenant, now)
    avail_us = (time.perf_counter() - ta) / reps * 1e6
    tj = time.perf_counter()
    for _ in range(reps):
        sim.jobs.view(sim.jobs.require_visible(tenant, job.jobId, now), now, "http://127.0.0.1:8787")
    job_us = (time.perf_counter() - tj) / reps * 1e6
    return {
        "n": n, "speed": speed, "ok": ok, "completed": completed, "wall_s": round(wall, 3),
        "create_s": round(created_s, 3), "jobs_per_s": round(n / wall, 1),
        "cpu_s": round(cpu, 3), "jobs_per_cpu_s": round(n / cpu, 1),
        "peak_rss_mb": round(own_peak_rss_mb(), 1),
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


# -- per-request cost with 0 vs N jobs stored ---------------------------------
STORED_ENV = "LTX_BENCH_STORED_JOBS"


def populate(sim: Any, n: int) -> str:
    """Store ``n`` completed jobs fast (paused clock, blocks of 1000, then advance); a job id from the middle."""
    from mock_server.sim import tenant_id

    tenant = tenant_id(DEMO_TOKEN)
    sim.clock.set(paused=True)
    sim.accounts.set_max_jobs(tenant, DEMO_EMAIL, BLOCK)
    sim.ltx.patch_user(sim.now(), DEMO_EMAIL, credits=10**9)
    middle = ""
    for i in range(n):
        job = sim.jobs.create(tenant, "images/create", {"prompt": "stored"}, sim.now())
        if i == n // 2:
            middle = job.jobId
        if (i + 1) % BLOCK == 0:
            sim.clock.set(advance_s=60)
            sim.settle(sim.now())
    sim.clock.set(advance_s=60, paused=False)
    sim.settle(sim.now())
    return middle


def app_with_jobs() -> Any:
    """Granian factory target: the simulator app holding ``$LTX_BENCH_STORED_JOBS`` completed jobs."""
    from mock_server import SimConfig, create_app

    app = create_app(SimConfig(job_retention_s=YEAR_S))
    populate(app.extensions["ltx_sim"], int(os.environ.get(STORED_ENV, "0")) or 1)
    return app


def serve_with_jobs(port: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian("benchmarks.jobs_bench:app_with_jobs", address="127.0.0.1", port=port, interface=Interfaces.WSGI,
            workers=1, blocking_threads=8, factory=True, log_level="warning", backlog=2048).serve()


def stored_latency(sizes: list[int], duration: float) -> list[dict[str, Any]]:
    """GET /scheduler/available and GET /assets/{jobId} at 16 connections with each number of jobs stored."""
    from benchmarks import ServerProcess, free_port, loadgen

    out = []
    for n in sizes:
        port = free_port()
        env = {**os.environ, STORED_ENV: str(n)}
        argv = [PYTHON, "-m", "benchmarks.jobs_bench", "--serve-stored", str(port)]
        with ServerProcess(argv, port, env=env, name=f"stored-{n}", ready_timeout=900) as srv:
            state = admin(srv.url, "GET", "/state")
            newest = requests.get(f"{srv.url}/__admin/jobs", params={"limit": 1}, timeout=30).json()
            job_id = newest["items"][0]["jobId"]
            row: dict[str, Any] = {"stored_jobs": state["counts"]["job"], "rss_mb": srv.rss_mb()}
            for name, path in (("available", "/scheduler/available"), ("getJob", f"/assets/{job_id}")):
                url = srv.url + API + path
                loadgen.run(url, headers=AUTH, connections=16, duration=1)
                r = loadgen.run(url, headers=AUTH, connections=16, duration=duration)
                row[name] = {k: r[k] for k in ("rps", "p50_ms", "p99_ms", "non2xx", "errors")}
            out.append(row)
            emit(f"  {row['stored_jobs']:>7,} jobs stored: available {row['available']['rps']:,.0f} req/s "
                 f"p50 {row['available']['p50_ms']:.2f} ms; getJob {row['getJob']['rps']:,.0f} req/s "
                 f"p50 {row['getJob']['p50_ms']:.2f} ms")
    return out


def stored_cpu(sizes: list[int], n: int = 3000) -> list[dict[str, Any]]:
    """The same two GETs called in-process (CPU us per request, best of 3): immune to a shared machine's noise."""
    from benchmarks import cpu_us
    from benchmarks.hotpath_bench import _caller
    from mock_server import SimConfig, create_app

    out = []
    for size in sizes:
        app = create_app(SimConfig(job_retention_s=YEAR_S, background=False))
        job_id = populate(app.extensions["ltx_sim"], max(1, size))
        out.append({"stored_jobs": app.extensions["ltx_sim"].store.count("job"),
                    "available_us": cpu_us(_caller(app, "GET /scheduler/available", job_id), n),
                    "getJob_us": cpu_us(_caller(app, "GET /assets/{jobId}", job_id), n)})
        emit(f"  {out[-1]['stored_jobs']:>7,} jobs stored (in-process): available {out[-1]['available_us']} us, "
             f"getJob {out[-1]['getJob_us']} us")
    return out


def report(results: dict[str, Any]) -> str:
    rows = []
    for r in results["in_process"]:
        rows.append([f"in-process {r['n']:,}", r["wall_s"], r["jobs_per_s"], r["jobs_per_cpu_s"], r["peak_rss_mb"],
                     r["us_per_job_first_block"], r["us_per_job_last_block"], r["available_us"], r["get_job_us"],
                     "yes" if r["ok"] else "NO"])
    if results.get("http"):
        h = results["http"]
        rows.append([f"HTTP {h['n']:,}", h["wall_s"], h["jobs_per_s"], None, h["peak_rss_mb"], None, None, None, None,
                     "yes" if h["ok"] else "NO"])
    text = table("Job throughput (created and driven to completion)",
                 ["run", "wall s", "jobs/s", "jobs/CPU-s", "peak RSS MB", "us/job 1st 1k", "us/job last 1k",
                  "available us", "getJob us", "all completed"], rows)
    ip = results["in_process"]
    if len(ip) >= 2:
        growth = [f"{b['n'] // a['n']}x jobs -> {b['cpu_s'] / a['cpu_s']:.1f}x CPU time"
                  for a, b in itertools.pairwise(ip)]
        text += "\nscaling: " + "; ".join(growth)
    if results.get("stored"):
        rows = [[f"{r['stored_jobs']:,}", r["available"]["rps"], r["available"]["p50_ms"], r["available"]["p99_ms"],
                 r["getJob"]["rps"], r["getJob"]["p50_ms"], r["getJob"]["p99_ms"], r["rss_mb"]]
                for r in results["stored"]]
        text += "\n\n" + table("Per-request cost vs jobs stored (HTTP, granian, 16 connections)",
                                ["jobs stored", "available req/s", "p50", "p99", "getJob req/s", "p50", "p99",
                                 "server RSS MB"], rows)
    if results.get("stored_cpu"):
        rows = [[f"{r['stored_jobs']:,}", r["available_us"], r["getJob_us"]] for r in results["stored_cpu"]]
        text += "\n\n" + table("Per-request cost vs jobs stored (in-process, CPU us per request)",
                                ["jobs stored", "available us", "getJob us"], rows)
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--speed", type=float, default=10000.0)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--stored", default="0,100000", help="jobs stored for the per-request latency check")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per HTTP latency measurement")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-stored", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_in_process(args.child, args.speed)))
        sys.exit(0)
    if args.serve_stored:
        serve_with_jobs(args.serve_stored)
        sys.exit(0)
    results: dict[str, Any] = {"config": {"speed": args.speed, "block": BLOCK}, "in_process": []}
    for n in (int(x) for x in args.sizes.split(",")):
        emit(f"[jobs] in-process n={n:,}")
        results["in_process"].append(run_child(n, args.speed))
    if not args.no_http:
        emit("[jobs] HTTP n=1,000")
        results["http"] = run_http(1000)
    if args.stored:
        emit(f"[jobs] per-request latency with {args.stored} jobs stored")
        sizes = [int(x) for x in args.stored.split(",")]
        results["stored"] = stored_latency(sizes, args.duration)
        results["stored_cpu"] = stored_cpu(sizes)
    path = write_results("jobs", results)
    emit(report(results))
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
