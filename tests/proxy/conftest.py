"""The upstreams the proxy suite runs against, as they really are (parametrised, never copied):

- ``granian``: the default ``ltx-mock serve`` (granian), a subprocess on a free port: lower-case header names;
- ``werkzeug``: the in-thread werkzeug helper the rest of the suite uses: ``Content-Type`` spelled as in Python;
- ``cdn``: a CDN-like front (``cdn_upstream.py``: lower-case headers, gzip/br, chunked, ``Connection`` varied)
  over an in-thread simulator, which is what the real API looks like from a client.

Each loads the README flows' scenario (``FLOW_SCENARIO``, seed 42) and is reset before each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cdn_upstream import CdnUpstream
from helpers import serve_process
from proxy_helpers import FLOW_SCENARIO

from ltxstudio_mock.pytest_plugin import start_simulator

UPSTREAMS = ("granian", "werkzeug", "cdn")


@pytest.fixture(scope="session")
def flow_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("proxy") / "flow.yaml"
    path.write_text(FLOW_SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def granian_upstream(flow_scenario: Path) -> Iterator[str]:
    """``ltx-mock serve`` as a user starts it (granian), once per session; stopped by its own pid."""
    with serve_process(["--scenario", str(flow_scenario), "--seed", "42"], flow_scenario.parent / "serve.log") as url:
        yield url


@pytest.fixture(scope="session")
def werkzeug_upstream(flow_scenario: Path) -> Iterator[str]:
    server, _app = start_simulator(scenario=str(flow_scenario), seed=42)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def cdn_upstream(flow_scenario: Path) -> Iterator[CdnUpstream]:
    server, app = start_simulator(scenario=str(flow_scenario), seed=42)
    with CdnUpstream(app) as cdn:
        yield cdn
    server.stop()


@pytest.fixture(params=UPSTREAMS)
def api_upstream(request: pytest.FixtureRequest) -> str:
    """The origin of one of the three upstreams, reset to its scenario's start."""
    if request.param == "cdn":
        origin: str = request.getfixturevalue("cdn_upstream").url
    else:
        origin = request.getfixturevalue(f"{request.param}_upstream")
    requests.post(f"{origin}/__admin/reset", timeout=30).raise_for_status()
    return origin
