"""Issue 28: on one Redis, two accounts' requests never wait for each other, whichever process serves them.

* **A write held open.** Another process (``held_writer.py``: the simulator's app on the same store, its
  ``POST /images/create`` for account A held inside the view once the job is admitted) holds its request
  open; meanwhile account B's writes on an ``ltx-mock serve`` process (a job, an upload, its account's
  configuration, a cancel) must each answer within 1 s. Then A's request ends, and both accounts' writes are
  there, seen through the server.
* **A frozen process.** Two ``ltx-mock serve`` processes; one is kept writing hard for account A (another
  process, ``busy_writer.py``) and frozen (SIGSTOP, its whole process group) 7 times for 0.7 s; account B's
  creates, reads and cancels on the other process, sent one after another all along, never take 500 ms.

With one store-wide write lock (the store before issue 28) both fail: B's writes queue behind the process
that holds the lock: the held one for as long as it is held (no answer in 2 s), the frozen one until it
is thawed (~the freeze, 0.7 s) or its lock's TTL runs out (5 s: a longer freeze).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from helpers import free_port, png_bytes
from scale_helpers import ROOT, Serve

TOKEN_A, TOKEN_B = "apart-token-a", "apart-token-b"
EMAIL_A, EMAIL_B = "apart-a@example.com", "apart-b@example.com"
API = "/v1/ltxstudio"
HERE = Path(__file__).parent
WRITE_LIMIT_S = 1.0  # issue 28: another account's write completes while one is held open
FROZEN_LIMIT_S = 0.5  # issue 28: slowest answer of another account while a process is frozen
# Seven freezes of 0.7 s: with one store-wide lock, each catches the frozen process holding it about half the
# time (measured: 2-5 of 7 per run), and a caught one stalls B's next write ~0.7 s.
FREEZES, FREEZE_S, THAW_S = 7, 0.7, 0.05
BUSY_THREADS = "12"  # the frozen process's writing clients (busy_writer.py): always a write in flight
READS_B = tuple(("GET " + path, "GET", path) for path in ("/assets/{jobId}", "/scheduler/available", "/scheduler",
                                                           "/accounts", "/assets/{jobId}", "/scheduler/available") * 2)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _accounts(url: str) -> dict[str, str]:
    """Account A under token A and account B under token B, each its own LTX user with credits to spare; their
    session cookies."""
    cookies = {}
    for token, email in ((TOKEN_A, EMAIL_A), (TOKEN_B, EMAIL_B)):
        user = requests.post(f"{url}/__admin/ltx-users", json={"email": email, "credits": 10**8}, timeout=30)
        assert user.status_code == 200, user.text
        resp = requests.post(f"{url}{API}/accounts", json={"cookie": user.json()["cookie"], "maxJobs": 10},
                             headers=_auth(token), timeout=30)
        assert resp.status_code == 200, resp.text
        cookies[email] = user.json()["cookie"]
    return cookies


def _serve(store_url: str, tmp_path: Path, name: str) -> Serve:
    return Serve(free_port(), "--store", store_url, "--token", TOKEN_A, "--token", TOKEN_B, "--empty",
                 log=tmp_path / f"{name}.log")


class Lines:
    """A child process's stdout, line by line, each awaited with a deadline (a hung child fails the test)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self.lines.put(line.strip()) for line in stdout], daemon=True).start()

    def next(self, timeout: float = 30) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the child process in {timeout} s") from None


@contextlib.contextmanager
def _child(script: str, *args: str, log: Path) -> Iterator[subprocess.Popen[str]]:
    """``python tests/scale/<script> ARGS`` (stdin and stdout piped, stderr in ``log``), killed by its pid last."""
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(HERE / script), *args], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()  # type: ignore[union-attr]


def _timed(session: requests.Session, method: str, url: str, limit: float, **kw: Any
           ) -> tuple[requests.Response | None, float]:
    """One request and its wall time; None when it got no answer within twice ``limit`` (the test's failure)."""
    t0 = time.monotonic()
    try:
        resp = session.request(method, url, timeout=2 * limit, **kw)
    except requests.Timeout:
        return None, time.monotonic() - t0
    return resp, time.monotonic() - t0


def _said(resp: requests.Response | None) -> str:
    return "no answer" if resp is None else f"{resp.status_code} {resp.text[:200]}"


