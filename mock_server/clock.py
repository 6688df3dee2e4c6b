"""Simulated time.

The simulator never asks the wall clock what time it is for a rule: it asks a
:class:`Clock`. Simulated time runs ``speed`` times faster than real time, can be
paused, and can be advanced by any amount, so a test finishes a 90-second Veo job
in microseconds and the same test runs identically on a slow CI machine.

The clock's state is four numbers (an anchor in real time, the simulated time at
that anchor, the speed, a paused flag). It lives in the store, so that every
process sharing a store (see ``store/redis/``) sees the same simulated time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from mock_server.store.base import Store

CLOCK_KEY = "clock"
# The latest simulated instant, 9000-01-01T00:00:00Z: far past any test, and ~1,000 years short of what dates
# can spell (year 9999), so a job's end, a URL's expiry or a token's lifetime computed from "now" always fits.
MAX_SIM_MS = 221845392000000
MAX_SIM_ISO = "9000-01-01T00:00:00.000Z"


@dataclass(frozen=True)
class ClockState:
    """Everything needed to answer "what time is it?" for any real instant."""

    anchor_real: float  # real seconds (time.time()) at the anchor
    anchor_sim_ms: int  # simulated epoch milliseconds at the anchor
    speed: float = 1.0
    paused: bool = False

    def at(self, real: float) -> int:
        """Simulated epoch milliseconds at real instant ``real``."""
        if self.paused:
            return min(MAX_SIM_MS, self.anchor_sim_ms)
        return min(MAX_SIM_MS, self.anchor_sim_ms + int((real - self.anchor_real) * 1000 * self.speed))


class Clock:
    """The simulator's clock, its state kept in a :class:`Store`."""

    def __init__(self, store: Store, *, real_time: Callable[[], float] = time.time) -> None:
        self._store = store
        self._real = real_time

    # -- reading -----------------------------------------------------------
    def state(self) -> ClockState:
        raw = self._store.get_meta(CLOCK_KEY)
        if raw is None:
            return self.reset()
        return ClockState(**raw)

    def now_ms(self, state: ClockState | None = None) -> int:
        """Simulated epoch milliseconds now. ``state``: the clock's state as the caller read it already in its atomic
        block (it cannot change there: a change by anyone else is a conflict), read once for several readings."""
        return (state or self.state()).at(self._real())

    def real_seconds_until(self, sim_ms: int) -> float | None:
        """Real seconds until simulated instant ``sim_ms``; None if time is paused."""
        st = self.state()
        if st.paused:
            return None
        return max(0.0, (sim_ms - st.at(self._real())) / 1000 / st.speed)

    # -- changing ----------------------------------------------------------
    def _save(self, st: ClockState) -> ClockState:
        self._store.put_meta(CLOCK_KEY, asdict(st))
        return st

    def reset(self, *, speed: float = 1.0, start_ms: int | None = None, paused: bool = False) -> ClockState:
        """Start simulated time at ``start_ms`` (default: now, real time), paused there if asked (in the same
        write: pausing afterwards would let it run for however long the thread waited in between)."""
        real = self._real()
        return self._save(ClockState(real, int(real * 1000) if start_ms is None else start_ms, speed, paused))

    def set(self, *, paused: bool | None = None, speed: float | None = None, advance_s: float = 0.0) -> ClockState:
        """Pause/resume, change speed and/or jump ahead, re-anchoring so no time is lost or repeated."""
        with self._store.atomic():
            st = self.state()
            real = self._real()
            now = st.at(real)
            if advance_s < 0:
                raise ValueError("advance must be >= 0: simulated time never goes back")
            if now + advance_s * 1000 > MAX_SIM_MS:  # refused whole: state unchanged
                room = max(0, (MAX_SIM_MS - now) // 1000)
                raise ValueError(f"advance of {advance_s:.15g} s would pass the clock's maximum, {MAX_SIM_ISO}: "
                                 f"at most {room} s are left (POST /__admin/reset starts the clock again)")
            return self._save(
                ClockState(
                    anchor_real=real,
                    anchor_sim_ms=now + int(advance_s * 1000),
                    speed=st.speed if speed is None else speed,
                    paused=st.paused if paused is None else paused,
                )
            )
