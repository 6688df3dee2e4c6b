"""``ltx-mock serve --state PATH``: kill -9 in the middle of a stream of writes loses nothing acknowledged.

Real server processes (the CLI, as a user starts it) on free loopback ports; the kill is a
SIGKILL to the whole process group (granian runs its worker in a child process).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import free_port, wait_serving

from ltxstudio_mock.admin_client import AdminClient

ROOT = Path(__file__).resolve().parents[2]
DEMO = "demo@example.com"
EXAMPLE = ROOT / "examples" / "scenario-demo.yaml"


class Served:
    """One ``ltx-mock serve`` process."""

    def __init__(self, *args: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server.cli", "serve", "--port", str(self.port), *args],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_serving(self.url, self.proc, log, timeout=30)
        except (RuntimeError, TimeoutError):
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the server and its children (the process group we started), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        s = Served(*args, log=tmp_path / "server.log")
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.kill()


class Writer(threading.Thread):
    """Writes accounts, uploads and jobs until the server dies; remembers what got a 2xx."""

    def __init__(self, url: str, name: str) -> None:
        super().__init__(daemon=True)
        self.url, self.name = url, name
        self.api = f"{url}/v1/ltxstudio"
        self.headers = {"Authorization": "Bearer demo-token"}
        self.users: list[str] = []
        self.accounts: list[tuple[str, int]] = []
        self.assets: list[tuple[str, bytes]] = []
        self.jobs: list[str] = []
        self.error: BaseException | None = None

    @property
    def acknowledged(self) -> int:
        return len(self.users) + len(self.accounts) + len(self.assets) + len(self.jobs)

    def run(self) -> None:
        session = requests.Session()
        i = 0
        try:
            while True:
                i += 1
                if i % 3 == 0:
                    email = f"{self.name}-{i}@example.com"
                    r = session.post(f"{self.url}/__admin/ltx-users", json={"email": email, "credits": 100 + i},
                                     timeout=5)
                    r.raise_for_status()
                    self.users.append(email)
                    r = session.post(f"{self.api}/accounts", json={"cookie": r.json()["cookie"], "maxJobs": 1 + i % 7},
                                     headers=self.headers, timeout=5)
                    r.raise_for_status()
                    self.accounts.append((email, 1 + i % 7))
                elif i % 3 == 1:
                    data = b"\x89PNG\r\n\x1a\n" + f"{self.name}-{i}".encode() * 50
                    r = session.post(f"{self.api}/assets/", params={"email": DEMO}, data=data, timeout=5,
                                     headers={**self.headers, "Content-Type": "image/png"})
                    r.raise_for_status()
                    self.assets.append((r.json()["asset"]["fileId"], data))
                else:
                    r = session.post(f"{self.api}/images/create", json={"prompt": f"{self.name} {i}", "email": DEMO},
                                     headers=self.headers, timeout=5)
                    r.raise_for_status()
                    self.jobs.append(r.json()["jobId"])
        except requests.RequestException:
            return  # the server was killed: this request was never acknowledged
        except BaseException as exc:  # pragma: no cover - surfaced by the test
            self.error = exc


def check_everything_acknowledged_is_there(url: str, writers: list[Writer]) -> None:
    api, headers = f"{url}/v1/ltxstudio", {"Authorization": "Bearer demo-token"}
    session = requests.Session()
    configured = session.get(f"{api}/accounts", headers=headers, timeout=10).json()
    listing = session.get(f"{api}/assets/", params={"email": DEMO, "limit": 100}, headers=headers, timeout=10).json()
    pages = [listing]
    for page in range(2, listing["meta"]["totalPages"] + 1):
        pages.append(session.get(f"{api}/assets/", params={"email": DEMO, "limit": 100, "page": page},
                                 headers=headers, timeout=10).json())
    urls = {i["signedAsset"]["asset"]["fileId"]: i["signedAsset"]["assetUrl"] for p in pages for i in p["items"]}
    for w in writers:
        for email in w.users:
            assert session.get(f"{url}/__admin/ltx-users/{email}", timeout=10).status_code == 200, email
        for email, max_jobs in w.accounts:
            assert configured[email]["maxJobs"] == max_jobs, email
        for file_id, data in w.assets:
            assert file_id in urls, file_id
            assert session.get(urls[file_id], timeout=10).content == data  # the bytes, not just the record
        for job_id in w.jobs:
            resp = session.get(f"{api}/assets/{job_id}", headers=headers, timeout=10)
            assert resp.status_code == 200, (job_id, resp.text)


@pytest.mark.parametrize("server", ["werkzeug", "granian"])
def test_persistence_kill_9_mid_stream_loses_nothing_acknowledged(servers: Any, tmp_path: Path,
                                                                  server: str) -> None:
    state = tmp_path / "state.db"
    first = servers("--state", str(state), "--server", server, "--paused", "--seed", "5")
    AdminClient(first.url).add_token("kept-token", demo_account=True)
    AdminClient(first.url).advance(30)
    writers = [Writer(first.url, f"w{n}") for n in range(2)]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 10
    while sum(w.acknowledged for w in writers) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(w.is_alive() for w in writers), "the writers must still be writing when the server is killed"
    first.kill()
    for w in writers:
        w.join(10)
        assert w.error is None, w.error
    acknowledged = sum(w.acknowledged for w in writers)
    assert acknowledged >= 60
    assert sqlite3.connect(state).execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    second = servers("--state", str(state), "--server", server, "--paused", "--seed", "5")
    check_everything_acknowledged_is_there(second.url, writers)
    admin = AdminClient(second.url)
    assert admin.clock()["paused"] is True
    kept = requests.get(f"{second.url}/v1/ltxstudio/accounts", headers={"Authorization": "Bearer kept-token"},
                        timeout=10)
    assert kept.status_code == 200 and DEMO in kept.json()
    # the journal is kept too: every acknowledged API write is in it
    posts = admin.count_requests(method="POST", path="/v1/ltxstudio/*", status=200)
    assert posts >= acknowledged - sum(len(w.users) for w in writers)
    # and the restarted server carries on writing
    job = requests.post(f"{second.url}/v1/ltxstudio/images/create", json={"prompt": "after", "email": DEMO},
                        headers={"Authorization": "Bearer demo-token"}, timeout=10)
    assert job.status_code == 200
    admin.advance(60)
    done = requests.get(f"{second.url}/v1/ltxstudio/assets/{job.json()['jobId']}",
                        headers={"Authorization": "Bearer demo-token"}, timeout=10).json()
    assert done["status"]["type"] == "completed"


def test_persistence_state_with_scenario_and_snapshot(servers: Any, tmp_path: Path) -> None:
    """--scenario seeds a new state file once; a restart keeps the live state, not the scenario's."""
    state = tmp_path / "s.db"
    first = servers("--state", str(state), "--scenario", str(EXAMPLE), "--server", "werkzeug")
    team = {"Authorization": "Bearer team-token"}
    assert requests.get(f"{first.url}/v1/ltxstudio/accounts", headers=team, timeout=10).status_code == 200
    requests.delete(f"{first.url}/v1/ltxstudio/accounts/bob@example.com", headers=team, timeout=10).raise_for_status()
    before = AdminClient(first.url).snapshot()
    first.kill()
    second = servers("--state", str(state), "--scenario", str(EXAMPLE), "--server", "werkzeug")
    accounts = requests.get(f"{second.url}/v1/ltxstudio/accounts", headers=team, timeout=10).json()
    assert list(accounts) == ["alice@example.com"]
    after = AdminClient(second.url).snapshot()
    assert {k: v for k, v in after.items() if k != "clock"} == {k: v for k, v in before.items() if k != "clock"}
    # an explicit reset goes back to the scenario
    AdminClient(second.url).reset()
    assert len(requests.get(f"{second.url}/v1/ltxstudio/accounts", headers=team, timeout=10).json()) == 2
