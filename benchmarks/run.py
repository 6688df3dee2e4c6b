"""Run every benchmark, print their tables and a verdict on each performance target (``make bench``).

    python -m benchmarks.run            # everything, as recorded in docs/performance.md (~8 min)
    python -m benchmarks.run --quick    # shorter loads and 1k/10k jobs only (~3 min): a smoke run
    python -m benchmarks.run --suite    # also time the whole test suite
    python -m benchmarks.run --only http,jobs

Each benchmark also writes ``benchmarks/results/<name>-<time>.json`` and ``<name>-latest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import time
from typing import Any

from benchmarks import emit, machine_info, table, write_results

BENCHMARKS = ("http", "jobs", "startup", "validation", "hotpath", "scale")


def targets(res: dict[str, Any]) -> list[list[Any]]:
    """Each target of issue 8 with its measured value and whether it holds."""
    rows: list[list[Any]] = []
    http = res.get("http") or {}
    sim = http.get("simulator", {}).get("figures", {})
    for route in ("GET /scheduler/available", "GET /assets/{jobId}"):
        key = f"{route} c16"
        s = sim.get(key)
        if not s:
            continue
        for peer, label in (("bare", ">= 0.7 x bare Flask"), ("prism", "> Prism")):
            o = http.get(peer, {}).get("figures", {}).get(key)
            if o:
                ratio = s["rps"] / o["rps"]
                need = 0.7 if peer == "bare" else 1.0
                ok = ratio >= need if peer == "bare" else ratio > need
                rows.append([f"{route} c16 req/s {label}", f"{s['rps']:,.0f} vs {o['rps']:,.0f} ({ratio:.2f}x)",
                             "holds" if ok else "MISSED"])
        rows.append([f"{route} c16 p99 < 25 ms", f"{s['p99_ms']:.1f} ms", "holds" if s["p99_ms"] < 25 else "MISSED"])
        for peer in ("prism", "wiremock"):
            o = http.get(peer, {}).get("figures", {}).get(key)
            if o:
                rows.append([f"{route} c16 p99 below {peer}", f"{s['p99_ms']:.1f} vs {o['p99_ms']:.1f} ms",
                             "holds" if s["p99_ms"] < o["p99_ms"] else "MISSED"])
    startup = res.get("startup") or {}
    for r in startup.get("startup", []):
        if r["server"] == "granian":
            rows.append(["start-up to first 200 < 1 s (median)", f"{r['median_s']:.2f} s",
                         "holds" if r["median_s"] < 1 else "MISSED"])
    jobs = res.get("jobs") or {}
    for r in jobs.get("in_process", []):
        if r["n"] == 100_000:
            rows.append(["100k completed jobs < 300 MB peak RSS", f"{r['peak_rss_mb']:.0f} MB",
                         "holds" if r["peak_rss_mb"] < 300 and r["ok"] else "MISSED"])
    cpu = jobs.get("stored_cpu") or []
    if len(cpu) >= 2:
        first, last = cpu[0], cpu[-1]
        for name in ("available_us", "getJob_us"):
            ratio = last[name] / first[name] if first[name] else float("inf")
            rows.append([f"{name[:-3]} in-process CPU with {last['stored_jobs']:,} vs {first['stored_jobs']:,} jobs",
                         f"{last[name]:.0f} vs {first[name]:.0f} us ({ratio:.2f}x)",
                         "holds" if ratio < 1.25 else "MISSED"])
    stored = jobs.get("stored") or []
    if len(stored) >= 2:
        first, last = stored[0], stored[-1]
        for name in ("available", "getJob"):
            a, b = first[name]["p50_ms"], last[name]["p50_ms"]
            ratio = b / a if a else float("inf")
            rows.append([f"{name} p50 with {last['stored_jobs']:,} vs {first['stored_jobs']:,} jobs stored",
                         f"{b:.2f} vs {a:.2f} ms ({ratio:.2f}x)", "holds" if ratio < 1.5 else "MISSED"])
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short loads, 1k/10k jobs: a smoke run")
    parser.add_argument("--suite", action="store_true", help="also time the whole test suite (slow)")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    args = parser.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    t0 = time.perf_counter()
    emit(f"machine: {machine_info()}")
    dur = ["--duration", "2", "--warmup", "1"] if args.quick else []
    argvs = {
        "http": dur,
        "jobs": (["--sizes", "1000,10000", "--stored", "0,10000", "--duration", "2"] if args.quick else []),
        "startup": (["--runs", "3"] if args.quick else []) + (["--suite"] if args.suite else []),
        "validation": (["--duration", "2", "--seconds", "1"] if args.quick else []),
        "scale": (["--duration", "2", "--warmup", "0.5"] if args.quick else []),
    }
    results: dict[str, Any] = {}
    for name in only:
        emit(f"\n=== {name} ===")
        try:
            module = importlib.import_module(f"benchmarks.{name}_bench")
        except ImportError as exc:
            emit(f"{name}: not available ({exc})")
            continue
        try:
            entry = getattr(module, "main", None)
            if entry is None:
                emit(f"{name}: no main()")
                continue
            takes_argv = bool(inspect.signature(entry).parameters)
            results[name] = entry(argvs.get(name, [])) if takes_argv else entry()
        except SystemExit as exc:  # a benchmark's argparse refusing our flags must not stop the others
            emit(f"{name}: exited ({exc})")
        except Exception as exc:
            emit(f"{name}: FAILED: {type(exc).__name__}: {exc}")
    rows = targets(results)
    if rows:
        emit("\n" + table("Targets (issue 8)", ["target", "measured", "verdict"], rows))
    write_results("summary", {"targets": rows, "elapsed_s": round(time.perf_counter() - t0, 1)})
    emit(f"\nall benchmarks: {time.perf_counter() - t0:.0f} s")
    return results


if __name__ == "__main__":
    main()
