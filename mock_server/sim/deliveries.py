"""Webhook deliveries as state: queued, claimed with a lease, attempted, logged.

The network part lives in ``mock_server/webhooks.py``; this module only decides
what is due and records what happened, atomically, so a delivery is made once
even with several processes, and a delivery whose claimant died (its lease ran
out) is picked up again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from mock_server.sim.context import Context

DELIVERY = "delivery"
DUE = "deliveries:due"  # scored by real epoch ms: network retries run on real time
LOG = "deliveries:log"  # scored by creation, for the journal and dashboard
LOG_BYTES_KEY = "deliveries:bytes"  # meta: the log's size, as counted by record_size()
ERROR_LIMIT = 300  # characters of an attempt's error kept in the log
ATTEMPT_BYTES = 512  # allowance per attempt (status, times, an error of at most ERROR_LIMIT characters)
TRIM_SCAN = 64  # beyond the excess, how many still-due deliveries a trim steps over to find finished ones
BACKOFF_MS = (500, 2_000, 8_000, 30_000)


def real_ms() -> int:
    return int(time.time() * 1000)


class Deliveries:
    """The webhook outbox."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def enqueue(self, job_id: str, url: str, body: dict[str, Any], *, copies: int = 1, delay_ms: int = 0,
                fail_first: int = 0) -> list[str]:
        """Queue ``copies`` deliveries of ``body`` to ``url`` (faults may ask for duplicates or delays).

        The log keeps at most ``webhook_log_limit`` deliveries and about ``webhook_log_bytes``: the oldest
        finished ones go first (a delivery still due is never dropped; it is trimmed once it finishes).
        """
        ids = []
        store = self.ctx.store
        with store.atomic():
            added = 0
            for n in range(copies):
                delivery_id = f"{job_id}#{n}" if copies > 1 else job_id
                record: dict[str, Any] = {"id": delivery_id, "jobId": job_id, "url": url, "body": body, "attempts": [],
                          "state": "pending", "created_ms": real_ms(), "fail_first": fail_first}
                record["size"] = record_size(record, self.ctx.config.webhook_attempts)
                old = store.get(DELIVERY, delivery_id)
                added += record["size"] - (old.get("size", 0) if old else 0)
                store.put(DELIVERY, delivery_id, record)
                store.index_add(DUE, delivery_id, real_ms() + delay_ms)
                store.index_add(LOG, delivery_id, record["created_ms"])
                ids.append(delivery_id)
            store.put_meta(LOG_BYTES_KEY, (store.get_meta(LOG_BYTES_KEY) or 0) + added)
            self._trim()
        return ids

    def _trim(self) -> None:
        """Drop the oldest finished deliveries while the log is over its entry or byte budget (inside atomic)."""
        store = self.ctx.store
        max_entries = self.ctx.config.webhook_log_limit
        max_bytes = self.ctx.config.webhook_log_bytes
        size = store.get_meta(LOG_BYTES_KEY) or 0
        excess = store.index_count(LOG) - max_entries
        if excess <= 0 and size <= max_bytes:
            return
        skipped = 0  # still-due deliveries stepped over (they keep their place at the old end)
        while (excess > 0 or size > max_bytes) and skipped <= TRIM_SCAN:
            batch = store.index_range(LOG, skipped, max(excess, 1))  # usually one: the oldest
            if not batch:
                break
            for delivery_id, record in zip(batch, store.get_many(DELIVERY, batch), strict=True):
                if excess <= 0 and size <= max_bytes:
                    break
                if record is not None and store.index_score(DUE, delivery_id) is not None:
                    skipped += 1  # still to be delivered: kept (the due queue is bounded by the jobs that made it)
                    continue
                store.index_remove(LOG, delivery_id)
                store.delete(DELIVERY, delivery_id)
                size -= record.get("size", 0) if record else 0
                excess -= 1
        store.put_meta(LOG_BYTES_KEY, max(0, size))

    def claim(self, limit: int = 16, accept: Callable[[dict[str, Any]], bool] | None = None,
              scan: int = 256) -> list[dict[str, Any]]:
        """Take due deliveries, leasing each for ``webhook_lease_s`` so no other worker takes it meanwhile.

        ``accept(record)`` (the worker's per-receiver limit) may turn a due delivery down: it is left
        due, unleased, for a later tick or another worker, and the scan goes on (up to ``scan`` due
        records) so deliveries to other receivers are not stuck behind it.
        """
        now = real_ms()
        lease_ms = int(self.ctx.config.webhook_lease_s * 1000)
        if not self.ctx.store.index_by_score(DUE, max_score=now, limit=1, hint=True):
            return []  # a peek without the lock: every worker ticks 20 times a second
        return self.ctx.store.transact(lambda: self._claim(now, lease_ms, limit, accept, scan))

    def _claim(self, now: int, lease_ms: int, limit: int, accept: Callable[[dict[str, Any]], bool] | None,
               scan: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        due = self.ctx.store.index_by_score(DUE, max_score=now, limit=scan if accept else limit)
        ids = [delivery_id for delivery_id, _ in due]
        for delivery_id, record in zip(ids, self.ctx.store.get_many(DELIVERY, ids), strict=True):
            if record is None:
                self.ctx.store.index_remove(DUE, delivery_id)
                continue
            if accept is not None and not accept(record):
                continue
            self.ctx.store.index_add(DUE, delivery_id, now + lease_ms)
            out.append(record)
            if len(out) >= limit:
                break
        return out

    def record(self, delivery_id: str, *, ok: bool, status: int | None, error: str | None,
               duration_ms: int, max_attempts: int) -> dict[str, Any] | None:
        """Log one attempt; finish the delivery or schedule the next try (one transaction, run again on conflict)."""
        return self.ctx.store.transact(lambda: self._record(delivery_id, ok=ok, status=status, error=error,
                                                            duration_ms=duration_ms, max_attempts=max_attempts))

    def _record(self, delivery_id: str, *, ok: bool, status: int | None, error: str | None,
                duration_ms: int, max_attempts: int) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.ctx.store.get(DELIVERY, delivery_id)
        if record is None:
            return None
        if error is not None and len(error) > ERROR_LIMIT:
            error = error[:ERROR_LIMIT] + "…"
        record["attempts"].append({"at_ms": real_ms(), "status": status, "error": error,
                                   "duration_ms": duration_ms, "ok": ok})
        n = len(record["attempts"])
        if ok:
            record["state"] = "delivered"
            self.ctx.store.index_remove(DUE, delivery_id)
        elif n >= max_attempts:
            record["state"] = "failed"
            self.ctx.store.index_remove(DUE, delivery_id)
        else:
            record["state"] = "retrying"
            self.ctx.store.index_add(DUE, delivery_id, real_ms() + BACKOFF_MS[min(n - 1, len(BACKOFF_MS) - 1)])
        self.ctx.store.put(DELIVERY, delivery_id, record)
        self.ctx.emit("webhook.attempt.ok" if ok else "webhook.attempt.error")
        if record["state"] != "retrying":
            self.ctx.emit("webhook." + record["state"])  # webhook.delivered / webhook.failed
            self._trim()  # an enqueue stepped over it while it was due: the budget holds once it is done
        return record

    def release(self, delivery_ids: list[str]) -> None:
        """Hand claimed deliveries back as due now (a server stopping mid-attempt): the next claimant retries."""
        now = real_ms()

        def hand_back() -> None:
            for delivery_id in delivery_ids:
                record = self.ctx.store.get(DELIVERY, delivery_id)
                if record is not None and record["state"] in ("pending", "retrying"):
                    self.ctx.store.index_add(DUE, delivery_id, now)

        self.ctx.store.transact(hand_back)

    def pending(self) -> int:
        return self.ctx.store.index_count(DUE)

    def log(self, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A page of the log, newest first: two indexed reads, whatever the log's size."""
        ids = self.ctx.store.index_range(LOG, offset, limit, reverse=True)
        return [d for d in self.ctx.store.get_many(DELIVERY, ids) if d]


def record_size(record: dict[str, Any], attempts: int) -> int:
    """Bytes a delivery takes in the log: its JSON now plus an allowance for the attempts it may log."""
    return len(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")) + attempts * ATTEMPT_BYTES
