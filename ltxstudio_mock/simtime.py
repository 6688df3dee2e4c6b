"""Time that never waits: where a test would sleep, an in-process simulator's clock moves instead.

Two switches, shared by the ``ltx_mock`` fixture and ``mock_ltxstudio``:

- ``claim_clients(prefix)``: every ``LTXStudioClient`` / ``AsyncLTXStudioClient`` aimed at ``prefix`` (and
  built without its own ``sleep=``) advances the simulated clock where it would sleep: ``wait()`` polling and
  429/5xx retries. This goes through the client's documented time hook (``client._retry.use_time_source``).
- ``simulate_sleep()``: patches ``time.sleep``, ``asyncio.sleep``, anyio's asyncio backend sleep and
  ``trio.sleep`` (where installed) while active, so the code under test's own poll loop (``time.sleep(5)``,
  ``await asyncio.sleep(3)``) advances the simulated clock instead of waiting. An async sleep also moves the
  running event loop's own clock (``loop.time()``, trio's ``current_time()``) by as much, so deadlines and
  timeouts measured on it (``asyncio.timeout``, ``wait_for``, ``anyio.fail_after``) pass in simulated time.
  Exactly what is covered: docs/test-control.md#time.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from client._retry import TimeSource, use_time_source
from ltxstudio_mock.netguard import is_ours

_real_sleep = time.sleep  # bound at import: never the patched one
_real_asleep = asyncio.sleep
REAL_YIELD_S = 0.002  # each simulated sleep still lets real threads (webhook deliveries) run this long
_patch_lock = threading.Lock()
_OFFSET = "_ltx_mock_time_offset"  # attribute of an event loop whose clock simulated sleeps moved
_SLEEPERS = "_ltx_mock_sleepers"  # attribute of that loop: when each simulated sleeper wakes (loop time)


def _own_caller(depth: int = 2) -> bool:
    """Whether the sleep was called by ltxstudio-mock itself (latency faults, pollForResult holds): real."""
    return is_ours(str(sys._getframe(depth).f_globals.get("__name__", "")))


def _checked(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"sleep length must be a number, not {type(seconds).__name__}")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    return float(seconds)


def advance_loop_clock(loop: asyncio.AbstractEventLoop, seconds: float) -> bool:
    """Move ``loop.time()`` forward by ``seconds`` for good (it stays monotonic), so timers, ``wait_for`` and
    deadlines read from the loop see simulated time pass. False where the loop's ``time`` cannot be replaced
    (uvloop's compiled loop): there only the simulator's clock moves."""
    if getattr(loop, _OFFSET, None) is None:
        base = loop.time
        try:
            setattr(loop, _OFFSET, 0.0)
        except AttributeError:
            return False

        def time_with_offset() -> float:
            return float(base() + getattr(loop, _OFFSET))

        loop.time = time_with_offset  # type: ignore[method-assign]
    setattr(loop, _OFFSET, getattr(loop, _OFFSET) + seconds)
    return True


def _next_timer(loop: asyncio.AbstractEventLoop) -> float | None:
    """When the loop's earliest live timer is due (loop time), if the loop lets us see its timers."""
    scheduled = getattr(loop, "_scheduled", None)  # asyncio's BaseEventLoop: a heap of TimerHandles
    if not scheduled:
        return None
    live = [handle.when() for handle in scheduled if not handle.cancelled()]
    return min(live) if live else None


def _trio_next_deadline() -> float:
    """trio's earliest cancel-scope deadline (``move_on_after``, ``fail_after``); trio publishes no reader for
    it, so its runner is asked and, should that change, none is assumed (sleeps then move in one step)."""
    try:
        from trio._core._run import GLOBAL_RUN_CONTEXT

        return float(GLOBAL_RUN_CONTEXT.runner.deadlines.next_deadline())
    except Exception:
        return math.inf


class SimulatedTime:
    """The clock of one simulator app running in this process (``create_app(...)``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sim = app.extensions["ltx_sim"]

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self.sim.now() / 1000

    def advance(self, seconds: float) -> None:
        """Move the simulated clock ``seconds`` now, settle what fell due and hand out due webhooks."""
        if seconds > 0:
            self.sim.clock.set(advance_s=float(seconds))
        worker = self.app.extensions.get("ltx_worker")
        if worker is not None:
            worker.tick()  # settle now and start due webhook deliveries, not at the worker's next tick
        else:
            self.sim.settle(self.sim.now())

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass now, settle what fell due and hand out due webhooks.

        The simulated clock moves whether it is paused or running. A few real milliseconds still pass,
        so a loop that waits for a real webhook delivery (a worker thread) does not spin without end.
        """
        seconds = _checked(seconds)
        self.advance(seconds)
        _real_sleep(min(seconds, REAL_YIELD_S))

    async def asleep(self, seconds: float) -> None:
        """``sleep`` for async code, without blocking the loop: the simulated clock and the running loop's
        clock (``loop.time()``) move to ``now + seconds``.

        The loop's clock moves timer by timer: a timer due before the end (an ``asyncio.timeout``, another
        task's ``call_later``) fires at its own time, so a sleep cancelled by a 10 s timeout moves the clock
        10 s, not the whole sleep. Concurrent sleepers share one timeline: the clock moves to the earliest
        wake-up among them (they set no timers; they yield with ``sleep(0)``), so three tasks polling every
        3 s move it 3 s a round, not 9.
        """
        seconds = _checked(seconds)
        loop = asyncio.get_running_loop()
        if not advance_loop_clock(loop, 0.0):  # a loop whose clock is not ours to move: only simulated time
            self.advance(seconds)
            await _real_asleep(0)
            return
        target = loop.time() + seconds
        sleepers: dict[object, float] = loop.__dict__.setdefault(_SLEEPERS, {})
        me = object()
        sleepers[me] = target
        try:
            while True:
                # Twice: the first lets the other tasks run (and register their own wake-up), the second runs
                # the timers the loop found due meanwhile (it queues them behind us).
                await _real_asleep(0)
                await _real_asleep(0)
                now = loop.time()
                if now >= target:
                    return
                wake = min(sleepers.values())  # the earliest simulated sleeper's (perhaps ours)
                upcoming = _next_timer(loop)
                if upcoming is not None:
                    wake = min(wake, upcoming)
                if wake > now:
                    self.advance(wake - now)
                    advance_loop_clock(loop, wake - now)
        finally:
            del sleepers[me]

    def source(self) -> TimeSource:
        return TimeSource(self.sleep, self.now, self.asleep)

    def client(self, token: str, base_url: str) -> Any:
        """A reference LTXStudioClient on ``base_url`` that checks every response against openapi.yaml and,
        where it would sleep (wait() polling, 429 retries), advances this clock instead."""
        from client import LTXStudioClient
        from contracts.validate import validate_response

        return LTXStudioClient(token, base_url=base_url, response_hook=validate_response,
                               sleep=self.sleep, clock=self.now)

    def aclient(self, token: str, base_url: str) -> Any:
        """The same as ``client`` for async code: an AsyncLTXStudioClient whose waits move this clock."""
        from client import AsyncLTXStudioClient
        from contracts.validate import validate_response

        return AsyncLTXStudioClient(token, base_url=base_url, response_hook=validate_response,
                                    sleep=self.asleep, clock=self.now)

    def claim_clients(self, prefix: str) -> Callable[[], None]:
        """LTXStudioClients (sync and async) aimed at ``prefix`` use this clock; returns the undo."""
        return use_time_source(prefix, self.source())

    # -- simulate_sleep: the code under test's own sleeps -----------------------------------------------------
    @contextmanager
    def simulate_sleep(self) -> Iterator[None]:
        """Patch ``time.sleep``, ``asyncio.sleep``, anyio's and trio's sleep so that a call advances this
        simulator's clock instead of waiting.

        Calls made by ltxstudio-mock's own modules (latency faults, the simulator's pollForResult hold on
        a running clock) still sleep for real. See docs/test-control.md for what is and is not covered.
        """
        with ExitStack() as stack:
            stack.enter_context(self._patch_time_sleep())
            stack.enter_context(self._patch_asyncio_sleep())
            stack.enter_context(self._patch_anyio_sleep())
            stack.enter_context(self._patch_trio_sleep())
            yield

    @staticmethod
    @contextmanager
    def _patched(owner: Any, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
        """Set ``owner.name`` to ``make(previous)`` while open; restore it unless someone replaced ours."""
        with _patch_lock:
            previous = getattr(owner, name)
            replacement = make(previous)
            setattr(owner, name, replacement)
        try:
            yield
        finally:
            with _patch_lock:
                if getattr(owner, name) is replacement:
                    setattr(owner, name, previous)

    def _patch_time_sleep(self) -> Any:
        def make(previous: Callable[[float], None]) -> Callable[[float], None]:
            def simulated_sleep(seconds: float) -> None:
                if _own_caller():
                    previous(seconds)
                else:
                    self.sleep(seconds)

            simulated_sleep.__doc__ = "time.sleep, simulated by ltxstudio-mock: advances the simulator's clock."
            return simulated_sleep

        return self._patched(time, "sleep", make)

    def _patch_asyncio_sleep(self) -> Any:
        def make(previous: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
            async def simulated(delay: float, result: Any) -> Any:
                await self.asleep(delay)
                return result

            def simulated_sleep(delay: float, result: Any = None) -> Coroutine[Any, Any, Any]:
                # sleep(0) is a scheduling checkpoint and sleep(inf) waits for cancellation: both stay real.
                if _own_caller() or not isinstance(delay, (int, float)) or delay <= 0 or not math.isfinite(delay):
                    return previous(delay, result)
                return simulated(delay, result)

            simulated_sleep.__doc__ = "asyncio.sleep, simulated by ltxstudio-mock: advances the simulator's clock."
            return simulated_sleep

        return self._patched(asyncio, "sleep", make)

    def _patch_anyio_sleep(self) -> Any:
        """anyio's asyncio backend bound ``asyncio.sleep`` at import: its ``sleep`` classmethod is patched
        (``anyio.sleep``, ``sleep_until`` and every import of them go through it); on trio, ``trio.sleep``."""
        try:
            from anyio._backends._asyncio import AsyncIOBackend
        except ImportError:
            return ExitStack()

        def make(previous: Any) -> Any:
            async def simulated_sleep(cls: type, delay: float) -> None:
                if delay <= 0 or not math.isfinite(delay):
                    await previous(delay)
                else:
                    await self.asleep(delay)

            return classmethod(simulated_sleep)

        return self._patched_descriptor(AsyncIOBackend, "sleep", make)

    @staticmethod
    @contextmanager
    def _patched_descriptor(owner: type, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
        with _patch_lock:
            raw = owner.__dict__[name]
            replacement = make(getattr(owner, name))
            setattr(owner, name, replacement)
        try:
            yield
        finally:
            with _patch_lock:
                if owner.__dict__.get(name) is replacement:
                    setattr(owner, name, raw)

    def _patch_trio_sleep(self) -> Any:
        try:
            import trio
        except ImportError:
            return ExitStack()

        sleepers_var: Any = trio.lowlevel.RunVar("ltx_mock_sleepers")

        def make(previous: Callable[[float], Coroutine[Any, Any, None]]) -> Any:
            async def simulated_sleep(seconds: float) -> None:
                if _own_caller() or seconds <= 0 or not math.isfinite(seconds):
                    await previous(seconds)
                    return
                seconds = _checked(seconds)
                clock: Any = trio.lowlevel.current_clock()
                if type(clock).__name__ != "SystemClock":  # a MockClock (autojump) is the test's own
                    self.advance(seconds)
                    await previous(seconds)
                    return
                # As asleep() does for asyncio: trio's clock (an offset we can move) goes deadline by deadline.
                target = trio.current_time() + seconds
                sleepers: dict[object, float] = sleepers_var.get({})
                sleepers_var.set(sleepers)
                me = object()
                sleepers[me] = target
                try:
                    while True:
                        await trio.lowlevel.checkpoint()
                        await trio.lowlevel.checkpoint()
                        now = trio.current_time()
                        if now >= target:
                            return
                        wake = min(min(sleepers.values()), _trio_next_deadline())
                        if wake > now:
                            self.advance(wake - now)
                            object.__setattr__(clock, "offset", clock.offset + (wake - now))
                finally:
                    del sleepers[me]

            simulated_sleep.__doc__ = "trio.sleep, simulated by ltxstudio-mock: advances the simulator's clock."
            return simulated_sleep

        return self._patched(trio, "sleep", make)
