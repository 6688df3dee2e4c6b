"""Fixtures of the test-control tests: a client on simulated time, sample PNG bytes (receiver: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import png_bytes


class SimTime:
    """A client's sleep and clock on the simulator's clock: waiting N seconds advances it N seconds."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.t = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        self.admin.advance(seconds)

    def clock(self) -> float:
        return self.t


@pytest.fixture
def sim_time(ltx_mock: Any) -> SimTime:
    return SimTime(ltx_mock.admin)


@pytest.fixture
def client(ltx_mock: Any, sim_time: SimTime) -> Iterator[Any]:
    """The reference client on the simulator, its waits and retry back-offs spent in simulated time."""
    from client import LTXStudioClient

    c = LTXStudioClient(ltx_mock.token, base_url=ltx_mock.base_url, sleep=sim_time.sleep, clock=sim_time.clock)
    yield c
    c.close()


@pytest.fixture
def png() -> Callable[..., bytes]:
    return png_bytes
