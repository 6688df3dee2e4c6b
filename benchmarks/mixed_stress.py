"""Loop the 32-thread mixed run (``benchmarks.reliability.concurrency``) on ``ltx-mock serve --workers 2`` over one
Redis, one seed per run, and print the runs whose invariants failed. Run it beside two CPU burners
(``python -c 'while True: pass' &`` twice): the credits mismatch of commits sent ahead showed in ~4 runs of 100.

    python -m benchmarks.mixed_stress 1 25          # seeds 1..24
    LTX_MOCK_COMMITS_AHEAD=0 python -m benchmarks.mixed_stress 1 25
"""

from __future__ import annotations

import sys

import requests

from benchmarks import simulator
from benchmarks.reliability import concurrency
from benchmarks.scale_bench import redis_server


def main(first: int, last: int) -> int:
    bad = 0
    with redis_server() as srv:
        for seed in range(first, last):
            with simulator("--paused", "--workers", "2", "--store", srv.url, name="stress") as s:
                requests.post(f"{s.url}/__admin/reset", timeout=30).raise_for_status()
                report = concurrency(s.url, threads=32, rounds=2, ops_per_round=20, timeout=5, seed=seed)
            failed = report["problems"] or report["timeouts"]
            bad += bool(failed)
            print("seed", seed, report["problems"][:3] if failed else "ok", flush=True)
    print("runs with a problem:", bad, "of", last - first)
    return bad


if __name__ == "__main__":  # pragma: no cover - run by hand
    sys.exit(1 if main(int(sys.argv[1]), int(sys.argv[2])) else 0)
