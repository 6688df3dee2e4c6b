"""``ltx-mock`` errors are one line: bad flag values, nothing listening, no token; nothing wrapped off a terminal."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from client import cli as client_cli
from contracts import runner
from mock_server.cli import main

LTX_MOCK = Path(sys.executable).with_name("ltx-mock")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_VALUES = [
    (["serve", "--port", "abc"], "Invalid value for '--port'"),
    (["serve", "--server", "nope"], "Invalid value for '--server'"),
    (["serve", "--speed", "fast"], "Invalid value for '--speed'"),
    (["serve", "--bogus"], "No such option '--bogus'"),
    (["check", "--max-examples", "0"], "Invalid value for '--max-examples'"),
    (["check", "--request-timeout", "-1"], "Invalid value for '--request-timeout'"),
    (["check", "--base-url", "localhost:8787"], "Invalid value for '--base-url'"),
    (["check", "--phases", "nope"], "unknown phase(s)"),
    (["check", "--include", "noSuchOperation"], "unknown operation 'noSuchOperation'"),
    (["snapshot"], "Missing argument 'FILE'"),
    (["client", "--base-url", "nope", "accounts"], "Invalid value for '--base-url'"),
    (["client", "image"], "Missing argument 'PROMPT'"),
    (["client", "assets", "--page", "first"], "Invalid value for '--page'"),
    (["client", "image", "a fox", "--model", "dall-e"], "Invalid value for '--model'"),
    (["nosuch"], "No such command 'nosuch'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_bad_flag_value_is_one_line_naming_the_command(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args, env={"USEAPI_TOKEN": "t"}, prog_name="ltx-mock")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    command = "ltx-mock " + " ".join(a for a in args[:1] if a != "nosuch")
    assert lines[0].startswith(f"{command.strip()}") and ": error: " in lines[0] and message in lines[0], lines
    assert "--help" in lines[0] and not result.stdout


def test_snapshot_with_nothing_listening_names_url_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["snapshot", str(tmp_path / "state.yaml"), "--url", url])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: nothing is listening at {url} (--url): start `ltx-mock serve` "
                                          "there, or point --url at a running simulator"]
    assert not (tmp_path / "state.yaml").exists()


def test_snapshot_of_something_that_is_not_a_simulator(tmp_path: Path, ltx_mock: object) -> None:
    url = ltx_mock.url + "/v1/ltxstudio"  # type: ignore[attr-defined]  # a server, but no /__admin there
    result = CliRunner().invoke(main, ["snapshot", str(tmp_path / "state.yaml"), "--url", url])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "(--url) answered GET /__admin/snapshot with 404" in result.stderr


def test_client_without_a_token_says_so_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(*args: object) -> None:
        raise AssertionError("a client was built without a token")

    monkeypatch.setattr(client_cli, "make_client", no_client)
    result = CliRunner().invoke(main, ["client", "accounts"], env={"USEAPI_TOKEN": None})
    assert result.exit_code == 1
    # Longer than 80 columns and still one line: rich is not left to wrap it.
    assert result.stderr.splitlines() == ["error: no API token: set USEAPI_TOKEN or pass --token (the simulator's "
                                          "demo token is demo-token)"]
    help_result = CliRunner().invoke(main, ["client", "image", "--help"], env={"USEAPI_TOKEN": None})
    assert help_result.exit_code == 0, "help needs no token"


def test_output_off_a_terminal_is_not_wrapped_at_80_columns() -> None:
    """A real process with stderr on a pipe, as in CI."""
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": ""}
    proc = subprocess.run([str(LTX_MOCK), "client", "accounts"], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["error: no API token: set USEAPI_TOKEN or pass --token (the simulator's "
                                        "demo token is demo-token)"]
    proc = subprocess.run([str(LTX_MOCK), "check", "--request-timeout", "0"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr


def test_check_request_timeout_covers_the_longest_pollforresult_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.longest_legitimate_wait_s() == 60.0  # openapi.yaml: pollForResult <= 20 polls of 3 s
    assert runner.longest_legitimate_wait_s() + runner.REQUEST_TIMEOUT_MARGIN_S == runner.DEFAULT_REQUEST_TIMEOUT_S
    seen: dict[str, float] = {}

    def fake_run_checks(base_url: str, token: str, **options: object) -> object:
        seen["timeout"] = options["request_timeout"]  # type: ignore[assignment]
        raise ValueError("stop here")

    monkeypatch.setattr(runner, "run_checks", fake_run_checks)
    CliRunner().invoke(main, ["check"])
    assert seen["timeout"] == 90.0
    CliRunner().invoke(main, ["check", "--request-timeout", "200"])
    assert seen["timeout"] == 200.0
    assert "--request-timeout" in CliRunner().invoke(main, ["check", "--help"]).output


def test_cli_a_webhook_lease_not_above_the_delivery_timeout_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--webhook-lease`` at or below the 5 s delivery timeout: a delivery still in flight when its lease runs out
    can be taken by another process and arrive twice (the four-worker test saw it at 2 s under a CPU burn). Served
    anyway, with the warning on stderr; the default and a lease above the timeout say nothing."""
    from mock_server import server

    monkeypatch.setattr(server, "bind", lambda host, port, **kw: None)
    monkeypatch.setattr(server, "run", lambda config, host, port, **kw: None)
    result = CliRunner().invoke(main, ["serve", "--webhook-lease", "2"])
    assert result.exit_code == 0, result.output
    assert "WARNING: --webhook-lease 2 s is not above the 5 s webhook delivery timeout" in result.output
    for args in ([], ["--webhook-lease", "6"]):
        result = CliRunner().invoke(main, ["serve", *args])
        assert result.exit_code == 0 and "WARNING" not in result.output, result.output
