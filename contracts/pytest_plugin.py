"""The ``ltx_mock`` pytest fixture, registered through the ``pytest11`` entry point.

Installing ltxstudio-mock is enough: any test that names ``ltx_mock`` gets a live
simulator on a free loopback port, started once per session inside the test
process and reset before each test (fresh state, clock paused), with its base
URL, token, a control-API helper and a ready reference client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from contracts.admin_client import AdminClient

DEMO_TOKEN = "demo-token"


@dataclass
class LtxMock:
    """A running simulator, as tests see it."""

    url: str  # http://127.0.0.1:PORT
    token: str
    admin: AdminClient
    app: Any = field(repr=False)

    @property
    def base_url(self) -> str:
        """The API root to give a client instead of https://api.useapi.net/v1/ltxstudio."""
        return f"{self.url}/v1/ltxstudio"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def simulator(self) -> Any:
        """The in-process Simulator (white-box access for tests that need it)."""
        return self.app.extensions["ltx_sim"]

    @property
    def client(self) -> Any:
        """A reference LTXStudioClient pointed at this simulator; every response it reads is checked against
        openapi.yaml."""
        from client import LTXStudioClient
        from contracts.validate import validate_response

        return LTXStudioClient(self.token, base_url=self.base_url, response_hook=validate_response)

    def reset(self) -> None:
        self.admin.reset()


def start_simulator(**config: Any) -> tuple[Any, Any]:
    """Start a simulator on a free port in a thread; returns (ServerThread, app)."""
    from mock_server import SimConfig, create_app
    from mock_server.server import ServerThread

    settings = {"paused": True, "strict_responses": True, "seed": 1234, **config}
    app = create_app(SimConfig(**settings))
    return ServerThread(app).start(), app


@pytest.fixture(scope="session")
def ltx_mock_server() -> Iterator[Any]:
    """One live simulator for the whole session."""
    server, _app = start_simulator()
    yield server
    server.stop()


@pytest.fixture
def ltx_mock(ltx_mock_server: Any) -> LtxMock:
    """A live simulator in its start-up state: demo token, demo account, paused clock, no faults."""
    admin = AdminClient(ltx_mock_server.url)
    admin.reset()
    admin.clear_faults()
    return LtxMock(url=ltx_mock_server.url, token=DEMO_TOKEN, admin=admin, app=ltx_mock_server.app)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ltx_contract: run the ltxstudio-mock contract checks in this test")
