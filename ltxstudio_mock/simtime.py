"""Time that never waits: where a test would sleep, an in-process simulator's clock moves instead.

Two switches, shared by the ``ltx_mock`` fixture and ``mock_ltxstudio``:

- ``claim_clients(prefix)``: every ``LTXStudioClient`` aimed at ``prefix`` (and built without its own
  ``sleep=``) advances the simulated clock where it would sleep: ``wait()`` polling and 429/5xx retries.
  This goes through the client's documented time hook (``client._retry.use_time_source``), no patching.
- ``simulate_sleep()``: patches ``time.sleep`` (the attribute of the ``time`` module) while active, so the
  code under test's own poll loop (``time.sleep(5)``) advances the simulated clock instead of waiting.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ltxstudio_mock.client._retry import TimeSource, use_time_source

_real_sleep = time.sleep  # bound at import: never the patched one
REAL_YIELD_S = 0.002  # each simulated sleep still lets real threads (webhook deliveries) run this long
_patch_lock = threading.Lock()


class SimulatedTime:
    """The clock of one simulator app running in this process (``create_app(...)``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sim = app.extensions["ltx_sim"]

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.sim.now() / 1000

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass now, settle what fell due and hand out due webhooks.

        The simulated clock moves whether it is paused or running. A few real milliseconds still pass,
        so a loop that waits for a real webhook delivery (a worker thread) does not spin without end.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"sleep length must be a number, not {type(seconds).__name__}")
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if seconds > 0:
            self.sim.clock.set(advance_s=float(seconds))
        worker = self.app.extensions.get("ltx_worker")
        if worker is not None:
            worker.tick()  # settle now and start due webhook deliveries, not at the worker's next tick
        else:
            self.sim.settle(self.sim.now())
        _real_sleep(min(float(seconds), REAL_YIELD_S))

    def source(self) -> TimeSource:
        return TimeSource(self.sleep, self.now)

    def client(self, token: str, base_url: str) -> Any:
        """A reference LTXStudioClient on ``base_url`` that checks every response against openapi.yaml and,
        where it would sleep (wait() polling, 429 retries), advances this clock instead."""
        from ltxstudio_mock.client import LTXStudioClient
        from ltxstudio_mock.contracts.validate import validate_response

        return LTXStudioClient(token, base_url=base_url, response_hook=validate_response,
                               sleep=self.sleep, clock=self.now)

    def claim_clients(self, prefix: str) -> Callable[[], None]:
        """LTXStudioClients aimed at ``prefix`` use this clock; returns the undo."""
        return use_time_source(prefix, self.source())

    @contextmanager
    def simulate_sleep(self) -> Iterator[None]:
        """Patch ``time.sleep`` so that a call advances this simulator's clock instead of waiting.

        Calls made by ltxstudio-mock's own modules (latency faults, the simulator's pollForResult hold on
        a running clock) still sleep for real. See docs/test-control.md for what is and is not covered.
        """
        with _patch_lock:
            previous = time.sleep

            def simulated_sleep(seconds: float) -> None:
                caller = sys._getframe(1).f_globals.get("__name__", "")
                if caller.startswith("ltxstudio_mock."):
                    previous(seconds)
                else:
                    self.sleep(seconds)

            simulated_sleep.__doc__ = "time.sleep, simulated by ltxstudio-mock: advances the simulator's clock."
            time.sleep = simulated_sleep  # type: ignore[assignment]
        try:
            yield
        finally:
            with _patch_lock:
                if time.sleep is simulated_sleep:
                    time.sleep = previous
