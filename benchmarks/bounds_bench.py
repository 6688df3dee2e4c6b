"""What the input bounds cost (issue 19): the JSON depth check, and the webhook delivery log at its cap.

In process (Flask test client), wall-clock milliseconds: on a shared machine record the load average beside them
and compare the ratios within one run (docs/reliability.md, "Hostile input and bounded state").

    python -m benchmarks.bounds_bench
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mock_server.app import create_app
from mock_server.bounds import too_deep
from mock_server.config import SimConfig
from mock_server.sim.deliveries import LOG


def timed(f: Callable[[], Any], n: int = 1) -> float:
    """Seconds per call, the mean of ``n``."""
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n


def depth_check() -> dict[str, float]:
    deep = b'{"a":' + b"[" * (10 << 20) + b"]" * (10 << 20) + b"}"
    wide = b"[" + b"[1]," * (5 << 20) + b"[1]]"
    small = json.dumps({"prompt": "a cat " * 50, "model": "flux", "aspectRatio": "16:9"}).encode()
    return {"typical_body_us": timed(lambda: too_deep(small), 100_000) * 1e6,
            "hostile_20mib_ms": timed(lambda: too_deep(deep)) * 1000,
            "wide_20mib_ms": timed(lambda: too_deep(wide)) * 1000,
            "wide_20mib_json_loads_ms": timed(lambda: json.loads(wide)) * 1000}


def delivery_log(store_url: str | None, cap: int = 5000) -> dict[str, Any]:
    app = create_app(SimConfig(paused=True, background=False, store_url=store_url, webhook_log_limit=cap))
    client = app.test_client()
    sim = app.extensions["ltx_sim"]

    def fill(n: int, start: int) -> None:
        for i in range(start, start + n):
            (delivery_id,) = sim.deliveries.enqueue(f"job-{i}", "http://127.0.0.1:9/h", {"prompt": "x" * 2000})
            sim.deliveries.record(delivery_id, ok=True, status=200, error=None, duration_ms=1, max_attempts=3)

    out: dict[str, Any] = {"enqueue_below_cap_ms": timed(lambda: fill(200, 0)) / 200 * 1000,
                           "webhooks_200_entries_ms": timed(lambda: client.get("/__admin/webhooks"), 5) * 1000}
    fill(cap, 200)
    out["enqueue_at_cap_ms"] = timed(lambda: fill(200, cap + 200)) / 200 * 1000
    out["webhooks_at_cap_ms"] = timed(lambda: client.get("/__admin/webhooks"), 5) * 1000
    out["dashboard_at_cap_ms"] = timed(lambda: client.get("/__admin/dashboard/data"), 5) * 1000
    out["entries"] = sim.store.index_count(LOG)
    sim.store.close()
    return out


def main() -> None:
    print(f"load average {os.getloadavg()}")
    print("depth check", {k: round(v, 2) for k, v in depth_check().items()})
    print("delivery log, memory", {k: round(v, 2) for k, v in delivery_log(None).items()})
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = delivery_log(f"sqlite://{Path(tmp) / 's.db'}")
        print("delivery log, sqlite", {k: round(v, 2) for k, v in sqlite.items()})


if __name__ == "__main__":
    main()
