"""The request journal under large rejected requests: server RSS and ``GET /__admin/requests?limit=1`` time.

Issue 19's probe: 10,000 rejected 60 kB requests took the server from 256 to 601 MB and made
``GET /__admin/requests?limit=1`` take 1.2 s. Run::

    python -m benchmarks.journal_bytes [--requests 10000] [--ltx-mock PATH]   # PATH: another build's ltx-mock

It starts ``ltx-mock serve --paused`` (granian) on a free loopback port, posts ``--requests``
``POST /images/create`` with a 60 kB prompt (each answered 400), and prints RSS before, after and
after ``DELETE /__admin/requests``, and the median of 20 reads of ``?limit=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import requests

from benchmarks import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--ltx-mock", default=str(ROOT / ".venv" / "bin" / "ltx-mock"))
    args = parser.parse_args()
    port = free_port()
    server = ServerProcess([args.ltx_mock, "serve", "--paused", "--port", str(port)], port, name="journal").start()
    try:
        session = requests.Session()
        api = f"{server.url}/v1/ltxstudio/images/create"
        body = json.dumps({"prompt": "p" * 60_000}).encode()
        headers = {"Authorization": "Bearer demo-token", "Content-Type": "application/json"}
        rss_start = server.rss_mb()
        t0 = time.perf_counter()
        statuses: dict[int, int] = {}
        for _ in range(args.requests):
            status = session.post(api, data=body, headers=headers, timeout=30).status_code
            statuses[status] = statuses.get(status, 0) + 1
        sent_s = time.perf_counter() - t0
        rss_full = server.rss_mb()
        reads = []
        for _ in range(20):
            t = time.perf_counter()
            resp = session.get(f"{server.url}/__admin/requests", params={"limit": 1}, timeout=60)
            reads.append((time.perf_counter() - t) * 1000)
        total = resp.json()["total"]
        session.delete(f"{server.url}/__admin/requests", timeout=60)
        rss_cleared = server.rss_mb()
        print(json.dumps({"ltx_mock": args.ltx_mock, "requests": args.requests, "statuses": statuses,
                          "send_s": round(sent_s, 1), "journal_entries_kept": total,
                          "rss_mb": {"start": rss_start, "after": rss_full, "after_clear": rss_cleared},
                          "limit1_read_ms_median": round(statistics.median(reads), 1),
                          "loadavg": os.getloadavg()}, indent=1))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
