"""The background worker: lets simulated time happen without requests.

Every few milliseconds it settles due work (so a job's webhook fires when the
simulated clock reaches its end, even if nobody polls) and hands due webhook
deliveries to a small thread pool. It never holds the store's lock while
talking to the network.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from ltxstudio_mock.mock_server.config import SimConfig
from ltxstudio_mock.mock_server.sim import Simulator
from ltxstudio_mock.mock_server.webhooks import deliver

log = logging.getLogger("ltx_mock.worker")
TICK_S = 0.05


class Worker:
    """One daemon thread plus a pool for webhook POSTs; ``stop()`` ends both."""

    def __init__(self, sim: Simulator, config: SimConfig) -> None:
        self.sim = sim
        self.config = config
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ltx-webhook")
        self._thread = threading.Thread(target=self._run, name="ltx-worker", daemon=True)
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> None:
        """One round: settle, then dispatch due deliveries."""
        self.sim.settle(self.sim.now())
        for record in self.sim.deliveries.claim():
            with self._lock:
                if record["id"] in self._inflight:
                    continue
                self._inflight.add(record["id"])
            self._pool.submit(self._deliver, record)

    def _deliver(self, record: dict) -> None:
        try:
            deliver(self.sim.deliveries, record, timeout=self.config.webhook_timeout_s,
                    attempts=self.config.webhook_attempts)
        except Exception:
            log.exception("webhook delivery crashed")
        finally:
            with self._lock:
                self._inflight.discard(record["id"])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("worker tick failed")
            self._stop.wait(TICK_S)
