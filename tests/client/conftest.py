"""Fixtures of the client's tests: a fake clock, and clients of both kinds whose HTTP goes to `responses`
(`clients.py`: every behaviour test runs with the blocking and the async client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from clients import BASE, KINDS, TOKEN, FakeClock, open_client


@pytest.fixture(params=KINDS)
def client_kind(request: pytest.FixtureRequest) -> str:
    """Which client a test runs with: every behaviour test runs with both."""
    return str(request.param)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Every request goes to `responses`; an unregistered URL raises ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def make_client(client_kind: str) -> Iterator[Callable[..., Any]]:
    """Clients of this test's kind (closed at the end); arguments as `LTXStudioClient`'s."""
    with_stack: list[Any] = []

    def factory(*args: Any, **kwargs: Any) -> Any:
        manager = open_client(client_kind, *args, **kwargs)
        with_stack.append(manager)
        return manager.__enter__()

    yield factory
    for manager in reversed(with_stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def api(make_client: Callable[..., Any], fake_clock: FakeClock, mocked: responses.RequestsMock) -> Any:
    return make_client(TOKEN, BASE, retries=3, sleep=fake_clock.sleep, clock=fake_clock.time)
