"""The contract checks inside a user's suite: ``ltx_mock.check_contract()`` and ``@pytest.mark.ltx_contract``."""

from __future__ import annotations

import pytest

from ltxstudio_mock.pytest_plugin import LtxMock
from mock_server.config import DEMO_EMAIL

QUICK = {"phases": ["examples", "fuzzing"], "max_examples": 3, "seed": 1}


def test_contracts_fixture_helper_checks_the_simulator(ltx_mock: LtxMock) -> None:
    report = ltx_mock.check_contract(include=["listAccounts", "getSchedulerAvailable"], **QUICK)
    assert report.ok, report.format()
    assert report.tested == {"GET /accounts", "GET /scheduler/available"}


def test_contracts_fixture_helper_reports_a_broken_simulator(ltx_mock: LtxMock) -> None:
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/scheduler/available", status=500)
    report = ltx_mock.check_contract(include=["getSchedulerAvailable"], **QUICK)
    assert not report.ok
    assert any(f.check == "not_a_server_error" for f in report.failures), report.format()
    with pytest.raises(AssertionError, match="Server error"):
        report.raise_for_failures()


@pytest.mark.ltx_contract(include=["createImage", "getAccount"], **QUICK)
def test_contracts_marker_checks_the_state_the_test_left(ltx_mock: LtxMock) -> None:
    """No credits left: every generation is refused with 402, and the refusal must spend nothing."""
    ltx_mock.admin.drain_credits(DEMO_EMAIL)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="the marker fails a test that breaks the contract")
@pytest.mark.ltx_contract(include=["getSchedulerAvailable"], **QUICK)
def test_contracts_marker_fails_the_test_on_a_broken_contract(ltx_mock: LtxMock) -> None:
    ltx_mock.admin.fault(method="GET", path="/v1/ltxstudio/scheduler/available", status=500)
