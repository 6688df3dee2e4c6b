"""Longer reliability runs: the scenarios of ``tests/reliability`` at sizes too slow for ``make test``.

* concurrency: 32 threads x many rounds against ``ltx-mock serve --paused`` (granian,
  the production server, 8 request threads);
* negative data: schemathesis, ``--examples`` (default 1000) per operation, against an
  in-process simulator with strict response validation (a response outside the
  contract becomes a 500, so it is caught too);
* faults: hanging and refusing webhook receivers on the production server with its
  default webhook timeout (5 s) and attempts (3); repeated disconnected and oversized
  uploads with the server's memory watched.

    python -m benchmarks.long_runs [--only concurrency,negative,faults] [--examples 1000] [--rounds 30]

Results go to ``benchmarks/results/long_runs-*.json``; docs/reliability.md records a run.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

from benchmarks import emit, simulator, table, write_results
from benchmarks import reliability as rel


def run_concurrency(rounds: int, ops: int) -> dict[str, Any]:
    with simulator("--paused", "--seed", "42", name="long-concurrency") as srv:
        report = rel.concurrency(srv.url, threads=32, rounds=rounds, ops_per_round=ops, seed=42)
        report["server"] = "ltx-mock serve --paused (granian, 8 threads)"
        report["rss_mb_end"] = srv.rss_mb()
    return report


def run_negative(examples: int) -> dict[str, Any]:
    from ltxstudio_mock.pytest_plugin import start_simulator

    server, _ = start_simulator()  # strict responses, paused clock, seed 1234: as the ltx_mock fixture
    try:
        report = rel.negative_inputs(server.url, max_examples=examples, seed=2024)
        report["hand_made"] = rel.hand_made_bad_inputs(server.url)
        report["problems"] = report["problems"] + report["hand_made"]
        report["server"] = "in-process werkzeug, strict_responses=True"
    finally:
        server.stop()
    return report


def run_faults(uploads: int) -> dict[str, Any]:
    out: dict[str, Any] = {"problems": []}
    with simulator("--paused", name="long-faults") as srv:
        out["webhooks"] = rel.webhook_faults(srv.url, attempts=3, timeout_s=5.0, jobs_per_receiver=6, probe_for_s=20)
        out["disconnect"] = rel.disconnect_mid_upload(srv.url, srv.port, repeat=uploads)
        rss0 = srv.rss_mb()
        over = [rel.oversized_upload(srv.url, srv.port, rss=srv.rss_mb) for _ in range(max(1, uploads // 10))]
        out["oversized"] = {"runs": len(over), "statuses": sorted({o["status"] for o in over}),
                            "rss_start_mb": rss0, "rss_end_mb": srv.rss_mb(),
                            "max_growth_mb": max(o["rss_growth_mb"] for o in over),
                            "problems": [p for o in over for p in o["problems"]]}
        out["server"] = "ltx-mock serve --paused (granian): webhook timeout 5 s, 3 attempts"
    for part in ("webhooks", "disconnect", "oversized"):
        out["problems"] += out[part]["problems"]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process server logs every request
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="concurrency,negative,faults")
    parser.add_argument("--examples", type=int, default=1000, help="negative examples per operation")
    parser.add_argument("--rounds", type=int, default=30, help="concurrency rounds (32 threads each)")
    parser.add_argument("--ops", type=int, default=25, help="operations per thread per round")
    parser.add_argument("--uploads", type=int, default=50, help="disconnected uploads (and a tenth oversized)")
    args = parser.parse_args(argv)
    only = args.only.split(",")
    results: dict[str, Any] = {"config": vars(args)}
    rows = []
    if "concurrency" in only:
        emit(f"[long] concurrency: 32 threads x {args.rounds} rounds x {args.ops} ops")
        t0 = time.perf_counter()
        r = results["concurrency"] = run_concurrency(args.rounds, args.ops)
        rows.append(["concurrency", f"{r['requests']:,} requests, {r['acknowledged_jobs']:,} jobs, "
                     f"{r['observations']:,} observations, ended {r['ended']}", round(time.perf_counter() - t0, 1),
                     len(r["problems"])])
    if "negative" in only:
        emit(f"[long] negative data: {args.examples} examples per operation")
        t0 = time.perf_counter()
        r = results["negative"] = run_negative(args.examples)
        rows.append(["negative data", f"{r['cases']:,} cases, {r['accepted_valid_in_disguise']:,} accepted "
                     f"(valid in disguise), nothing to negate: {len(r['nothing_to_negate'])} ops",
                     round(time.perf_counter() - t0, 1), len(r["problems"])])
    if "faults" in only:
        emit("[long] faults: webhooks, disconnected and oversized uploads")
        t0 = time.perf_counter()
        r = results["faults"] = run_faults(args.uploads)
        w = r["webhooks"]
        rows.append(["faults", f"{len(w['deliveries'])} failing deliveries (p99 {w['probe_p99_ms']:.1f} ms while "
                     f"hanging), {r['disconnect']['uploads']} disconnects, {r['oversized']['runs']} x 25 MB "
                     f"(max RSS growth {r['oversized']['max_growth_mb']} MB)", round(time.perf_counter() - t0, 1),
                     len(r["problems"])])
    path = write_results("long_runs", results)
    emit(table("Long reliability runs", ["scenario", "what ran", "seconds", "problems"], rows))
    for name in ("concurrency", "negative", "faults"):
        for p in results.get(name, {}).get("problems", [])[:20]:
            emit(f"  {name}: {p}")
    emit(f"(results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
