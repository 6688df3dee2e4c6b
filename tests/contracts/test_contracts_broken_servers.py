"""``ltx-mock check`` fails on each deliberately broken server, naming the defect, and passes the healthy twin."""

from __future__ import annotations

import pytest
from broken_servers import DEFECTS, Defect, healthy_app, serving

from contracts import run_checks

RUN = {"max_examples": 8, "seed": 1}


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
def test_contracts_check_names_the_defect(defect: Defect) -> None:
    with serving(defect.make()) as url:
        report = run_checks(url, "demo-token", include=defect.include, **RUN, **defect.options)
    assert not report.ok
    named = [f for f in report.failures if f.check == defect.check and defect.title.lower() in f.title.lower()]
    assert named, report.format()
    failure = named[0]
    assert failure.curl.startswith("curl "), failure.format()
    assert failure.expected and failure.status is not None
    assert "demo-token" not in report.format()  # the token is read from $USEAPI_TOKEN in the reproduction


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
def test_contracts_same_run_passes_on_the_healthy_simulator(defect: Defect) -> None:
    with serving(defect.healthy()) as url:
        report = run_checks(url, "demo-token", include=defect.include, **RUN, **defect.options)
    assert report.ok, report.format()
    assert report.cases > 0


def test_contracts_whole_contract_passes_on_the_healthy_simulator() -> None:
    """Every operation, stateless and stateful along the links (coverage: see crash_on_bad_input)."""
    with serving(healthy_app(paused=False, speed=1000)) as url:
        report = run_checks(url, "demo-token", max_examples=3, seed=2, phases=["examples", "fuzzing", "stateful"])
    assert report.ok, report.format()
    assert len(report.tested) == len(report.operations) == 17  # 15 and the 2 older image paths
