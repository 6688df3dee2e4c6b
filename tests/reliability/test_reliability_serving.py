"""Serving: clients that idle, drip or wait, webhook receivers that drip or flood, and stopping the server.

Everything here uses real sockets against ``ltx-mock serve`` in a subprocess (the production server,
granian by default) unless a check is about the app alone. The full-size figures are in docs/reliability.md
(``python -m benchmarks.reliability serving``); the hostile-client test runs at those full sizes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from benchmarks import free_port, simulator
from benchmarks.reliability import (
    API,
    AUTH,
    Receiver,
    bad_receivers,
    concurrency,
    hostile_clients,
    mixed_keepalive,
    port_serves,
    stalled_bodies,
)
from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.pytest_plugin import start_simulator

LTX_MOCK = str(Path(sys.executable).with_name("ltx-mock"))
# The Done-when target is p99 < 100 ms over 100 probes (docs/reliability.md has the measured figures). On a
# shared 2-core CI machine one or two slow probes set the p99 (measured up to 342 ms at load 15), so the test
# asserts what starvation cannot pass: every probe answered, a typical probe fast, none near a second.
# Starved (the old default), the probes time out or take tens of seconds.
HOSTILE_P50_MS = float(os.environ.get("LTX_RELIABILITY_P50_MS", "100"))
HOSTILE_P99_MS = float(os.environ.get("LTX_RELIABILITY_P99_MS", "1000"))


def spawn(port: int, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([LTX_MOCK, "serve", "--port", str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def wait_serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        if port_serves(port):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing serving port {port} after {timeout} s")


def gone_within(port: int, seconds: float) -> bool:
    """True once nothing answers on ``port``, checked until ``seconds`` have passed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not port_serves(port):
            return True
        time.sleep(0.05)
    return not port_serves(port)


