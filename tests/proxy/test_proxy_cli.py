"""``ltx-mock proxy`` as a command: violations on stderr, JUnit and scenario written on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import requests
from proxy_helpers import API, broken_servers, upstream

from mock_server.scenario import read_scenario

H = {"Authorization": "Bearer demo-token"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_proxy_command_reports_and_writes_on_sigterm(tmp_path: Path) -> None:
    junit, record = tmp_path / "proxy.xml", tmp_path / "recorded.yaml"
    port = _free_port()
    with upstream(broken_servers().wrong_field_type()) as origin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server.cli", "proxy", "--upstream", origin + API,
             "--port", str(port), "--junit-xml", str(junit), "--record", str(record)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            proxy = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    requests.get(f"{proxy}/__proxy/violations", timeout=1)
                    break
                except requests.ConnectionError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                    time.sleep(0.1)
            assert requests.get(f"{proxy}{API}/accounts", headers=H, timeout=10).status_code == 200
            assert requests.get(f"{proxy}{API}/scheduler/available", headers=H, timeout=10).status_code == 200
            assert len(requests.get(f"{proxy}/__proxy/violations", timeout=10).json()) == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}/v1/ltxstudio" in out
    lines = [line for line in err.splitlines() if "VIOLATION" in line]
    assert len(lines) == 1 and "GET /accounts -> 200" in lines[0] and "demo@example.com.maxJobs" in lines[0]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"GET /accounts", "GET /scheduler/available", "run"}
    assert "maxJobs" in cases["GET /accounts"].find("failure").text  # type: ignore[union-attr]
    assert cases["GET /scheduler/available"].find("failure") is None
    doc = read_scenario(record)
    assert doc["tokens"] == ["recorded-token"] and [a["email"] for a in doc["accounts"]] == ["demo@example.com"]
    assert "demo-token" not in record.read_text(encoding="utf-8")


def test_proxy_command_rejects_a_bad_upstream() -> None:
    proc = subprocess.run([sys.executable, "-m", "mock_server.cli", "proxy", "--upstream", "ftp://x"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--upstream must be an http(s) URL" in proc.stderr
