"""The whole contract, checked against the simulator by the project's own runner (schemathesis + semantic checks).

All phases (examples, coverage, fuzzing, stateful along the links), every schemathesis check, on a live server
whose clock runs 1000x so that jobs really finish during the run and upscales and artifacts get exercised.
"""

from __future__ import annotations

from ltxstudio_mock.contracts import run_checks
from ltxstudio_mock.mock_server import SimConfig, create_app
from ltxstudio_mock.mock_server.server import ServerThread


def test_sim_passes_the_whole_contract_in_every_phase() -> None:
    app = create_app(SimConfig(speed=1000, seed=7, strict_responses=True))
    server = ServerThread(app).start()
    try:
        report = run_checks(f"{server.url}/v1/ltxstudio", "demo-token", max_examples=25, seed=7)
    finally:
        server.stop()
    assert report.ok, report.format()
    assert len(report.tested) == len(report.operations) == 15
    assert report.cases > 1000