def test_scale_writes_of_another_account_complete_while_one_account_s_write_is_held_open(
        redis_url: str, tmp_path: Path) -> None:
    store_url = f"{redis_url}?prefix=ltxapart-{uuid.uuid4().hex[:8]}:"
    server = _serve(store_url, tmp_path, "serve")
    released = False
    with _child("held_writer.py", store_url, TOKEN_A, EMAIL_A, log=tmp_path / "held.log") as held:
        lines = Lines(held)
        assert held.stdin is not None
        try:
            server.wait_up()
            cookies = _accounts(server.url)
            assert lines.next() == "ready"
            held.stdin.write("go\n")
            held.stdin.flush()
            answer = lines.next()
            assert answer.startswith("held "), (answer, (tmp_path / "held.log").read_text()[-2000:])

            # Account A's write is open in the other process: account B's writes go on here.
            b = requests.Session()
            b.headers.update(_auth(TOKEN_B))
            base = server.url + API
            times: list[tuple[str, float]] = []
            resp, took = _timed(b, "POST", f"{base}/images/create", WRITE_LIMIT_S,
                                json={"prompt": "while A is held"})
            times.append(("POST /images/create", took))
            assert resp is not None and resp.status_code == 200 and took < WRITE_LIMIT_S, (
                f"account B's POST /images/create took {took:.2f} s ({_said(resp)}) while account A's write was held "
                f"open in another process")
            job_b = resp.json()["jobId"]
            for what, method, path, kw in (
                    ("POST /assets/", "POST", "/assets/", {"data": png_bytes(),
                                                           "headers": {"Content-Type": "image/png"}}),
                    ("POST /accounts", "POST", "/accounts", {"json": {"cookie": cookies[EMAIL_B], "maxJobs": 9}}),
                    ("POST /images/create", "POST", "/images/create", {"json": {"prompt": "and another"}}),
                    ("DELETE /scheduler/{jobId}", "DELETE", f"/scheduler/{job_b}", {})):
                resp, took = _timed(b, method, base + path, WRITE_LIMIT_S, **kw)
                times.append((what, took))
                assert resp is not None and resp.status_code in (200, 204) and took < WRITE_LIMIT_S, (
                    f"account B's {what} took {took:.2f} s ({_said(resp)}) while account A's write was held open")

            # A's request ends: its write lands, and B's are all there.
            held.stdin.write("release\n")
            held.stdin.flush()
            released = True
            committed = lines.next()
            assert committed.startswith("committed "), (committed, (tmp_path / "held.log").read_text()[-2000:])
            job_a = committed.split()[1]  # the answer's (the one held, unless the store ran the view again)
            a = requests.get(f"{base}/assets/{job_a}", headers=_auth(TOKEN_A), timeout=30)
            assert a.status_code == 200 and a.json()["status"]["type"] == "active", a.text
            seen_b = requests.get(f"{base}/assets/{job_b}", headers=_auth(TOKEN_B), timeout=30)
            assert seen_b.status_code == 200, seen_b.text
            accounts = requests.get(f"{base}/accounts", headers=_auth(TOKEN_B), timeout=30).json()
            assert accounts[EMAIL_B]["maxJobs"] == 9
            running = requests.get(f"{base}/scheduler", headers=_auth(TOKEN_B), timeout=30).json()
            assert len(running) == 1 and job_b not in str(running), running  # the second job; the first cancelled
            listing = requests.get(f"{base}/assets/", headers=_auth(TOKEN_B), timeout=30).json()
            assert listing["meta"]["totalItems"] == 1  # the upload
            print(f"\naccount B's writes while A's was held: {', '.join(f'{w} {t * 1000:.0f} ms' for w, t in times)}")
        finally:
            if not released and held.poll() is None:
                with contextlib.suppress(OSError):
                    held.stdin.write("release\n")
                    held.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    held.wait(10)
            server.stop()
            _clear(store_url)


def _clear(store_url: str) -> None:
    from mock_server.store.redis import RedisStore

    store = RedisStore(store_url)
    try:
        store.clear()
    finally:
        store.close()


def test_scale_a_frozen_process_stalls_no_other_account_s_requests_on_another_process(
        redis_url: str, tmp_path: Path) -> None:
    store_url = f"{redis_url}?prefix=ltxfrozen-{uuid.uuid4().hex[:8]}:"
    frozen, other = _serve(store_url, tmp_path, "frozen"), _serve(store_url, tmp_path, "other")
    stop = threading.Event()
    answers: list[tuple[str, float, int | None]] = []  # account B's: what, seconds, status (None: no answer)

    def account_b() -> None:
        """B's creates, polls and cancels on the other process, one after another, until told to stop."""
        session = requests.Session()
        session.headers.update(_auth(TOKEN_B))
        base = other.url + API
        while not stop.is_set():
            resp, took = _timed(session, "POST", f"{base}/images/create", FROZEN_LIMIT_S, json={"prompt": "B"})
            answers.append(("POST /images/create", took, None if resp is None else resp.status_code))
            if resp is None or resp.status_code != 200:
                continue
            job = resp.json()["jobId"]
            for what, method, path in (*READS_B, ("DELETE /scheduler/{jobId}", "DELETE", "/scheduler/{jobId}")):
                path = path.replace("{jobId}", job)
                resp, took = _timed(session, method, base + path, FROZEN_LIMIT_S)
                answers.append((what, took, None if resp is None else resp.status_code))

    thread = threading.Thread(target=account_b)
    try:
        frozen.wait_up()
        other.wait_up()
        _accounts(other.url)
        with _child("busy_writer.py", frozen.url, TOKEN_A, EMAIL_A, BUSY_THREADS, log=tmp_path / "busy.log") as busy:
            assert Lines(busy).next() == "busy", (tmp_path / "busy.log").read_text()[-2000:]
            thread.start()
            try:
                for _ in range(FREEZES):
                    time.sleep(THAW_S)
                    os.killpg(frozen.proc.pid, signal.SIGSTOP)  # the server and its granian worker, mid-write
                    time.sleep(FREEZE_S)
                    os.killpg(frozen.proc.pid, signal.SIGCONT)
            finally:
                os.killpg(frozen.proc.pid, signal.SIGCONT)
                stop.set()
                thread.join(30)
        statuses = {status for _, _, status in answers}
        assert statuses <= {200, 204}, [a for a in answers if a[2] not in (200, 204)][:5]
        assert len(answers) > 40, f"account B got only {len(answers)} answers"
        what, slowest, _ = max(answers, key=lambda a: a[1])
        assert slowest < FROZEN_LIMIT_S, (f"account B's slowest answer on the other process took {slowest:.2f} s "
                                          f"({what}) while account A's process was frozen {FREEZES} x {FREEZE_S} s")
        print(f"\naccount B: {len(answers)} answers, slowest {slowest * 1000:.0f} ms ({what}) over {FREEZES} freezes "
              f"of account A's process")
    finally:
        stop.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(frozen.proc.pid, signal.SIGCONT)
        frozen.stop()
        other.stop()
        _clear(store_url)
