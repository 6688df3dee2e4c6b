"""Running ``ltx-mock`` like a service: every serve/proxy/check option from the environment (documented in one
table), a compose-style start with environment variables only (``curl -f`` on the health check as readiness
probe), the access log of a whole client session with no secret in it, ``--version`` from the one source."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner
from helpers import free_port

from ltxstudio_mock import __version__
from mock_server.cli import main

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "service.md"
COMMANDS = ("serve", "proxy", "check")


def _options() -> dict[str, click.Option]:
    """envvar -> option, for every option of serve, proxy and check."""
    out = {}
    for name in COMMANDS:
        for param in main.commands[name].params:
            if isinstance(param, click.Option):
                assert param.envvar and param.show_envvar, f"{name} {param.opts} reads no environment variable"
                assert isinstance(param.envvar, str)
                out[param.envvar] = param
    return out


def test_cli_every_option_reads_an_environment_variable_listed_in_one_table() -> None:
    options = _options()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", TABLE.read_text(encoding="utf-8"), re.M))
    assert documented == set(options), (sorted(set(options) - documented), sorted(documented - set(options)))
    assert {"LTX_MOCK_PORT", "LTX_MOCK_STORE", "LTX_MOCK_TOKEN", "LTX_MOCK_PROXY_HAR", "USEAPI_TOKEN"} <= set(options)
    shown = " ".join(CliRunner().invoke(main, ["serve", "--help"]).output.split())
    assert "env var: LTX_MOCK_PORT" in shown and "env var: LTX_MOCK_ACCESS_LOG" in shown


def test_cli_environment_values_reach_the_options() -> None:
    """click parses them as the flags would be: numbers, flags, repeated values split on spaces."""
    env = {"LTX_MOCK_PORT": "9911", "LTX_MOCK_PAUSED": "true", "LTX_MOCK_TOKEN": "a-token b-token",
           "LTX_MOCK_METRICS": "false", "LTX_MOCK_LOG_FORMAT": "json"}
    ctx = main.commands["serve"].make_context("serve", [], default_map=None)
    assert ctx.params["port"] == 8787  # not yet: make_context read os.environ, which holds none of them
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        ctx = main.commands["serve"].make_context("serve", [])
        assert (ctx.params["port"], ctx.params["paused"], ctx.params["tokens"], ctx.params["metrics"],
                ctx.params["log_format"]) == (9911, True, ("a-token", "b-token"), False, "json")
        ctx = main.commands["serve"].make_context("serve", ["--port", "9922"])
        assert ctx.params["port"] == 9922  # a flag wins over the variable
        bad = CliRunner().invoke(main, ["serve"], env={"LTX_MOCK_PORT": "eighty"})
        assert bad.exit_code == 2 and "LTX_MOCK_PORT" in bad.output  # click names the variable it read


def test_cli_version_is_the_one_version() -> None:
    assert CliRunner().invoke(main, ["--version"]).output.strip() == f"ltx-mock, version {__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    from importlib.metadata import version

    from client import __version__ as client_version

    assert version("ltxstudio-mock") == client_version == __version__


def _probe(url: str) -> bool:
    """The README's readiness probe: ``curl -f`` fails on anything but 2xx."""
    if shutil.which("curl"):
        return subprocess.run(["curl", "-sf", "-o", "/dev/null", f"{url}/__admin/health"], timeout=10).returncode == 0
    try:  # pragma: no cover - curl is on the machines this runs on
        return requests.get(f"{url}/__admin/health", timeout=5).ok
    except requests.RequestException:
        return False


def test_cli_compose_style_run_with_environment_variables_only(tmp_path: Path) -> None:
    """``ltx-mock serve`` with no flag at all: what a compose file's ``environment:`` block does."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    access = tmp_path / "access.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LTX_MOCK_")},
           "LTX_MOCK_HOST": "127.0.0.1", "LTX_MOCK_PORT": str(port), "LTX_MOCK_TOKEN": "alpha-secret-1 beta-secret-2",
           "LTX_MOCK_PAUSED": "1", "LTX_MOCK_SEED": "7", "LTX_MOCK_STATE": str(tmp_path / "state.db"),
           "LTX_MOCK_ADMIN_TOKEN": "admin-secret-3", "LTX_MOCK_ACCESS_LOG": str(access),
           "LTX_MOCK_LOG_FORMAT": "json", "LTX_MOCK_THREADS": "4"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mock_server.cli", "serve"], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not _probe(url):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        health = requests.get(f"{url}/__admin/health", timeout=10).json()
        assert health["store"]["kind"] == "sqlite" and health["clock"]["paused"] is True
        assert requests.get(f"{url}/__admin/state", timeout=10).status_code == 401  # the admin token came too
        sent = []
        for token in ("alpha-secret-1", "beta-secret-2"):
            auth = {"Authorization": f"Bearer {token}"}
            job = requests.post(f"{url}/v1/ltxstudio/images/create", json={"prompt": "a harbour"}, headers=auth,
                                timeout=20)
            assert job.status_code == 200, job.text
            sent += [("POST", "/v1/ltxstudio/images/create", 200, "createImage"),
                     ("GET", f"/v1/ltxstudio/assets/{job.json()['jobId']}", 200, "getJob")]
            assert requests.get(f"{url}/v1/ltxstudio/assets/{job.json()['jobId']}", headers=auth,
                                timeout=20).status_code == 200
        assert requests.get(f"{url}/v1/ltxstudio/accounts", timeout=20).status_code == 401
        sent.append(("GET", "/v1/ltxstudio/accounts", 401, "listAccounts"))
    finally:  # SIGTERM at once: the lines still queued for the access log's writer are written at the stop
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    text = access.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    api = [(x["method"], x["path"], x["status"], x["operationId"]) for x in lines if x["path"].startswith("/v1/")]
    assert api == sent
    tenants = [x["tenant"] for x in lines if x["path"].startswith("/v1/")]
    assert tenants[0] == tenants[1] != tenants[2] == tenants[3] and tenants[4] is None
    assert all(t is None or re.fullmatch(r"t_[0-9a-f]{16}", t) for t in tenants)
    assert all(set(x) == {"time", "remote", "method", "path", "query", "status", "durationMs", "operationId",
                          "tenant"} for x in lines)
    assert any(x["path"] == "/__admin/health" and x["operationId"] == "adminHealth" for x in lines)
    for secret in ("alpha-secret-1", "beta-secret-2", "admin-secret-3"):
        assert secret not in text
