"""Fixtures for the hostile-input tests: a live simulator per test on the store under test, a webhook receiver."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ltxstudio_mock.pytest_plugin import start_simulator

STORES = ["memory", "sqlite", "redis"]


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The store under test: None (memory), a fresh SQLite file, or a fresh key prefix on the session's Redis."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return f"{request.getfixturevalue('redis_url')}?prefix=ltxsec:{uuid.uuid4().hex[:12]}:"


class Live:
    """A simulator serving on loopback: ``url``, its Flask ``app`` and the in-process ``sim``."""

    def __init__(self, server: Any, app: Any) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.api = f"{server.url}/v1/ltxstudio"
        self.admin = f"{server.url}/__admin"
        self.headers = {"Authorization": "Bearer demo-token"}

    @property
    def sim(self) -> Any:
        return self.app.extensions["ltx_sim"]


@pytest.fixture
def serve(store_url: str | None) -> Iterator[Callable[..., Live]]:
    """``serve(**config)``: start a simulator on the store under test (paused clock, strict responses)."""
    started: list[Any] = []

    def start(**config: Any) -> Live:
        config.setdefault("background", False)
        server, app = start_simulator(store_url=store_url, **config)
        started.append(server)
        return Live(server, app)

    yield start
    for server in started:
        server.stop()
        if store_url and store_url.startswith("redis"):
            server.app.extensions["ltx_sim"].store.clear()
        server.app.extensions["ltx_sim"].store.close()
