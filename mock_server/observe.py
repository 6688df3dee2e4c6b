"""The request path's ``observe`` step: what each answered request tells the metrics and the access log.

The request pipeline calls it once per answer, after the answer is made (``pipeline.py: Pipeline.observe``, for
every request of both contracts and whatever Flask serves), with the operationId the request was routed to and
its tenant. ``failed`` hears the errors that did not become an answer of ours (a store that
is down when a request begins): the metrics count the store's. Built only when one of the two is on
(:func:`observer`): with both off the step is a single ``is None`` test.

Neither does its work on the request thread: the metrics queue the request's figures and fold them into their
sums at the scrape (``metrics.RequestCounts``; with ``--workers N`` they are written through, as a scrape by any
worker must see them), the access log queues them for its writer thread (``access_log.AccessLog``). Both on:
under 1 us on the request's thread, ~3-4 us of CPU in all, where both written on the request thread cost ~14 us
(``benchmarks/observe_bench.py``, docs/performance.md).
"""

from __future__ import annotations

from typing import Any

from mock_server.access_log import AccessLog
from mock_server.config import SimConfig
from mock_server.metrics import Metrics, is_store_error
from mock_server.sim import Simulator


class Observer:
    """The metrics and the access log (either may be None) behind one call."""

    def __init__(self, metrics: Metrics | None, access_log: AccessLog | None) -> None:
        self.metrics = metrics
        self.access_log = access_log
        self._count = metrics.observe if metrics is not None else None  # bound once: the hot path looks up less

    def __call__(self, environ: dict[str, Any], method: str, path: str, status: int, seconds: float,
                 operation: str | None, tenant: str | None) -> None:
        count = self._count
        if count is not None:
            count((operation, method, status, seconds))
        log = self.access_log
        if log is not None:
            log(environ, method, path, status, seconds, operation, tenant)

    def failed(self, exc: BaseException) -> None:
        """An error on the request path (answered 500 by us or by the server): counted when the store's."""
        if self.metrics is not None and (is_store_error(exc) or self.metrics.sim.store_failure(exc) is not None):
            self.metrics.store_error()

    def flush(self) -> None:
        """Write the access log lines queued so far (tests that read the file right after a request)."""
        if self.access_log is not None:
            self.access_log.flush()

    def close(self) -> None:
        """The server stops: write what the access log has queued, end its writer (idempotent)."""
        if self.access_log is not None:
            self.access_log.close()


def observer(sim: Simulator, config: SimConfig) -> Observer | None:
    """The app's observer: metrics when ``config.metrics``, an access log when ``config.access_log``; else None."""
    metrics = Metrics(sim) if config.metrics else None
    access_log = AccessLog(config.access_log, config.log_format) if config.access_log else None
    if metrics is None and access_log is None:
        return None
    return Observer(metrics, access_log)

