"""``GET /__admin/metrics``: Prometheus metrics through ``prometheus-client`` (its text format, its multiprocess mode).

What is counted, and where:

==========================================  =================================================================
``ltx_mock_http_requests_total``            every answer: operationId, method, status (the pipeline's
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

Where the request counts live (the hot path; ``benchmarks/observe_bench.py``, docs/performance.md):

* one worker (the default; tests; the in-process mode): ``observe`` appends ``(operation, method, status,
  seconds)`` to a queue (``collections.deque``: one atomic append, ~0.1 us, no lock); the queue is folded into
  plain per-process sums (:class:`RequestCounts`) at every scrape and whenever it holds ``FOLD_AT`` entries, and
  the scrape turns the sums into the same families a ``Counter`` and a ``Histogram`` would (prometheus-client's
  ``CounterMetricFamily`` / ``HistogramMetricFamily``, its exposition). The scrape folds first, in the process it
  answers from, so it sees every request answered before it. Through prometheus-client's own ``Counter.labels()
  .inc()`` and ``Histogram.observe`` this step cost ~2-4 us a request (a lock each, the bucket search in Python);
  now ~0.3 us on the request's thread, ~1 us with the fold.
* ``--workers N`` (N > 1): ``ltx-mock serve`` gives every run a fresh directory in ``PROMETHEUS_MULTIPROC_DIR``
  before any worker starts (``cli.metrics_dir``); each process's counters live in its own memory-mapped file
  there, written at each request (prometheus-client's ``Counter`` / ``Histogram``, label children cached), and a
  scrape, answered by whichever worker, sums them all (``MultiProcessCollector``). Not queued: a scrape by one
  worker cannot fold another's queue, and it must see every worker's requests at once. ~5 us a request.

The jobs gauge comes from the (shared) store at scrape time, so every worker reads the same figure.

Cost, and the default: metrics are **on** by default; one worker pays ~1 us of CPU a request for them (under 2% of
the cheapest request), so nobody needs to turn them on before the first scrape. ``--no-metrics`` turns them off
(``GET /__admin/metrics`` then answers 404). Why not enabled lazily at the first scrape: counts from before it
would be missing, so a scrape after a test session (what tests/control/test_control_metrics.py does) would not
agree with the journal.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
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
Observed = tuple[str | None, str, int, float]  # (operationId or None, method, status, seconds)
FOLD_AT = 1024  # queued observations folded into the sums by the request that queues this many (bounds memory)
REQUESTS_HELP = "Requests answered, by operationId, method and status."
RATE_LIMITED_HELP = "429 answers, by operationId."
LATENCY_NAME = "ltx_mock_http_request_duration_seconds"
LATENCY_HELP = "Time from the request's arrival in the app to its answer, by operationId."
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
        self.counts: RequestCounts | None = None
        if self.multiprocess:  # written through at each request: every worker's file is current at any scrape
            self.requests = Counter("ltx_mock_http_requests", REQUESTS_HELP, ["operation", "method", "status"],
                                    registry=r)
            self.latency = Histogram(LATENCY_NAME, LATENCY_HELP, ["operation"], buckets=BUCKETS, registry=r)
            self.rate_limited = Counter("ltx_mock_rate_limited", RATE_LIMITED_HELP, ["operation"], registry=r)
            self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels resolved once per combination
            self.observe: Callable[[Observed], None] = self.write_through
        else:  # queued, folded into plain sums, exposed at scrape (RequestCounts)
            self.counts = RequestCounts()
            r.register(self.counts)
            self.observe = self.counts.append
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
        sim.ctx.listeners.append(self.on_event)

    # -- feeding --------------------------------------------------------------------------------------------
    # ``observe((operationId or None, method, status, seconds))``: one answered request (the ``observe`` step):
    # one worker queues it (``RequestCounts.append``), ``--workers N`` writes it through (``write_through``).

    def write_through(self, request: Observed) -> None:
        """One answered request into this process's memory-mapped file (``--workers N``)."""
        operation, method, status, seconds = request
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


class RequestCounts:
    """One process's requests by (operationId, method, status) and latency histograms by operationId.

    A collector (prometheus-client's protocol: ``collect`` yields metric families): at each scrape the queue is
    folded in, then exposed as ``ltx_mock_http_requests_total``, ``ltx_mock_rate_limited_total`` (the 429s
    among them) and ``ltx_mock_http_request_duration_seconds``, the names and buckets a ``Counter`` and a
    ``Histogram`` would give.
    """

    def __init__(self) -> None:
        self.queue: collections.deque[Observed] = collections.deque()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[str, list[int]] = {}  # per operation: one count per bucket (not cumulative), +Inf last
        self.sums: dict[str, float] = {}
        self._lock = threading.Lock()  # one folder at a time (a scrape and a request that queued FOLD_AT)

    def append(self, request: Observed) -> None:
        """Queue one answered request; fold the queue once it holds ``FOLD_AT`` (memory stays bounded)."""
        self.queue.append(request)
        if len(self.queue) >= FOLD_AT:
            self.fold()

    def fold(self) -> None:
        """Move the queued requests into the sums (``deque.popleft`` is atomic: appends may go on meanwhile; a
        scrape folds after the answers it must count were queued, so it counts them)."""
        with self._lock:
            queue, requests, buckets, sums = self.queue, self.requests, self.buckets, self.sums
            pop, find, width = queue.popleft, bisect.bisect_left, len(BUCKETS) + 1
            for _ in range(len(queue)):  # what is queued now (a flood of appends cannot keep this loop going)
                operation, method, status, seconds = pop()
                op = operation or NO_OPERATION
                key = (op, method if method in METHODS else "OTHER", status)
                requests[key] = requests.get(key, 0) + 1
                counts = buckets.get(op)
                if counts is None:
                    counts = buckets[op] = [0] * width
                    sums[op] = 0.0
                counts[find(BUCKETS, seconds)] += 1  # the first bound >= seconds: Prometheus' "le"
                sums[op] += seconds

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        self.fold()
        with self._lock:
            requests = sorted(self.requests.items())
            histograms = sorted((op, list(counts), self.sums[op]) for op, counts in self.buckets.items())
        family = CounterMetricFamily("ltx_mock_http_requests", REQUESTS_HELP, labels=["operation", "method", "status"])
        limited = CounterMetricFamily("ltx_mock_rate_limited", RATE_LIMITED_HELP, labels=["operation"])
        refused: dict[str, int] = {}
        for (op, method, status), count in requests:
            family.add_metric([op, method, str(status)], count)
            if status == 429:
                refused[op] = refused.get(op, 0) + count
        for op, count in refused.items():
            limited.add_metric([op], count)
        yield family
        yield limited
        latency = HistogramMetricFamily(LATENCY_NAME, LATENCY_HELP, labels=["operation"])
        bounds = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]
        for op, counts, total in histograms:
            running, cumulative = 0, []
            for bound, count in zip(bounds, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([op], cumulative, total)
        yield latency


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
