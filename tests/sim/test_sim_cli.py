"""``ltx-mock serve`` as a user runs it: a subprocess, its banner, its tokens, its seed, its bind address."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from helpers import free_port

BIN = Path(sys.executable).with_name("ltx-mock")


class Served:
    """A running ``ltx-mock serve`` process and the lines it printed."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        module = ["-m", "mock_server.cli"]
        cmd = [str(BIN) if BIN.exists() else sys.executable, *([] if BIN.exists() else module),
               "serve", "--port", str(self.port), "--server", "werkzeug", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ltx-mock exited early: {self.lines}"
            try:
                requests.get(f"{self.url}/__admin/clock", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"ltx-mock did not answer within {timeout}s: {self.lines}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextmanager
def serve(*arg_lists: list[str]) -> Iterator[list[Served]]:
    """Start several servers at once (start-up is the slow part), wait for all, stop all."""
    servers = [Served(args) for args in arg_lists]
    try:
        for s in servers:
            s.wait_ready()
        yield servers
    finally:
        for s in servers:
            s.stop()


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp*)."""
    out = set()
    for name, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            addr, hexport = cols[1].split(":")
            if cols[3] == "0A" and int(hexport, 16) == port:
                if width == 8:
                    out.add(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    out.add(addr)
    return out


def test_cli_serve_banner_curl_and_loopback_bind() -> None:
    with serve([]) as (srv,):
        deadline = time.monotonic() + 5
        while not any("curl" in line for line in srv.lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        curl = next(line.strip() for line in srv.lines if line.strip().startswith("curl -s") and "/accounts" in line)
        assert "demo-token" in curl and f":{srv.port}/" in curl
        argv = shlex.split(curl)
        if shutil.which("curl"):
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout
        else:  # the same request, made by hand
            url = next(a for a in argv if a.startswith("http"))
            out = requests.get(url, headers={"Authorization": "Bearer demo-token"}, timeout=10).text
        assert '"demo@example.com"' in out and "…secured…" in out
        if Path("/proc/net/tcp").exists():  # Linux: read the listening socket's address
            assert listening_addresses(srv.port) == {"127.0.0.1"}
        assert f"http://127.0.0.1:{srv.port}/v1/ltxstudio" in "\n".join(srv.lines)


def test_cli_serve_empty_has_no_accounts() -> None:
    with serve(["--empty"]) as (srv,):
        resp = requests.get(f"{srv.url}/v1/ltxstudio/accounts", headers={"Authorization": "Bearer demo-token"},
                            timeout=10)
        assert resp.status_code == 404
        assert resp.json()["code"] == 404


def test_cli_serve_tokens_are_tenants_and_seed_repeats() -> None:
    args = ["--token", "alpha-token", "--token", "beta-token", "--seed", "7", "--paused"]
    with serve(args, args) as servers:
        first_ids = []
        for srv in servers:
            base = f"{srv.url}/v1/ltxstudio"
            a = {"Authorization": "Bearer alpha-token"}
            b = {"Authorization": "Bearer beta-token"}
            assert requests.get(f"{base}/accounts", headers={"Authorization": "Bearer demo-token"},
                                timeout=10).status_code == 401
            job = requests.post(f"{base}/images/create", headers=a, json={"prompt": "same"}, timeout=10)
            assert job.status_code == 200, job.text
            first_ids.append(job.json()["jobId"])
            assert requests.get(f"{base}/assets/{job.json()['jobId']}", headers=a, timeout=10).status_code == 200
            assert requests.get(f"{base}/assets/{job.json()['jobId']}", headers=b, timeout=10).status_code == 404
            other = requests.post(f"{base}/images/create", headers=b, json={"prompt": "same"}, timeout=10)
            assert other.status_code == 200
            assert requests.get(f"{base}/scheduler", headers=b, timeout=10).json()[0]["jobId"] == \
                other.json()["jobId"]
        assert first_ids[0] == first_ids[1]
