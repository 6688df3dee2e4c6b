"""The ``ltx_mock`` pytest fixture, registered through the ``pytest11`` entry point.

Installing ltxstudio-mock is enough: any test that names ``ltx_mock`` gets a live
simulator on a free loopback port, started once per session inside the test
process and reset before each test (fresh state, clock paused), with its base
URL, token, a control-API helper and a ready reference client.

Three fixtures:

- ``ltx_mock``: that live simulator (a socket on 127.0.0.1). Any ``LTXStudioClient`` or
  ``AsyncLTXStudioClient`` aimed at it advances its simulated clock where it would sleep (``wait()`` polling,
  429 retries), so nothing waits for real; ``.client`` and ``.aclient`` are ready ones.
- ``ltx_mock_sleep``: ``ltx_mock`` with ``time.sleep`` and ``asyncio.sleep`` simulated for the whole test, so
  the code under test's own poll loop (``time.sleep(5)``, ``await asyncio.sleep(3)``) moves simulated time.
- ``ltx_mock_inprocess``: ``mock_ltxstudio()`` active for the test: https://api.useapi.net itself is
  answered in process (no socket); ``.simulate_sleep()`` switches simulated sleeping on for a block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from contracts.demo import DEMO_TOKEN
from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.handle import SimulatorHandle

SUITE_MAX_EXAMPLES = 10  # contract checks inside a test suite: seconds, not a minute
CONTRACT_MARKER = "ltx_contract"


@dataclass
class LtxMock(SimulatorHandle):
    """A running simulator, as tests see it (``base_url``, ``headers``, ``simulator``, ``time``, ``client``,
    ``aclient``, ``simulate_sleep()``: ``SimulatorHandle``'s, shared with ``MockLTXStudio``)."""

    url: str  # http://127.0.0.1:PORT
    token: str
    admin: AdminClient
    app: Any = field(repr=False)

    def reset(self) -> None:
        self.admin.reset()

    def check_contract(self, **options: Any) -> Any:
        """Run ``ltx-mock check`` against this simulator in its current state; returns the Report.

        Options are ``contracts.run_checks``'s (``max_examples`` defaults to a suite-friendly
        ``SUITE_MAX_EXAMPLES``). Use ``report.raise_for_failures()`` or ``assert report.ok, report.format()``.
        """
        from contracts.runner import run_checks

        return run_checks(self.base_url, self.token, **{"max_examples": SUITE_MAX_EXAMPLES, **options})


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
def ltx_mock(ltx_mock_server: Any) -> Iterator[LtxMock]:
    """A live simulator in its start-up state: demo token, demo account, paused clock, no faults, no stubs.

    While the test runs, LTXStudioClients aimed at it (without their own ``sleep=``) move its clock
    instead of sleeping.
    """
    admin = AdminClient(ltx_mock_server.url, token=ltx_mock_server.app.extensions["ltx_sim"].config.admin_token)
    admin.reset()
    admin.clear_faults()
    mock = LtxMock(url=ltx_mock_server.url, token=DEMO_TOKEN, admin=admin, app=ltx_mock_server.app)
    release = mock.time.claim_clients(mock.base_url)
    yield mock
    release()


@pytest.fixture
def ltx_mock_sleep(ltx_mock: LtxMock) -> Iterator[LtxMock]:
    """``ltx_mock`` with ``time.sleep`` and ``asyncio.sleep`` simulated for the test: each call advances the
    simulated clock."""
    with ltx_mock.simulate_sleep():
        yield ltx_mock


@pytest.fixture
def ltx_mock_inprocess() -> Iterator[Any]:
    """``mock_ltxstudio()`` for the test: calls to https://api.useapi.net/v1/ltxstudio (requests, httpx,
    aiohttp, urllib3, urllib) are answered in this process (no socket), anything else aimed at that host is
    refused. Yields the ``MockLTXStudio`` (token, headers, base_url, admin, client, aclient).
    """
    from ltxstudio_mock.inprocess import MockLTXStudio

    with MockLTXStudio() as mock:
        yield mock


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ltx_contract: run the ltxstudio-mock contract checks in this test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``ltx_contract`` without its own ``base_url`` gets the ``ltx_mock`` simulator."""
    for item in items:
        marker = item.get_closest_marker(CONTRACT_MARKER)
        fixturenames = getattr(item, "fixturenames", None)
        if marker is not None and "base_url" not in marker.kwargs and fixturenames is not None \
                and "ltx_mock" not in fixturenames:
            fixturenames.append("ltx_mock")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """``@pytest.mark.ltx_contract(**options)``: once the test body passed, check the server it left behind.

    The server is ``ltx_mock`` unless the marker names ``base_url`` (and ``token``); the other
    options go to ``contracts.run_checks``. The test fails with the report if the check does, so a
    test can set a scenario up (drained credits, maxJobs 1, an expired session...) and have the
    whole contract checked in it.
    """
    result = yield
    marker = item.get_closest_marker(CONTRACT_MARKER)
    if marker is not None:
        from contracts.runner import run_checks

        options = {"max_examples": SUITE_MAX_EXAMPLES, **marker.kwargs}
        base_url, token = options.pop("base_url", None), options.pop("token", None)
        if base_url is None:
            mock = getattr(item, "funcargs", {}).get("ltx_mock")
            if mock is None:
                raise pytest.UsageError(f"{item.nodeid}: ltx_contract needs the ltx_mock fixture or base_url=")
            base_url, token = mock.base_url, token or mock.token
        report = run_checks(base_url, token or DEMO_TOKEN, **options)
        if not report.ok:
            raise AssertionError("contract check failed (ltx_contract marker):\n" + report.format())
    return result
