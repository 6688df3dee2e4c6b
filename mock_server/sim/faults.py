"""HTTP fault rules: which requests get latency, an error answer or a dropped connection.

A rule names a method and a path glob and applies to the next ``count`` matching
requests, or to a seeded ``fraction`` of them. Rules live in the store (meta
``faults``), so every process of a shared simulator applies the same ones and
counts once. This is the state and the matching; turning a matched rule into an
HTTP answer (sleep, close, error body) is the HTTP side's: ``mock_server/faults.py``.
Job-level faults (fail at a progress, stall, no artifact yet) and webhook faults
are queued outcomes: see ``Jobs.queue_outcome``.
"""

from __future__ import annotations

import email.utils
import fnmatch
from typing import Any

from mock_server.errors import ApiError
from mock_server.sim.context import Context

FAULTS = "faults"  # meta: the active rules, in order
SEQ = "fault-seq"  # meta: the last rule number handed out
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
#: Connection-level faults (what real clients' retry code must survive); shaped by ``mock_server/faults.py``.
CONNECTION_KINDS = ("drop", "reset", "empty_reply", "truncated_body", "malformed_chunk", "dribble", "garbage")
RETRY_AFTER_STATUS = (429, 503)
RETRY_AFTER_FORMATS = ("seconds", "http-date")
RETRY_AFTER = "retry-after"  # meta: the simulator's own 429 carries Retry-After (set by a scenario only)


DRIBBLE_BPS = 256.0  # a dribble fault's default pace, bytes per second


def retry_after_of(spec: dict[str, Any], status: int | None) -> tuple[int, str] | None:
    """A fault's or scenario's Retry-After ask: (seconds, format), checked; None when not asked for."""
    seconds = spec.get("retry_after")
    if seconds is None:
        return None
    if status is not None and status not in RETRY_AFTER_STATUS:
        raise ApiError(400, "retry_after goes with status 429 or 503")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 86400:
        raise ApiError(400, "retry_after must be whole seconds from 0 to 86400")
    fmt = spec.get("retry_after_format") or "seconds"
    if fmt not in RETRY_AFTER_FORMATS:
        raise ApiError(400, f"retry_after_format must be one of {', '.join(RETRY_AFTER_FORMATS)}")
    return seconds, fmt


def retry_after_header(seconds: int, fmt: str, now_ms: int) -> tuple[str, str]:
    """The Retry-After header: delta-seconds, or the HTTP date that far past the simulated now."""
    if fmt == "http-date":
        return "Retry-After", email.utils.formatdate(now_ms / 1000 + seconds, usegmt=True)
    return "Retry-After", str(seconds)


def own_retry_after(ctx: Context, now_ms: int) -> tuple[tuple[str, str], ...]:
    """The header the simulator's own 429 carries: none, as documented, unless a scenario set one."""
    spec = ctx.store.get_meta(RETRY_AFTER)
    return (retry_after_header(spec["seconds"], spec["format"], now_ms),) if spec else ()


class Faults:
    """The active fault rules: add, list, clear, and the rule (if any) that fires for one request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list(self) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = self.ctx.store.get_meta(FAULTS) or []
        return rules

    def add(self, rule: dict[str, Any]) -> dict[str, Any]:
        """Validate and store a rule; returns it with its id (400 naming what is wrong otherwise)."""
        status = rule.get("status")
        if status is not None and status not in ALLOWED_STATUS:
            raise ApiError(400, f"status must be one of {sorted(ALLOWED_STATUS)}")
        connection = rule.get("connection") or ("drop" if rule.get("drop") else None)
        if connection is not None and connection not in CONNECTION_KINDS:
            raise ApiError(400, f"connection must be one of {', '.join(CONNECTION_KINDS)}")
        if connection is not None and status is not None:
            raise ApiError(400, "a fault breaks the connection or answers a status, not both")
        if not any(rule.get(k) is not None for k in ("status", "latency_ms", "latency_range_ms")) and not connection:
            raise ApiError(400, "a fault needs one of status, latency_ms, latency_range_ms, connection (or drop)")
        retry_after = retry_after_of(rule, status)
        fraction = rule.get("fraction")
        if fraction is not None and not 0 < float(fraction) <= 1:
            raise ApiError(400, "fraction must be in (0, 1]")
        store = self.ctx.store
        with store.atomic():
            rules = self.list()
            seq = (store.get_meta(SEQ) or 0) + 1
            store.put_meta(SEQ, seq)
            stored = {"id": f"fault-{seq}", "method": (rule.get("method") or "*").upper(),
                      "path": rule.get("path") or "*", "count": rule.get("count"), "fraction": fraction,
                      "status": status, "message": rule.get("message"), "latency_ms": rule.get("latency_ms"),
                      "latency_range_ms": rule.get("latency_range_ms"), "drop": connection == "drop",
                      "connection": connection, "hits": 0}
            if connection == "dribble":
                stored["dribble_bps"] = float(rule.get("dribble_bps") or DRIBBLE_BPS)
            if retry_after is not None:
                stored["retry_after"], stored["retry_after_format"] = retry_after
            if stored["count"] is None and fraction is None:
                stored["count"] = 1
            rules.append(stored)
            store.put_meta(FAULTS, rules)
            return stored

    def clear(self, fault_id: str | None = None) -> int:
        """Remove one rule (``fault_id``) or all of them; returns how many went."""
        with self.ctx.store.atomic():
            rules = self.list()
            keep = [r for r in rules if fault_id is not None and r["id"] != fault_id]
            self.ctx.store.put_meta(FAULTS, keep)
            return len(rules) - len(keep)

    def match(self, method: str, path: str) -> dict[str, Any] | None:
        """The first rule that fires for this request (consuming one of its ``count``).

        Without rules this is one meta read and no lock: it runs before every API request.
        """
        store = self.ctx.store
        if not store.get_meta(FAULTS):
            return None
        with store.atomic():
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
                store.put_meta(FAULTS, rules)
                return rule
        return None

    def delay_ms(self, rule: dict[str, Any]) -> float:
        """The latency this firing of ``rule`` adds: fixed, or drawn (seeded) from its range; 0 for none.

        The caller sleeps that long next, so the request lets the store go first (Redis: commits and
        releases its lock rather than holding every other process up while it sleeps).
        """
        delay = rule.get("latency_ms")
        if rule.get("latency_range_ms"):
            lo, hi = rule["latency_range_ms"]
            delay = lo + (hi - lo) * self.ctx.random()
        if delay:
            self.ctx.store.refresh()
        return float(delay or 0)

    def own_retry_after_spec(self) -> dict[str, Any] | None:
        """The scenario form of the own 429's Retry-After (for snapshots), or None."""
        spec: dict[str, Any] | None = self.ctx.store.get_meta(RETRY_AFTER)
        return spec

    def set_own_retry_after(self, spec: dict[str, Any] | None) -> None:
        """A scenario's ``retry_after`` for the simulator's own 429 (None: back to none)."""
        ask = retry_after_of(spec or {}, 429)
        self.ctx.store.put_meta(RETRY_AFTER, {"seconds": ask[0], "format": ask[1]} if ask else None)

    @staticmethod
    def message(rule: dict[str, Any]) -> str:
        """The error text of a status fault: the rule's own, else the status's default."""
        return str(rule.get("message") or ERROR_TEXT[int(rule["status"])])
