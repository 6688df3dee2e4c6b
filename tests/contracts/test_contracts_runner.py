"""The runner's rules without a full run: which operations, safety, reports, JUnit, token masking."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from contracts.runner import (
    NEVER_REMOTE,
    Failure,
    Report,
    UnsafeTarget,
    _redact,
    is_loopback,
    links_between,
    resolve_operations,
    run_checks,
    select_operations,
)
from contracts.spec import get_contract

LOCAL = "http://127.0.0.1:8787/v1/ltxstudio"
REMOTE = "https://api.useapi.net/v1/ltxstudio"
ALL = list(get_contract().operations)
GETS = [op for op in ALL if get_contract()[op].method == "GET"]


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:8787/v1/ltxstudio", True), ("http://localhost:1/x", True), ("http://[::1]:80/", True),
    ("http://127.9.9.9/", True), ("https://api.useapi.net/v1/ltxstudio", False), ("http://10.0.0.1/", False),
])
def test_contracts_loopback_detection(url: str, local: bool) -> None:
    assert is_loopback(url) is local


def test_contracts_operations_by_id_or_label() -> None:
    assert resolve_operations(["createImage", "GET /assets/{jobId}", "get   /assets", "delete /scheduler/{jobId}"]) \
        == ["createImage", "getJob", "listAssets", "cancelJob"]
    with pytest.raises(ValueError, match="unknown operation 'nope'"):
        resolve_operations(["nope"])


def test_contracts_local_runs_everything_by_default() -> None:
    assert select_operations(LOCAL) == ALL
    assert select_operations(LOCAL, read_only=True) == GETS
    assert select_operations(LOCAL, include=["createImage", "getJob"], exclude=["getJob"]) == ["createImage"]


def test_contracts_remote_refuses_to_spend_without_permission() -> None:
    with pytest.raises(UnsafeTarget, match="--read-only") as exc:
        select_operations(REMOTE)
    assert "createImage" in str(exc.value)
    assert select_operations(REMOTE, read_only=True) == GETS
    assert select_operations(REMOTE, include=["getJob", "listAssets"]) == ["getJob", "listAssets"]
    with pytest.raises(UnsafeTarget):
        select_operations(REMOTE, include=["createImage"])


def test_contracts_remote_with_allow_spend_still_keeps_the_account_configuration() -> None:
    chosen = select_operations(REMOTE, allow_spend=True)
    assert "createImage" in chosen
    assert not NEVER_REMOTE & set(chosen)
    assert "deleteAccount" in select_operations(REMOTE, allow_spend=True, include=["deleteAccount"])


def test_contracts_nothing_left_is_an_error() -> None:
    with pytest.raises(ValueError, match="no operation left"):
        select_operations(LOCAL, include=["createImage"], read_only=True)


def test_contracts_links_between_selected_operations() -> None:
    assert ("createImage", "getJob") in links_between(["createImage", "getJob"])
    assert links_between(["listAssets", "getJob"]) == []


def test_contracts_token_never_appears_in_curl() -> None:
    curl = "curl -X GET -H 'Authorization: Bearer s3cr3t-token' 'http://h/x?t=s3cr3t-token'"
    out = _redact(curl, "s3cr3t-token")
    assert "s3cr3t-token" not in out
    assert out.startswith('curl -X GET -H "Authorization: Bearer $USEAPI_TOKEN"')


def sample_report() -> Report:
    report = Report(base_url=LOCAL, seed=5, max_examples=3, operations=["listAccounts", "getJob"],
                    tested={"GET /accounts"}, cases=12, duration_s=1.5)
    report.failures.append(Failure(operation="GET /accounts", check="check_secrets_masked", title="secret leaked",
                                   message="x.cookie.lt_token is 'abc'", expected="…secured…", status=200,
                                   response='{"x": 1}', curl="curl -X GET http://h/accounts", code="LTX"))
    return report


def test_contracts_report_format_names_request_expectation_and_answer() -> None:
    report = sample_report()
    assert not report.ok and not report
    text = report.format()
    for part in ("GET /accounts: secret leaked", "expected: …secured…", 'got:      200 {"x": 1}',
                 "reproduce:", "curl -X GET http://h/accounts", "FAILED: 1 failure(s)", "seed 5"):
        assert part in text
    with pytest.raises(AssertionError, match="secret leaked"):
        report.raise_for_failures()


def test_contracts_junit_has_a_case_per_operation(tmp_path: Path) -> None:
    path = tmp_path / "check.xml"
    sample_report().write_junit(str(path))
    suite = ET.parse(path).getroot()
    assert suite.tag == "testsuite" and suite.get("failures") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"GET /accounts", "GET /assets/{jobId}", "run"}
    assert cases["GET /accounts"].find("failure").get("message") == "secret leaked"
    assert cases["GET /assets/{jobId}"].find("skipped") is not None


def test_contracts_unreachable_server_is_an_error_not_a_crash() -> None:
    report = run_checks("http://127.0.0.1:9/v1/ltxstudio", "t", include=["listAccounts"], max_examples=1)
    assert not report.ok
    assert "cannot reach" in report.errors[0]


def test_contracts_unknown_phase_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        run_checks(LOCAL, "t", phases=["warp"])
