"""``GET /__admin/metrics``: Prometheus metrics through ``prometheus-client`` (its text format, its multiprocess mode).

What is counted, and where:

==========================================  =================================================================
``ltx_mock_http_requests_total``            every answer: operationId, method, status (the gateway's and Flask's
                                            ``observe`` step, after the answer is made)
``ltx_mock_http_request_duration_seconds``  the same requests' time in the simulator, per operationId (histogram)
``ltx_mock_rate_limited_total``             the 429s among them, per operationId
``ltx_mock_credits_charged_total``          credits charged / refunded by the rules (``Context.emit`` in
``ltx_mock_credits_refunded_total``         ``sim/ltx.py``): spent = charged - refunded
``ltx_mock_webhook_attempts_total``         webhook POSTs by outcome (ok, error); deliveries that ended by
``ltx_mock_webhook_deliveries_total``       result (delivered, failed): ``sim/deliveries.py``
``ltx_mock_store_errors_total``             requests, probes and scrapes that failed in the store
``ltx_mock_jobs``                           jobs stored, by state, read from the store at scrape time
``ltx_mock_build_info``                     the version (value 1)
==========================================  =================================================================

Across ``--workers N`` (N > 1): ``ltx-mock serve`` gives every run a fresh directory in ``PROMETHEUS_MULTIPROC_DIR``
before any worker starts (``cli.metrics_dir``); each process's counters then live in its own memory-mapped file there
and a scrape, answered by whichever worker, sums them all (prometheus-client's ``MultiProcessCollector``). The jobs
gauge comes from the shared store, so every worker reads the same figure. With one worker (the default), in tests and
in the in-process mode, the counters live in this app's own registry: the one process that serves is the one
scraped.

Cost: one counter increment and one histogram observation per request, ~2 us in a registry of its own and ~6 us
memory-mapped in multiprocess mode (``benchmarks/observe_bench.py``), so metrics are on by default (``--no-metrics``
turns them off).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

from contracts.version import __version__
from mock_server.sim import Simulator

log = logging.getLogger("ltx_mock")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # any other: "OTHER" (bounded)
NO_OPERATION = "none"  # a request no operation matched (404s, static files)
# Simulated requests take microseconds to tens of ms; pollForResult holds and fault latencies take seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
EVENTS = {  # Context.emit events -> (counter attribute, label value or None)
    "credits.charged": ("credits_charged", None), "credits.refunded": ("credits_refunded", None),
    "webhook.attempt.ok": ("webhook_attempts", "ok"), "webhook.attempt.error": ("webhook_attempts", "error"),
    "webhook.delivered": ("webhook_deliveries", "delivered"), "webhook.failed": ("webhook_deliveries", "failed"),
}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STORE = __name__.rpartition(".")[0] + ".store"  # mock_server.store here, ltxstudio_mock.mock_server.store installed


def is_store_error(exc: BaseException) -> bool:
    """Did this failure come from the store (Redis unreachable or its lock lost, SQLite locked or read-only)?"""
    module = type(exc).__module__ or ""
    return isinstance(exc, OSError | sqlite3.Error) or module.startswith(
        ("redis", _STORE))


class Metrics:
    """This app's counters, fed by ``observe`` (every answer), ``store_error`` and the rules' events."""

    def __init__(self, sim: Simulator) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.sim = sim
        folder = os.environ.get(MULTIPROC_ENV)
        self.multiprocess = bool(folder) and os.path.isdir(folder or "")
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("ltx_mock_http_requests", "Requests answered, by operationId, method and status.",
                                ["operation", "method", "status"], registry=r)
        self.latency = Histogram("ltx_mock_http_request_duration_seconds",
                                 "Time from the request's arrival in the app to its answer, by operationId.",
                                 ["operation"], buckets=BUCKETS, registry=r)
        self.rate_limited = Counter("ltx_mock_rate_limited", "429 answers, by operationId.", ["operation"],
                                    registry=r)
        self.credits_charged = Counter("ltx_mock_credits_charged", "Credits charged for generations.", registry=r)
        self.credits_refunded = Counter("ltx_mock_credits_refunded", "Credits refunded (failed generations).",
                                        registry=r)
        self.webhook_attempts = Counter("ltx_mock_webhook_attempts", "Webhook POSTs made, by outcome (ok, error).",
                                        ["outcome"], registry=r)
        self.webhook_deliveries = Counter("ltx_mock_webhook_deliveries",
                                          "Webhook deliveries that ended, by result (delivered, failed).",
                                          ["result"], registry=r)
        self.store_errors = Counter("ltx_mock_store_errors",
                                    "Requests, health probes and scrapes that failed in the store.", registry=r)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels resolved once per combination
        sim.ctx.listeners.append(self.on_event)

    # -- feeding --------------------------------------------------------------------------------------------
    def observe(self, method: str, operation: str | None, status: int, seconds: float) -> None:
        """One answered request (the gateway's and Flask's ``observe`` step)."""
        op = operation or NO_OPERATION
        key = (op, method, status)
        pair = self._children.get(key)
        if pair is None:
            verb = method if method in METHODS else "OTHER"
            pair = (self.requests.labels(op, verb, str(status)), self.latency.labels(op))
            if len(self._children) < 10000:  # bounded: operations, methods and statuses are few
                self._children[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)
        if status == 429:
            self.rate_limited.labels(op).inc()

    def store_error(self) -> None:
        self.store_errors.inc()

    def on_event(self, event: str, amount: int) -> None:
        """A rule's event (``Context.emit``): credits and webhook outcomes."""
        target = EVENTS.get(event)
        if target is None:
            return
        counter = getattr(self, target[0])
        (counter.labels(target[1]) if target[1] else counter).inc(amount)

    # -- the scrape -----------------------------------------------------------------------------------------
    def render(self) -> bytes:
        """The Prometheus text exposition of every process's counters plus the store's gauges."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        state = StateCollector(self)
        registry.register(state)
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(state)


class StateCollector:
    """Gauges read at scrape time: jobs by state from the (shared) store, and the build."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily("ltx_mock_build_info", "The simulator's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        try:
            states = self.metrics.sim.job_states()
        except Exception as exc:  # the store is down: the counters still scrape, the failure is counted
            if not is_store_error(exc):
                raise
            self.metrics.store_error()
            log.warning("metrics: jobs by state unavailable: %s", type(exc).__name__)
            return
        jobs = GaugeMetricFamily("ltx_mock_jobs", "Jobs stored, by state (active, completed, failed, cancelled).",
                                 labels=["state"])
        for name, count in sorted(states.items()):
            jobs.add_metric([name], count)
        yield jobs
