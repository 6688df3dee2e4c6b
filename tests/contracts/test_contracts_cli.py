"""``ltx-mock check`` on the command line: exit codes, the readable report, JUnit XML, the safety rules."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from broken_servers import healthy_app, leaked_secret, serving
from click.testing import CliRunner

from contracts.cli import check
from mock_server.cli import main

FAST = ["--max-examples", "3", "--seed", "1", "--phases", "examples,fuzzing", "-q"]


def test_contracts_check_is_mounted_in_ltx_mock() -> None:
    result = CliRunner().invoke(main, ["check", "--help"])
    assert result.exit_code == 0
    for option in ("--base-url", "--token", "--max-examples", "--seed", "--read-only", "--allow-spend",
                   "--junit-xml", "--include", "--exclude"):
        assert option in result.output


def test_contracts_cli_passes_on_the_simulator_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "check.xml"
    with serving(healthy_app()) as url:
        result = CliRunner().invoke(check, ["--base-url", url, "--include", "listAccounts,getSchedulerAvailable",
                                            "--junit-xml", str(junit), *FAST])
    assert result.exit_code == 0, result.output
    assert "ltx-mock check PASSED" in result.output
    cases = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert cases == ["GET /accounts", "GET /scheduler/available", "run"]


def test_contracts_cli_fails_with_a_readable_report() -> None:
    with serving(leaked_secret()) as url:
        result = CliRunner().invoke(check, ["--base-url", url, "--token", "demo-token", "--include", "listAccounts",
                                            *FAST])
    assert result.exit_code == 1
    out = result.output
    assert "GET /accounts: secret leaked" in out
    assert "expected: lt_token / lt_refresh_token values of '…secured…'" in out
    assert "got:      200 " in out
    assert f'curl -X GET -H "Authorization: Bearer $USEAPI_TOKEN" {url}/accounts' in out
    assert "ltx-mock check FAILED" in out


def test_contracts_cli_refuses_to_spend_on_a_remote_host() -> None:
    result = CliRunner().invoke(check, ["--base-url", "https://api.useapi.net/v1/ltxstudio", "--token", "t"])
    assert result.exit_code == 2
    assert "spend credits or change state" in result.output and "--read-only" in result.output


def test_contracts_cli_needs_a_token_for_a_remote_host() -> None:
    result = CliRunner().invoke(check, ["--base-url", "https://api.useapi.net/v1/ltxstudio", "--read-only"],
                                env={"USEAPI_TOKEN": None})
    assert result.exit_code == 2
    assert "--token" in result.output


def test_contracts_cli_rejects_unknown_operations() -> None:
    result = CliRunner().invoke(check, ["--include", "makeCoffee"])
    assert result.exit_code == 2
    assert "unknown operation 'makeCoffee'" in result.output


def test_contracts_cli_read_only_sends_no_write() -> None:
    from ltxstudio_mock.admin_client import AdminClient

    with serving(healthy_app()) as url:
        result = CliRunner().invoke(check, ["--base-url", url, "--read-only", "--max-examples", "2", "--seed", "1",
                                            "--exclude", "listAssets,getJob,getAccount",
                                            "--phases", "examples,coverage", "-q"])
        methods = {entry["method"] for entry in AdminClient(url.rsplit("/v1/", 1)[0]).requests(limit=10000)}
    assert result.exit_code == 0, result.output
    assert "GET" in methods
    assert methods <= {"GET", "HEAD", "OPTIONS", "TRACE"}, methods
