"""The background worker: lets simulated time happen without requests.

Every few milliseconds it settles due work (so a job's webhook fires when the
simulated clock reaches its end, even if nobody polls; skipped when a request of
this process settled it within the tick: each request settles what is due first,
and on Redis the worker's transaction was refused against the requests' ones) and
hands due webhook deliveries to a thread pool. It never holds the store's lock while talking to
the network.

Deliveries are isolated per receiver (host and port): at most ``PER_HOST``
attempts to one receiver run at once; the others stay due in the store, unclaimed
(so their lease never runs out while they wait, and another worker may take them),
so receivers that hang or drip only ever delay themselves. The pool is large
enough for ``POOL // PER_HOST`` slow receivers at once before a healthy one waits,
and each attempt ends by its deadline (``webhooks.py``).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mock_server.config import SimConfig
from mock_server.sim import Conflict, Simulator
from mock_server.webhooks import deliver, netloc_key

log = logging.getLogger("ltx_mock.worker")
TICK_S = 0.05
POOL = 32  # delivery threads: idle ones cost nothing; each busy one is bounded by the attempt deadline
PER_HOST = 2  # attempts in flight to one receiver (host:port) at once


class Worker:
    """One daemon thread plus a pool for webhook POSTs; ``stop()`` ends both."""

    def __init__(self, sim: Simulator, config: SimConfig) -> None:
        self.sim = sim
        self.config = config
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=POOL, thread_name_prefix="ltx-webhook")
        self._thread = threading.Thread(target=self._run, name="ltx-worker", daemon=True)
        self._inflight: set[str] = set()  # claimed here and being attempted
        self._busy: collections.Counter[str] = collections.Counter()  # attempts running, per receiver
        self._lock = threading.Lock()

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop ticking; give running deliveries ``grace_s`` to finish, then abandon them for a later retry.

        Abandoned and queued deliveries are handed back to the store as due now, so a server that
        shares or persists the store (``--state``/``--store``) retries them; nothing waits on a receiver.
        """
        self._stop.set()
        self._thread.join(timeout=2)
        end = time.monotonic() + grace_s
        while time.monotonic() < end:
            with self._lock:
                if not self._busy:
                    break
            time.sleep(0.02)
        with self._lock:
            left = sorted(self._inflight)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if left:
            try:
                self.sim.deliveries.release(left)
            except Exception:  # the store may be closing too: the lease then runs out on its own
                log.exception("could not hand back %d webhook deliveries", len(left))

    def tick(self) -> None:
        """One round: settle, then claim and start due deliveries, at most ``PER_HOST`` per receiver at once."""
        if time.monotonic() - self.sim.settled_at >= TICK_S:  # else a request here settled it a moment ago
            self.sim.begin_request(writes=False)  # settles; one consistent read of the store (Redis: one round trip)
            self.sim.end_request()  # the settling's writes (Redis: Conflict when another process settled them first)
        self._tick()  # claims are transactions of their own, sent before any delivery starts

    def _tick(self) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            busy = collections.Counter(self._busy)
            inflight = set(self._inflight)
        capacity = POOL - sum(busy.values())
        if capacity <= 0:
            return

        taken: set[str] = set()  # accepted already: the claim's transaction may run again (Redis, on conflict)

        def accept(record: dict) -> bool:
            if record["id"] in taken:
                return True
            key = netloc_key(record["url"])
            if record["id"] in inflight or busy[key] >= PER_HOST:
                return False
            busy[key] += 1
            taken.add(record["id"])
            return True

        for record in self.sim.deliveries.claim(limit=capacity, accept=accept):
            key = netloc_key(record["url"])
            with self._lock:
                self._inflight.add(record["id"])
                self._busy[key] += 1
            self._pool.submit(self._deliver, key, record)

    def _deliver(self, key: str, record: dict) -> None:
        try:
            deliver(self.sim.deliveries, record, timeout=self.config.webhook_timeout_s,
                    attempts=self.config.webhook_attempts, allow=self.config.webhook_allow)
        except Exception:
            log.exception("webhook delivery crashed")
        finally:
            with self._lock:
                self._inflight.discard(record["id"])
                self._busy[key] -= 1
                if self._busy[key] <= 0:
                    del self._busy[key]

    def _run(self) -> None:
        down: str | None = None  # the store failure last logged: said once, not every tick until it recovers
        while not self._stop.is_set():
            try:
                self.tick()
                if down is not None:
                    log.warning("store available again: webhooks and settling resume")
                    down = None
            except Conflict:
                pass  # another process settled the same work first: this tick's writes are void, the next tick reads it
            except Exception as exc:
                failure = self.sim.store_failure(exc)
                if failure is None:
                    log.exception("worker tick failed")
                elif failure.message != down:
                    down = failure.message
                    log.warning("worker paused: %s", down)
            self._stop.wait(TICK_S)
