"""What a test holds of a simulator running in its process: the API root, the auth header, the ``Simulator``,
its clock and ready reference clients.

One base for both ways of running one: the ``ltx_mock`` fixture's ``LtxMock`` (a live loopback socket) and the
in-process mode's ``MockLTXStudio`` (``https://api.useapi.net`` intercepted), so the two cannot drift apart. A
subclass provides ``url`` (the origin), ``token`` and ``app`` (the Flask app ``create_app`` built).
"""

from __future__ import annotations

from typing import Any

from ltxstudio_mock.simtime import SimulatedTime

API_PATH = "/v1/ltxstudio"


class SimulatorHandle:
    """The shared read-only surface: ``base_url``, ``headers``, ``simulator``, ``time``, ``client``,
    ``aclient`` and ``simulate_sleep()``."""

    url: str  # the origin: http://127.0.0.1:PORT, or https://api.useapi.net intercepted
    token: str
    app: Any

    def _require_app(self) -> None:
        """Raise when there is no app to reach yet (the in-process mode before ``start()``)."""

    @property
    def base_url(self) -> str:
        """The API root to give a client (``https://api.useapi.net/v1/ltxstudio`` in the in-process mode)."""
        return self.url + API_PATH

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def simulator(self) -> Any:
        """The in-process Simulator (white-box access for tests that need it)."""
        self._require_app()
        return self.app.extensions["ltx_sim"]

    @property
    def time(self) -> SimulatedTime:
        """The simulator's clock as this process sees it: ``sleep(s)`` advances it, ``now()`` reads it."""
        self._require_app()
        return SimulatedTime(self.app)

    @property
    def client(self) -> Any:
        """A reference LTXStudioClient on ``base_url``; every response it reads is checked against openapi.yaml,
        and where it would sleep (``wait()`` polling, 429 retries) simulated time moves instead."""
        return self.time.client(self.token, self.base_url)

    @property
    def aclient(self) -> Any:
        """The same for async code (pytest-asyncio, anyio): an AsyncLTXStudioClient whose waits and retries move
        the simulated clock; ``async with mock.aclient as api:``."""
        return self.time.aclient(self.token, self.base_url)

    def simulate_sleep(self) -> Any:
        """Context manager: ``time.sleep`` and ``asyncio.sleep`` (anyio, trio) advance the simulated clock while
        it is open."""
        return self.time.simulate_sleep()
