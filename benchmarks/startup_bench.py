"""Start-up time: ``ltx-mock serve`` launched as a subprocess until ``GET /__admin/state`` answers 200.

Measured ``--runs`` times per server (polling every 10 ms, so figures carry up to
10 ms of polling slack), plus the import time of the app module alone, which is
most of it. ``--suite`` also times the whole test suite (``pytest -n 2 -q``): slow.

    python -m benchmarks.startup_bench [--runs 5] [--servers waitress,granian,werkzeug] [--suite]

The default server is the one ``ltx-mock serve`` uses (granian); issue 17's target (< 0.5 s) is its median.
Measured as a user starts it the second time: with compiled bytecode cached. ``PYTHONDONTWRITEBYTECODE``
(set in some shells and containers) is dropped for the children and one warm-up import runs first; without
cached bytecode every start compiles ~130 modules (+~0.1 s here), which is a property of that shell, not of us.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from typing import Any

from benchmarks import PYTHON, ROOT, emit, simulator, table, write_results


def time_startup(server: str, runs: int) -> dict[str, Any]:
    times = []
    for _ in range(runs):
        with simulator("--server", server, name=f"startup-{server}") as srv:
            assert srv.ready_after_s is not None
            times.append(srv.ready_after_s)
    return {"server": server, "runs": runs, "min_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "all_s": [round(t, 3) for t in times]}


def warm_bytecode() -> None:
    """Let the children cache bytecode (as a user's second start has it) and write those caches once."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYTHON, "-c", "import granian, mock_server.app, mock_server.cli"],
                   cwd=ROOT, check=True)


def time_import(runs: int) -> float:
    """Seconds for a fresh interpreter to import and build the app (no server)."""
    code = ("from mock_server import SimConfig, create_app; "
            "create_app(SimConfig(background=False))")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([PYTHON, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def time_suite() -> dict[str, Any]:
    t0 = time.perf_counter()
    out = subprocess.run([PYTHON, "-m", "pytest", "-n", "2", "-q"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    summary = [line for line in out.stdout.splitlines() if " passed" in line or " failed" in line]
    return {"wall_s": round(wall, 1), "returncode": out.returncode, "summary": summary[-1] if summary else ""}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--servers", default="granian", help="comma-separated: granian (default), waitress, werkzeug")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite (minutes)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"startup": [], "import_and_build_s": None}
    warm_bytecode()
    for server in args.servers.split(","):
        emit(f"[startup] {server} x{args.runs}")
        results["startup"].append(time_startup(server.strip(), args.runs))
    results["import_and_build_s"] = time_import(3)
    if args.suite:
        emit("[startup] whole test suite (pytest -n 2)")
        results["suite"] = time_suite()
    rows = [[f"ltx-mock serve --server {r['server']}", r["min_s"], r["median_s"], r["max_s"]]
            for r in results["startup"]]
    rows.append(["python: import + create_app (no server)", None, results["import_and_build_s"], None])
    text = table("Start-up to the first 200 from GET /__admin/state (seconds)", ["what", "min", "median", "max"],
                 rows)
    if "suite" in results:
        s = results["suite"]
        text += f"\nwhole test suite (pytest -n 2 -q): {s['wall_s']} s, exit {s['returncode']}: {s['summary']}"
    path = write_results("startup", results)
    emit(text)
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
