"""Fixtures of the client's offline tests: a fake clock and a client whose HTTP goes to `responses`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from ltxstudio_mock.client import LTXStudioClient

BASE = "https://api.test/v1/ltxstudio"
TOKEN = "test-token"


class FakeClock:
    """Monotonic time that only moves when the client sleeps: tests never wait for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Every request goes to `responses`; an unregistered URL raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def api(fake_clock: FakeClock, mocked: responses.RequestsMock) -> Iterator[LTXStudioClient]:
    with LTXStudioClient(TOKEN, BASE, retries=3, sleep=fake_clock.sleep, clock=fake_clock.time) as client:
        yield client
