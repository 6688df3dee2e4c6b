"""Webhook delivery over the network: POST the job model to ``replyUrl``.

Each attempt has a timeout; failures are retried with backoff a bounded number
of times (``Deliveries.record``); a receiver that hangs or refuses only ever
costs one worker thread for ``webhook_timeout_s``, never the simulator.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from ltxstudio_mock.mock_server.sim.deliveries import Deliveries

log = logging.getLogger("ltx_mock.webhooks")
USER_AGENT = "ltxstudio-mock webhook"


def deliver(deliveries: Deliveries, record: dict[str, Any], *, timeout: float, attempts: int,
            session: requests.Session | None = None) -> dict[str, Any] | None:
    """Make one attempt at one delivery and record its outcome."""
    t0 = time.perf_counter()
    status = None
    error = None
    if len(record["attempts"]) < int(record.get("fail_first") or 0):
        error = "injected failure (fail_first)"
    else:
        try:
            http = session or requests
            resp = http.post(record["url"], json=record["body"], timeout=timeout,
                             headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"})
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        except Exception as exc:  # a malformed URL must never kill the worker
            error = f"{type(exc).__name__}: {exc}"[:300]
    ms = int((time.perf_counter() - t0) * 1000)
    if error:
        log.info("webhook %s to %s failed: %s", record["id"], record["url"], error)
    return deliveries.record(record["id"], ok=error is None, status=status, error=error, duration_ms=ms,
                             max_attempts=attempts)
