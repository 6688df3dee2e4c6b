"""HTTP fault injection: latency, error answers and dropped connections on demand.

A fault rule names a method and a path glob and applies to the next ``count``
matching requests, or to a seeded ``fraction`` of them. Rules live in the store,
so every process of a shared simulator applies the same ones and counts once.
Job-level faults (fail at a progress, stall, no artifact yet) and webhook faults
are queued outcomes: see ``Jobs.queue_outcome``.
"""

from __future__ import annotations

import fnmatch
import time
from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.errors import ApiError
from ltxstudio_mock.mock_server.sim.context import Context
from ltxstudio_mock.mock_server.store.base import Store

FAULTS = "faults"
ERROR_TEXT = {
    400: "Bad request (injected fault)",
    401: "Unauthorized",
    402: "Insufficient credits",
    429: "All LTX Studio accounts are at maximum capacity (maxJobs) (injected fault)",
    500: "Internal server error (injected fault)",
    502: "Bad gateway (injected fault)",
    503: "Service unavailable (injected fault)",
    504: "Gateway timeout (injected fault)",
}
ALLOWED_STATUS = set(ERROR_TEXT)


class Faults:
    """The active fault rules and their application to one request."""

    def __init__(self, store: Store, ctx: Context) -> None:
        self.store = store
        self.ctx = ctx

    def list(self) -> list[dict[str, Any]]:
        return self.store.get_meta(FAULTS) or []

    def add(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Validate and store a rule; returns it with its id."""
        status = rule.get("status")
        if status is not None and status not in ALLOWED_STATUS:
            raise ApiError(400, f"status must be one of {sorted(ALLOWED_STATUS)}")
        if not any(rule.get(k) is not None for k in ("status", "latency_ms", "latency_range_ms", "drop")):
            raise ApiError(400, "a fault needs one of status, latency_ms, latency_range_ms, drop")
        fraction = rule.get("fraction")
        if fraction is not None and not 0 < float(fraction) <= 1:
            raise ApiError(400, "fraction must be in (0, 1]")
        with self.store.atomic():
            rules = self.list()
            seq = (self.store.get_meta("fault-seq") or 0) + 1
            self.store.put_meta("fault-seq", seq)
            stored = {"id": f"fault-{seq}", "method": (rule.get("method") or "*").upper(),
                      "path": rule.get("path") or "*", "count": rule.get("count"), "fraction": fraction,
                      "status": status, "message": rule.get("message"), "latency_ms": rule.get("latency_ms"),
                      "latency_range_ms": rule.get("latency_range_ms"), "drop": bool(rule.get("drop")),
                      "hits": 0}
            if stored["count"] is None and fraction is None:
                stored["count"] = 1
            rules.append(stored)
            self.store.put_meta(FAULTS, rules)
            return stored

    def clear(self, fault_id: str | None = None) -> int:
        with self.store.atomic():
            rules = self.list()
            keep = [r for r in rules if fault_id is not None and r["id"] != fault_id]
            self.store.put_meta(FAULTS, keep)
            return len(rules) - len(keep)

    def match(self, method: str, path: str) -> dict[str, Any] | None:
        """The first rule that fires for this request (consuming one of its ``count``)."""
        rules = self.store.get_meta(FAULTS)
        if not rules:
            return None
        with self.store.atomic():
            rules = self.list()
            for i, rule in enumerate(rules):
                if rule["method"] not in ("*", method) or not fnmatch.fnmatchcase(path, rule["path"]):
                    continue
                if rule.get("fraction") is not None:
                    if self.ctx.random() >= float(rule["fraction"]):
                        continue
                    if rule.get("count") is not None and rule["count"] <= 0:
                        continue
                rule["hits"] += 1
                if rule.get("count") is not None:
                    rule["count"] -= 1
                    if rule["count"] <= 0 and rule.get("fraction") is None:
                        rules.pop(i)
                    else:
                        rules[i] = rule
                else:
                    rules[i] = rule
                self.store.put_meta(FAULTS, rules)
                return rule
        return None

    def apply_before(self, rule: dict[str, Any]) -> Response | None:
        """Sleep for latency faults; answer now for status and drop faults (None: carry on)."""
        delay = rule.get("latency_ms")
        if rule.get("latency_range_ms"):
            lo, hi = rule["latency_range_ms"]
            delay = lo + (hi - lo) * self.ctx.random()
        if delay:
            time.sleep(float(delay) / 1000)
        if rule.get("drop"):
            # Promise a body that never comes and close: the client sees the connection drop mid-response.
            resp = Response(b"", status=200, mimetype="application/json")
            resp.headers["Content-Length"] = "1024"
            resp.headers["Connection"] = "close"
            return resp
        status = rule.get("status")
        if status:
            raise ApiError(int(status), rule.get("message") or ERROR_TEXT[int(status)])
        return None
