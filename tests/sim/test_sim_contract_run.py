"""The whole contract, checked against the simulator by the project's own runner (schemathesis + semantic checks).

All phases (examples, coverage, fuzzing, stateful along the links), every schemathesis check, on a live server
whose clock runs 1000x so that jobs really finish during the run and upscales and artifacts get exercised.
One test per phase, each on its own simulator, so that pytest-xdist spreads the run over both cores. The
examples and stateful phases (every operation once, then chains of calls that read back what was stored) run again
on the Redis and SQLite stores: their records go through JSON text, MessagePack and SQL rows, the in-memory one's
do not.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from contracts import run_checks
from contracts.runner import PHASES
from mock_server import SimConfig, create_app
from mock_server.server import ServerThread

# The least each phase must reach with this seed (measured: examples 12 operations / 22 cases, coverage 15 / 1313,
# fuzzing 15 / 290, stateful 10 / 193): a run that silently stops testing fails here, not only one that finds a defect.
REACH = {"examples": (12, 20), "coverage": (15, 1000), "fuzzing": (15, 250), "stateful": (8, 100)}


def test_sim_contract_run_covers_every_phase() -> None:
    assert set(REACH) == set(PHASES)


@pytest.mark.parametrize("phase", PHASES)
def test_sim_passes_the_whole_contract_in_every_phase(phase: str) -> None:
    app = create_app(SimConfig(speed=1000, seed=7, strict_responses=True))
    server = ServerThread(app).start()
    try:
        report = run_checks(f"{server.url}/v1/ltxstudio", "demo-token", max_examples=25, seed=7, phases=(phase,))
    finally:
        server.stop()
    assert report.ok, report.format()
    assert len(report.operations) == 17  # the 15 operations and the 2 older image paths
    operations, cases = REACH[phase]
    assert len(report.tested) >= operations and report.cases >= cases, (len(report.tested), report.cases)


@pytest.mark.parametrize("store", ["redis", "sqlite"])
def test_sim_passes_the_contract_on_the_shared_stores(store: str, request: pytest.FixtureRequest,
                                                      tmp_path: Path) -> None:
    """Every answer conforms on the stores that serialise what they keep (and serve several processes): every
    operation once (examples), then chains of calls that read back what the store kept (stateful). The fuzzing
    phase added 11-13 s a store to the suite; these two catch a store that garbles a record as it does."""
    url = (f"{request.getfixturevalue('redis_url')}?prefix=sc-{uuid.uuid4().hex[:8]}:" if store == "redis"
           else str(tmp_path / "state.db"))
    app = create_app(SimConfig(speed=1000, seed=7, strict_responses=True, store_url=url))
    server = ServerThread(app).start()
    try:
        report = run_checks(f"{server.url}/v1/ltxstudio", "demo-token", max_examples=25, seed=7,
                            phases=("examples", "stateful"))
    finally:
        server.stop()
        app.extensions["ltx_sim"].close()  # its connections and threads (Redis: the peers' heartbeat)
    assert report.ok, report.format()
    assert len(report.tested) >= REACH["examples"][0] and report.cases >= REACH["examples"][1] + REACH["stateful"][1], (
        len(report.tested), report.cases)