def cleanup(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# -- hostile and careless clients ------------------------------------------------------------------
@pytest.mark.slow
def test_serving_idle_slowloris_and_long_polls_do_not_starve_a_fresh_client() -> None:
    with simulator(name="hostile") as srv:  # the defaults: granian, 8 request threads, speed 1
        report = hostile_clients(srv.url, srv.port, idle=200, slowloris=16, polls=8, probes=100, baseline=False)
        assert report["idle"] == 200 and report["slowloris"] == 16, report
        assert report["answered"] == 100, report
        assert report["p50_ms"] < HOSTILE_P50_MS and report["p99_ms"] < HOSTILE_P99_MS, report
        mixed = mixed_keepalive(srv.url, threads=32, gets=60, timeout=5)
        assert mixed["timeouts"] == 0 and mixed["errors"] == 0 and mixed["answered"] == 32 * 60, mixed


@pytest.mark.slow
@pytest.mark.parametrize(("store", "ops"), [("memory", 80), ("sqlite", 20), ("redis", 20)])
def test_serving_32_thread_mixed_run_completes_with_exact_invariants(store: str, ops: int, tmp_path: Path,
                                                                      request: pytest.FixtureRequest) -> None:
    """32 threads of creations, reads, cancels and clock advances, 5 s client timeouts. The test runs the full
    80 operations per thread in memory; SQLite and Redis (2 workers each) run 20 here to keep the suite short,
    and the full 80 in ``python -m benchmarks.reliability serving`` (docs/reliability.md)."""
    args = ["--paused"]
    if store == "sqlite":
        args += ["--workers", "2", "--state", str(tmp_path / "state.db")]
    elif store == "redis":
        args += ["--workers", "2", "--store", request.getfixturevalue("redis_url")]
    with simulator(*args, name=f"mixed-{store}") as srv:
        if store == "redis":  # the session's Redis may hold other tests' data: back to this server's start-up state
            requests.post(f"{srv.url}/__admin/reset", timeout=30).raise_for_status()
        report = concurrency(srv.url, threads=32, rounds=2, ops_per_round=ops // 2, timeout=5, seed=13)
    assert report["timeouts"] == 0, report["problems"]
    assert not report["problems"], report["problems"]
    assert report["requests"] >= 0.9 * 32 * ops, report  # a poll or cancel with no job yet sends nothing


# -- the port is the server's own ------------------------------------------------------------------
def test_serving_a_second_serve_on_a_bound_port_is_refused_in_one_line() -> None:
    port = free_port()
    first = spawn(port)
    try:
        wait_serving(port, first)
        second = subprocess.run([LTX_MOCK, "serve", "--port", str(port), "--token", "other"], capture_output=True,
                                text=True, timeout=60, stdin=subprocess.DEVNULL)
        out = (second.stdout + second.stderr).strip().splitlines()
        assert second.returncode != 0
        assert 1 <= len(out) <= 3, out
        assert sum(str(port) in line for line in out) == 1 and "Traceback" not in "\n".join(out), out
        # the first server alone answers: the second never shared the port
        codes = {requests.get(f"http://127.0.0.1:{port}{API}/accounts", headers=AUTH, timeout=5).status_code
                 for _ in range(20)}
        assert codes == {200}, codes
    finally:
        cleanup(first)


def test_serving_a_port_held_by_another_program_is_refused_before_any_banner() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        run = subprocess.run([LTX_MOCK, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        out = (run.stdout + run.stderr).strip().splitlines()
        assert run.returncode != 0 and 1 <= len(out) <= 3 and "serving" not in run.stdout, out
        assert any(str(port) in line for line in out), out
    finally:
        holder.close()


def test_serving_banner_says_what_a_scenario_loaded(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("version: 1\ndemo: false\nclock: {paused: true}\ntokens: [scenario-token-123456]\n")
    port = free_port()
    proc = spawn(port, "--scenario", str(scenario))
    try:
        wait_serving(port, proc)
        os.killpg(proc.pid, signal.SIGTERM)
        banner = proc.communicate(timeout=10)[0].decode()
    finally:
        cleanup(proc)
    assert "scen…" in banner and "clock: paused" in banner and "demo LTX Studio account: none" in banner, banner
    assert str(scenario) in banner, banner


@pytest.mark.parametrize("moment", ["start-up", "serving"])
@pytest.mark.parametrize("workers", [1, 2])
def test_serving_sigterm_leaves_nothing_serving_the_port(moment: str, workers: int, tmp_path: Path) -> None:
    port = free_port()
    args = ["--workers", "2", "--state", str(tmp_path / "s.db")] if workers == 2 else []
    proc = spawn(port, *args)
    try:
        if moment == "serving":
            wait_serving(port, proc)
        else:
            time.sleep(0.3)  # interpreter up, simulator (and workers) still starting
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)  # the main process only, as a supervisor would
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 5
        time.sleep(0.5)
        assert gone_within(port, 1.5), f"port {port} still served 2 s after SIGTERM ({moment})"
    finally:
        cleanup(proc)


def test_a_granian_worker_whose_master_died_while_it_started_exits_at_once() -> None:
    """A worker may finish starting after its master was killed (kill -9 while ``--workers 2`` start: CI saw the
    port served 2 s after it). It has a new parent by then, so watching "the parent it has now" kept it serving
    forever; it compares with the master's pid instead (``LTX_MOCK_MASTER``, one no process has here)."""
    from mock_server import server

    env = {**os.environ, server.CONFIG_ENV: json.dumps({"background": False}), server.MASTER_ENV: "999999999"}
    code = "import time\nfrom mock_server.server import granian_app_from_env\ngranian_app_from_env()\ntime.sleep(30)\n"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.returncode == 1, done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert time.monotonic() - t0 < 20  # the start-up, not the 30 s sleep


def test_a_granian_worker_puts_its_start_up_heap_out_of_the_collectors_reach() -> None:
    """A full collection in a serving worker walked every object start-up made (~50k: Flask, the contracts'
    schemas, the rules), a 45-48 ms pause under c16 POSTs; the worker freezes them once its app is built, so a
    collection walks only what came after (10 ms measured, docs/performance.md "gc.freeze")."""
    from mock_server import server

    env = {**os.environ, server.CONFIG_ENV: json.dumps({"background": False}), server.MASTER_ENV: str(os.getpid())}
    code = ("import gc, json\nfrom mock_server.server import granian_app_from_env\ngranian_app_from_env()\n"
            "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects())]))\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    frozen, walked = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert frozen > 20_000, (frozen, walked)  # the app, its contracts and the rules
    assert walked < frozen // 10, (frozen, walked)  # what a full collection still walks


def test_serving_kill_9_of_the_main_process_takes_its_workers_along(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn(port, "--workers", "2", "--state", str(tmp_path / "s.db"))
    try:
        wait_serving(port, proc)
        children = [int(c) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
        assert len(children) == 2, children
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: its workers are not signalled
        proc.wait(timeout=5)
        assert gone_within(port, 2.0), f"port {port} still served 2 s after kill -9 of the main process"
        end = time.monotonic() + 2
        while time.monotonic() < end and any(Path(f"/proc/{c}").exists() and
                                             "zombie" not in Path(f"/proc/{c}/status").read_text() for c in children):
            time.sleep(0.05)
        assert not any(Path(f"/proc/{c}/cmdline").exists() and Path(f"/proc/{c}/cmdline").read_bytes()
                       for c in children), "a worker outlived its killed parent"
    finally:
        cleanup(proc)


# -- webhooks --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_webhooks_dripping_and_1gib_receivers_delay_no_one_and_sigterm_exits() -> None:
    with simulator(name="webhooks") as srv:  # speed 1, the default 5 s attempt deadline
        report = bad_receivers(srv.url, rss=srv.rss_mb, drips=10, huge=2)
        receivers = report.pop("_receivers")
        try:
            assert not report["problems"], report
            assert report["bad_receiver_requests"] >= 10, report  # the bad deliveries were in flight
            assert srv.proc is not None
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)  # drips still hold their deliveries
            srv.proc.wait(timeout=10)
            assert time.monotonic() - t0 < 5, "SIGTERM with deliveries in flight took over 5 s"
        finally:
            for r in receivers:
                r.__exit__()


@pytest.fixture
def speedy() -> Iterator[Any]:
    """An in-process simulator at speed 1 with a 1 s webhook deadline and one attempt."""
    server, _ = start_simulator(paused=False, webhook_timeout_s=1.0, webhook_attempts=1)
    yield server
    server.stop()


def _deliveries(url: str, job_id: str, timeout: float = 10) -> dict[str, Any]:
    admin = AdminClient(url)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for d in admin.webhooks():
            if d["jobId"] == job_id and d["state"] in ("delivered", "failed"):
                return d
        time.sleep(0.05)
    raise AssertionError(f"no final delivery for {job_id}")


def _job_with_hook(url: str, hook: str) -> str:
    r = requests.post(f"{url}{API}/images/create", headers=AUTH, timeout=10,
                      json={"prompt": "hook", "replyUrl": hook})
    r.raise_for_status()
    AdminClient(url).advance(120)
    return r.json()["jobId"]


def test_webhooks_never_follow_redirects(speedy: Any) -> None:
    with Receiver("healthy") as elsewhere, Receiver("redirect", location=elsewhere.url) as redirect:
        job_id = _job_with_hook(speedy.url, redirect.url)
        record = _deliveries(speedy.url, job_id)
        time.sleep(0.3)
        assert record["state"] == "failed" and "redirects are not followed" in record["attempts"][0]["error"], record
        assert len(redirect.hits) == 1 and elsewhere.hits == [], (redirect.hits, elsewhere.hits)


def test_webhooks_only_reach_allowed_hosts() -> None:
    server, _ = start_simulator(paused=False, webhook_timeout_s=1.0, webhook_attempts=3,
                                webhook_allow=["localhost"])
    try:
        with Receiver("healthy") as hook:
            job_id = _job_with_hook(server.url, hook.url)  # 127.0.0.1 is not "localhost" here
            record = _deliveries(server.url, job_id)
            assert record["state"] == "failed" and len(record["attempts"]) == 1, record
            assert "allow-list" in record["attempts"][0]["error"] and hook.hits == [], record
            allowed = _job_with_hook(server.url, hook.url.replace("127.0.0.1", "localhost"))
            assert _deliveries(server.url, allowed)["state"] == "delivered"
    finally:
        server.stop()


def test_webhooks_one_slow_receiver_takes_two_threads_at_most(speedy: Any) -> None:
    with Receiver("drip") as drip, Receiver("healthy") as healthy:
        for _ in range(6):
            _job_with_hook(speedy.url, drip.url)
        time.sleep(0.3)
        assert len(drip.hits) <= 2, drip.hits  # the others wait, unclaimed, for their receiver
        job_id = _job_with_hook(speedy.url, healthy.url)
        assert _deliveries(speedy.url, job_id, timeout=2)["state"] == "delivered"


# -- pollForResult and saturation --------------------------------------------------------------------
def test_poll_for_result_beyond_its_slots_is_503_with_retry_after_and_creates_nothing() -> None:
    server, _ = start_simulator(paused=False, poll_waits=1)
    try:
        held = threading.Thread(target=requests.post, daemon=True, args=(f"{server.url}{API}/images/create",),
                                kwargs={"headers": AUTH, "json": {"prompt": "wait", "pollForResult": 2},
                                        "timeout": 30})
        held.start()
        time.sleep(0.5)
        before = requests.get(f"{server.url}/__admin/state", timeout=5).json()["counts"]
        r = requests.post(f"{server.url}{API}/images/create", headers=AUTH, timeout=10,
                          json={"prompt": "one more", "pollForResult": 2})
        assert r.status_code == 503 and r.headers["Retry-After"] == "3", (r.status_code, r.headers)
        assert r.json()["code"] == 503 and "pollForResult" in r.json()["error"]
        assert requests.get(f"{server.url}/__admin/state", timeout=5).json()["counts"] == before
        AdminClient(server.url).advance(120)  # the held wait's job ends: its wait ends within 0.25 s
        held.join(10)
        r = requests.post(f"{server.url}{API}/images/create", headers=AUTH, timeout=10,
                          json={"prompt": "now", "pollForResult": 1})
        assert r.status_code == 200, r.text  # the slot came back
    finally:
        server.stop()


def test_poll_for_result_ends_as_soon_as_the_clock_is_advanced() -> None:
    server, _ = start_simulator(paused=False)
    try:
        box: dict[str, Any] = {}

        def wait() -> None:
            t = time.monotonic()
            box["resp"] = requests.post(f"{server.url}{API}/images/create", headers=AUTH, timeout=60,
                                        json={"prompt": "wait", "pollForResult": 20})
            box["s"] = time.monotonic() - t

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.5)
        AdminClient(server.url).advance(120)
        t.join(10)
        assert box["resp"].status_code == 200 and box["resp"].json()["status"]["type"] == "completed"
        assert box["s"] < 2, box  # not the ~12 s the job would take at speed 1
    finally:
        server.stop()


def test_admission_limit_answers_503_with_retry_after_when_saturated() -> None:
    from mock_server.server import Admission

    gate = threading.Event()

    def slow_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        gate.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = Admission(slow_app, slots=1, wait_s=0.2)
    first = threading.Thread(target=lambda: list(app({}, lambda *a: None)))
    first.start()
    time.sleep(0.05)
    seen: dict[str, Any] = {}
    body = b"".join(app({}, lambda status, headers: seen.update(status=status, headers=dict(headers))))
    gate.set()
    first.join(5)
    assert seen["status"].startswith("503") and seen["headers"]["Retry-After"] == "1", seen
    assert b'"code": 503' in body


def test_admission_gate_admits_waiters_first_come_first_served() -> None:
    """A freed slot goes to the longest waiter, never to a later arrival (the p99 tail under c16)."""
    from mock_server.server import FifoGate

    gate = FifoGate(1)
    assert gate.acquire(timeout=0)
    order: list[int] = []
    threads = []
    for i in range(4):
        t = threading.Thread(target=lambda i=i: (gate.acquire(), order.append(i), gate.release()))
        t.start()
        threads.append(t)
        time.sleep(0.02)  # each is queued before the next arrives
    assert not gate.acquire(timeout=0.01)  # a newcomer waits behind the queue (and leaves it on timeout)
    gate.release()
    assert not gate.acquire(timeout=0)  # the freed slot went to waiter 0, not to this running thread
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3]
    assert gate.acquire(timeout=0) and not gate.acquire(timeout=0)  # exactly the one slot is left


class _Scope:
    """What granian's RSGI scope gives the front (``rsgi.BufferedWsgi.environ`` reads these)."""

    proto = "http"
    query_string = ""
    http_version = "1.1"
    server = "127.0.0.1:8000"
    client = "127.0.0.1:5000"
    scheme = "http"

    def __init__(self, method: str, path: str, body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = {"content-length": str(len(body))} if method == "POST" else {}


class _Proto:
    """granian's RSGI protocol object: the body as one chunk, the answer noted (from any thread)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.answer: tuple[int, dict[str, str], bytes] | None = None

    def __aiter__(self) -> _Proto:
        return self

    async def __anext__(self) -> bytes:
        if not self.body:
            raise StopAsyncIteration
        chunk, self.body = self.body, b""
        return chunk

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, {k.lower(): v for k, v in headers}, body)


@contextlib.contextmanager
def _front(app: Any, **options: Any) -> Iterator[tuple[Any, Any]]:
    """``rsgi.BufferedWsgi`` on an event loop in a thread of its own, as granian runs it; yields (front, loop)."""
    import asyncio

    from mock_server.rsgi import BufferedWsgi

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    front = BufferedWsgi(app, 8, body_timeout_s=5.0, max_body=1024, **options)
    front.loop = loop
    try:
        yield front, loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _request(front: Any, loop: Any, method: str, path: str) -> tuple[_Proto, Any]:
    import asyncio

    proto = _Proto(b'{"n": 1}' if method == "POST" else b"")
    return proto, asyncio.run_coroutine_threadsafe(front.__rsgi__(_Scope(method, path, proto.body), proto), loop)


def _until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.005)


def test_the_front_runs_two_writes_at_once_first_come_first_served_and_reads_beside_them() -> None:
    """granian: writes beyond ``writes`` wait in the front's queue (holding no thread) and run in arrival order,
    each as soon as a running write ends; GETs never wait for writes."""
    running: list[str] = []
    order: list[str] = []
    go = {f"/w{i}": threading.Event() for i in range(5)}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if environ["REQUEST_METHOD"] == "POST":
            order.append(path)
            running.append(path)
            assert environ["wsgi.input"].read() == b'{"n": 1}'
            go[path].wait(5)
            running.remove(path)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [path.encode()]

    with _front(app, writes=2, wait_s=30) as (front, loop):
        writes = []
        for i in range(5):
            writes.append(_request(front, loop, "POST", f"/w{i}"))
            time.sleep(0.02)  # each arrives after the one before
        _until(lambda: len(running) == 2)
        time.sleep(0.05)
        assert running == ["/w0", "/w1"] and len(front.queue) == 3
        proto, fut = _request(front, loop, "GET", "/read")  # a read runs beside the two writes
        fut.result(5)
        assert proto.answer is not None and proto.answer[2] == b"/read"
        for i in range(5):
            go[f"/w{i}"].set()
            writes[i][1].result(5)
            assert writes[i][0].answer is not None and writes[i][0].answer[2] == f"/w{i}".encode()
        assert order == [f"/w{i}" for i in range(5)]
        # the thread that sent the last answer gives its slot back just after: wait for it (bounded)
        _until(lambda: front.running == 0 and not front.queue)


def test_the_front_answers_503_to_a_write_queued_past_its_wait_and_never_runs_it() -> None:
    seen: list[str] = []
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["PATH_INFO"])
        release.wait(5)
        start_response("200 OK", [])
        return [b"ok"]

    with _front(app, writes=1, wait_s=0.3) as (front, loop):
        first = _request(front, loop, "POST", "/first")
        _until(lambda: seen == ["/first"])
        proto, fut = _request(front, loop, "POST", "/late")
        fut.result(5)  # answered by the deadline sweep, while /first still runs
        release.set()
        first[1].result(5)
    assert proto.answer is not None
    status, headers, body = proto.answer
    assert status == 503 and headers["retry-after"] == "1", proto.answer
    assert json.loads(body)["code"] == 503 and "saturated" in json.loads(body)["error"]
    assert seen == ["/first"]  # the late write never ran


def test_a_poll_wait_gives_its_write_slot_back_and_queues_again_for_it() -> None:
    """pollForResult sleeps through ``environ["ltx.admission"].released()``: the next write runs meanwhile; the
    wait then takes a slot again behind the writes queued before it wakes."""
    events: list[str] = []
    slept = threading.Event()
    wake = threading.Event()
    hold_b = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        events.append(f"start {path}")
        if path == "/poll":
            with environ["ltx.admission"].released():
                slept.set()
                wake.wait(5)
            events.append("poll has its slot again")
        elif path == "/b":
            hold_b.wait(5)
        events.append(f"end {path}")
        start_response("200 OK", [])
        return [b"ok"]

    with _front(app, writes=1, wait_s=30) as (front, loop):
        poll = _request(front, loop, "POST", "/poll")
        slept.wait(5)
        b = _request(front, loop, "POST", "/b")  # runs while /poll sleeps: the slot was given back
        _until(lambda: "start /b" in events)
        wake.set()  # /poll wants its slot back: /b holds it
        time.sleep(0.1)
        assert "poll has its slot again" not in events
        hold_b.set()
        b[1].result(5)
        poll[1].result(5)
        # the thread that sent the last answer gives its slot back just after: wait for it (bounded)
        _until(lambda: front.running == 0 and not front.queue)
    assert events == ["start /poll", "start /b", "end /b", "poll has its slot again", "end /poll"]


def test_serving_clients_dripping_post_bodies_hold_no_write_slot() -> None:
    """granian lets 2 writes run at once; 6 POSTs whose bodies never finish must not take those slots."""
    port = free_port()
    proc = spawn(port)
    socks: list[socket.socket] = []
    try:
        wait_serving(port, proc)
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"POST /v1/ltxstudio/images/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-token\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            socks.append(s)
        time.sleep(0.3)
        t0 = time.monotonic()
        resp = requests.post(f"http://127.0.0.1:{port}/v1/ltxstudio/images/create", json={"prompt": "x"},
                             headers={"Authorization": "Bearer demo-token"}, timeout=10)
        assert resp.status_code == 200 and time.monotonic() - t0 < 2.0, (resp.status_code, resp.text[:200])
    finally:
        for s in socks:
            s.close()
        cleanup(proc)


# -- slow request bodies (issue 26) ------------------------------------------------------------------------------
# Connections that send a POST's headers and then stall (a declared Content-Length never sent, a chunked body never
# ended) used to take one granian thread each: 40 of them froze the server. Here 60 (more than its 40 threads) are
# held open against ``--body-timeout 1``: fresh clients are answered as usual, and every stalled connection gets
# 408 {"error", "code": 408} and is closed at the deadline. The full-size run (220 stalled, 10 s) is
# ``python -m benchmarks.reliability serving``. Against the server before this work the same harness answered 0 of
# 20 probes and closed no stalled connection in 40 s.
BODY_TIMEOUT_S = 1.0
CLOSE_SLACK_S = 2.5  # waitress checks its connections once a second; a loaded machine adds the rest


@pytest.mark.slow
@pytest.mark.parametrize(("server", "workers"), [("granian", 1), ("granian", 2), ("waitress", 1), ("werkzeug", 1)])
def test_stalled_bodies_freeze_nobody_and_get_408_at_the_deadline(server: str, workers: int, tmp_path: Path) -> None:
    port = free_port()
    extra = ["--workers", "2", "--state", str(tmp_path / "s.db")] if workers > 1 else []
    proc = spawn(port, "--server", server, "--body-timeout", str(BODY_TIMEOUT_S), *extra)
    try:
        wait_serving(port, proc)
        report = stalled_bodies(f"http://127.0.0.1:{port}", port, sized=50, chunked=10, probes=20,
                                body_timeout_s=BODY_TIMEOUT_S)
    finally:
        cleanup(proc)
    assert report["stalled"] == 60, report
    assert report["answered"] == 20, report
    assert report["p50_ms"] < HOSTILE_P50_MS and report["p99_ms"] < HOSTILE_P99_MS, report
    assert report["answers"] == {"408": 60}, report
    assert report["still_open"] == 0
    assert report["closed_first_s"] >= BODY_TIMEOUT_S - 0.2, report  # not before the deadline
    assert report["closed_last_s"] <= BODY_TIMEOUT_S + CLOSE_SLACK_S, report
    head, _, body = report["sample"].partition("\r\n\r\n")
    assert "connection: close" in head.lower()
    assert json.loads(body) == {"code": 408, "error": "Request body incomplete: nothing received for 1 s "
                                                      "(--body-timeout); the connection is closed"}


class _HangThenAnswer:
    """A webhook receiver that accepts and never answers while ``hang`` is set, then answers 200 to each POST
    and notes when it came."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.hang = True
        self.hung = threading.Event()
        self.delivered: list[float] = []
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                if self.hang:
                    self.held.append(conn)
                    self.hung.set()
                    continue
                data = b""
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self.delivered.append(time.monotonic())
                conn.close()

    def close(self) -> None:
        for c in [*self.held, self.sock]:
            c.close()


@pytest.mark.parametrize("server", ["granian"])  # waitress did so already (test_webhooks_dripping_..._sigterm_exits)
def test_sigterm_hands_in_flight_webhook_deliveries_back(server: str, tmp_path: Path) -> None:
    """SIGTERM while a delivery is in flight (its receiver hangs): the server exits within the 5 s bound and hands
    the delivery back as due, so the next server on the same --state delivers it at once, not when its 30 s lease
    runs out (granian before this work: 27 s)."""
    state = tmp_path / "s.db"
    receiver = _HangThenAnswer()
    port = free_port()
    proc = spawn(port, "--server", server, "--state", str(state), "--paused")
    try:
        wait_serving(port, proc)
        base = f"http://127.0.0.1:{port}"
        created = requests.post(f"{base}{API}/images/create", json={"prompt": "a fox", "replyUrl": receiver.url},
                                headers=AUTH, timeout=10)
        assert created.status_code == 200, created.text
        AdminClient(base).advance(600)
        assert receiver.hung.wait(10), "the delivery never started"
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 5
    finally:
        cleanup(proc)
    receiver.hang = False
    port = free_port()
    proc = spawn(port, "--server", server, "--state", str(state), "--paused")
    try:
        wait_serving(port, proc)
        started = time.monotonic()
        end = started + 20
        while not receiver.delivered and time.monotonic() < end:
            time.sleep(0.05)
        assert receiver.delivered, "not delivered within 20 s of the restart"
        assert receiver.delivered[0] - started < 5, receiver.delivered[0] - started
    finally:
        cleanup(proc)
        receiver.close()


@pytest.mark.parametrize("server", ["granian", "waitress"])  # werkzeug's exit never waited for its threads
def test_sigterm_with_long_polls_in_flight_exits_within_the_bound(server: str) -> None:
    """8 ``pollForResult: 20`` waits in flight: SIGTERM still ends the server within 5 s (waitress waited 5.03 s
    for its request threads before this work)."""
    port = free_port()
    proc = spawn(port, "--server", server)
    answers: list[object] = []

    def wait() -> None:
        try:
            answers.append(requests.post(f"http://127.0.0.1:{port}{API}/images/create", headers=AUTH, timeout=30,
                                         json={"prompt": "a fox", "pollForResult": 20}).status_code)
        except requests.RequestException as exc:
            answers.append(type(exc).__name__)

    try:
        wait_serving(port, proc)
        waits = [threading.Thread(target=wait, daemon=True) for _ in range(8)]
        for t in waits:
            t.start()
        time.sleep(1.0)  # all 8 are waiting (a job takes ~12 s at speed 1)
        assert not answers, answers
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - t0 < 5.0
        assert gone_within(port, 1.0)
    finally:
        cleanup(proc)


def test_a_drop_fault_still_drops_mid_response_on_the_production_server() -> None:
    """The RSGI front sends what the app answers; a "drop" fault's head promises 1,024 bytes and the connection
    closes after the head (granian would otherwise correct the Content-Length of a complete body to 0)."""
    port = free_port()
    proc = spawn(port)
    try:
        wait_serving(port, proc)
        base = f"http://127.0.0.1:{port}"
        AdminClient(base).fault(path=f"{API}/scheduler/available", drop=True)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(f"GET {API}/scheduler/available HTTP/1.1\r\nHost: x\r\n{next(iter(AUTH))}: "
                      f"{AUTH['Authorization']}\r\n\r\n".encode())
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"content-length: 1024" in head.lower(), data
        assert body == b""
    finally:
        cleanup(proc)


def test_a_dribble_fault_streams_on_the_production_server() -> None:
    """The RSGI front returns an answer whole unless its parts come slowly: a ``dribble`` fault's bytes arrive
    spread over its time, in many reads, not all at once at the end."""
    port = free_port()
    proc = spawn(port, "--paused")
    try:
        wait_serving(port, proc)
        base = f"http://127.0.0.1:{port}"
        whole = requests.get(f"{base}{API}/accounts", headers=AUTH, timeout=5).content
        AdminClient(base).fault(method="GET", path=f"{API}/accounts", connection="dribble",
                                dribble_bps=len(whole) / 0.5, count=1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(f"GET {API}/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
                      "Connection: close\r\n\r\n".encode())
            t0 = time.monotonic()
            arrivals: list[float] = []
            data = b""
            while chunk := c.recv(65536):
                arrivals.append(time.monotonic() - t0)
                data += chunk
        assert data.partition(b"\r\n\r\n")[2] == whole
        assert len(arrivals) >= 4 and arrivals[-1] - arrivals[0] >= 0.3, arrivals
    finally:
        cleanup(proc)


def test_writes_sleeping_in_a_latency_or_dribble_fault_stop_no_other_write() -> None:
    """A latency fault's sleep and a dribbled answer's pauses give the write slot back (as a pollForResult wait
    does): with more slow writes in flight than the worker has write slots, a plain write is still answered at
    once, not after the slow ones."""
    port = free_port()
    proc = spawn(port, "--paused")
    slow_s = 2.0
    try:
        wait_serving(port, proc)
        base = f"http://127.0.0.1:{port}"
        admin = AdminClient(base)
        url = f"{base}{API}/images/create"
        size = len(requests.post(url, json={"prompt": "x"}, headers=AUTH, timeout=5).content)
        for rule in ({"latency_ms": slow_s * 1000}, {"connection": "dribble", "dribble_bps": size / slow_s}):
            admin.fault(method="POST", path=f"{API}/images/create", count=3, **rule)
            slow: list[float] = []

            def one(slow: list[float] = slow) -> None:
                t0 = time.monotonic()
                r = requests.post(url, json={"prompt": "slow"}, headers=AUTH, timeout=10)
                assert r.status_code == 200, r.text
                slow.append(time.monotonic() - t0)

            threads = [threading.Thread(target=one) for _ in range(3)]  # more than the worker's write slots
            for t in threads:
                t.start()
            # two are in their fault (as many as the worker runs writes at once, at most), the third sent meanwhile
            _until(lambda: sum(r.get("count") or 0 for r in admin.faults()) <= 1)
            time.sleep(0.2)
            t0 = time.monotonic()
            r = requests.post(url, json={"prompt": "fast"}, headers=AUTH, timeout=10)
            took = time.monotonic() - t0
            for t in threads:
                t.join(10)
            assert r.status_code == 200, r.text
            assert took < slow_s / 2, (rule, took)
            assert len(slow) == 3 and min(slow) >= slow_s * 0.9, (rule, slow)  # the faults did slow those down
    finally:
        cleanup(proc)
