"""The in-process mode: https://api.useapi.net answered inside the test process, time that never waits."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses

from client import CapacityError, JobTimeoutError, LTXStudioClient
from client._retry import REAL_TIME, time_source_for
from ltxstudio_mock import MockLTXStudio, mock_ltxstudio
from ltxstudio_mock.netguard import NetworkGuardError

API = "https://api.useapi.net/v1/ltxstudio"


class LocalServer:
    """A loopback HTTP server that records what reaches it (to prove what was, and was not, passed through)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append((self.command, self.path, json.loads(body) if body else None))
                payload = b'{"from": "local server"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.seen


@pytest.fixture
def local() -> Iterator[LocalServer]:
    server = LocalServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to connect a socket fails the test: in-process means no socket."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"a socket was connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def create_image(headers: dict[str, str], **body: Any) -> str:
    resp = requests.post(f"{API}/images/create", json={"prompt": "a fox", **body}, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["jobId"]


def test_requests_to_the_real_url_are_answered_in_process_without_a_socket(no_sockets: None) -> None:
    with mock_ltxstudio() as ltx:
        assert ltx.base_url == API and ltx.headers == {"Authorization": "Bearer demo-token"}
        assert "demo@example.com" in requests.get(f"{API}/accounts", headers=ltx.headers).json()
        assert requests.get(f"{API}/accounts/demo%40example.com", headers=ltx.headers).json()["email"] \
            == "demo@example.com"
        assert requests.get(f"{API}/accounts", headers={"Authorization": "Bearer wrong"}).status_code == 401
        job_id = create_image(ltx.headers)
        ltx.admin.advance(60)
        job = requests.get(f"{API}/assets/{job_id}", headers=ltx.headers).json()
        assert job["status"]["type"] == "completed"
        artifact = requests.get(job["status"]["artifact"]["assetUrl"])  # the signed URL is served too
        assert artifact.status_code == 200 and artifact.content.startswith(b"\x89PNG")
        assert requests.head(f"{API}/accounts", headers=ltx.headers).status_code == 200
        assert ltx.admin.count_requests(method="POST", path="*/images/create") == 1


def test_decorator_bare_and_with_options_each_call_gets_a_fresh_simulator() -> None:
    seen: list[int] = []

    @mock_ltxstudio
    def count_jobs() -> int:
        create_image({"Authorization": "Bearer demo-token"})
        return len(requests.get(f"{API}/scheduler", headers={"Authorization": "Bearer demo-token"}).json())

    @mock_ltxstudio(tokens=["t-one"], simulate_sleep=True)
    def with_options() -> float:
        t0 = time.monotonic()
        time.sleep(30)
        assert requests.get(f"{API}/accounts", headers={"Authorization": "Bearer t-one"}).status_code == 200
        return time.monotonic() - t0

    seen += [count_jobs(), count_jobs()]
    assert seen == [1, 1], "state carried over between two decorated calls"
    assert with_options() < 1.0
    assert time.sleep is REAL_TIME.sleep, "time.sleep was not restored"


def test_the_decorator_wraps_coroutines_and_httpx_is_intercepted(no_sockets: None) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("respx")

    @mock_ltxstudio
    async def run() -> tuple[int, int]:
        async with httpx.AsyncClient() as client:
            a = await client.get(f"{API}/accounts", headers={"Authorization": "Bearer demo-token"})
        b = httpx.post(f"{API}/images/create", json={"prompt": "a fox"}, headers={"Authorization": "Bearer demo-token"})
        return a.status_code, b.status_code

    assert asyncio.run(run()) == (200, 200)


def test_the_fixture_is_active_for_the_test(ltx_mock_inprocess: MockLTXStudio) -> None:
    assert ltx_mock_inprocess.active
    assert requests.get(f"{API}/accounts", headers=ltx_mock_inprocess.headers).status_code == 200
    ltx_mock_inprocess.admin.create_ltx_user(email="broke@example.com", credits=0)
    assert ltx_mock_inprocess.admin.get_ltx_user("broke@example.com")["credits"] == 0


def test_other_urls_go_through_untouched(local: LocalServer) -> None:
    with mock_ltxstudio():
        assert requests.get(f"{local.url}/elsewhere").json() == {"from": "local server"}
    # The intercepted host may be any: its simulator paths are answered here; another path on it is refused
    # by the network guard (the real host would be reached with a real token) unless the guard is off.
    with mock_ltxstudio(url=local.url) as ltx:
        assert requests.get(f"{local.url}/v1/ltxstudio/accounts", headers=ltx.headers).json()["demo@example.com"]
        with pytest.raises(NetworkGuardError, match=r"/v1/other is not a path the simulator serves"):
            requests.get(f"{local.url}/v1/other")
    with mock_ltxstudio(url=local.url, guard=False):
        assert requests.get(f"{local.url}/v1/other").json() == {"from": "local server"}
    assert [(m, p) for m, p, _ in local.seen] == [("GET", "/elsewhere"), ("GET", "/v1/other")]


def test_a_responses_mock_started_before_keeps_answering_its_urls() -> None:
    with responses.RequestsMock() as theirs:
        theirs.get("https://example.test/ping", json={"pong": True})
        with mock_ltxstudio() as ltx:
            assert requests.get("https://example.test/ping").json() == {"pong": True}
            assert requests.get(f"{API}/accounts", headers=ltx.headers).status_code == 200


@pytest.mark.parametrize("theirs_first", [True, False], ids=["respx-started-before", "respx-started-inside"])
def test_a_respx_mock_of_the_test_keeps_answering_its_urls(theirs_first: bool) -> None:
    """respx routers of the test's own, at respx's default (httpcore) level, in either nesting order."""
    httpx = pytest.importorskip("httpx")
    respx = pytest.importorskip("respx")
    with ExitStack() as stack:
        if theirs_first:
            theirs = stack.enter_context(respx.mock(assert_all_called=False))
        ltx = stack.enter_context(mock_ltxstudio())
        if not theirs_first:
            theirs = stack.enter_context(respx.mock(assert_all_called=False))
        theirs.get("https://example.test/ping").respond(json={"pong": True})
        with httpx.Client() as client:
            assert client.get("https://example.test/ping").json() == {"pong": True}
            assert client.get(f"{API}/accounts", headers=ltx.headers).status_code == 200
        assert ltx.admin.count_requests() == 1, "the simulator did not answer its own path"
        assert theirs.calls.call_count == 1, "respx answered more than its own URL"


def test_an_httpx_client_with_a_transport_of_its_own_meets_the_simulator_on_its_paths() -> None:
    """httpx is intercepted at respx's transport level (docs/fidelity.md): the simulator's paths are its answer
    whatever transport the client was built with; every other URL still goes to that transport."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("respx")
    own = httpx.MockTransport(lambda request: httpx.Response(299, text="own transport"))
    with mock_ltxstudio() as ltx, httpx.Client(transport=own) as client:
        assert client.get(f"{API}/accounts", headers=ltx.headers).json()["demo@example.com"]
        assert client.get("https://example.test/elsewhere").text == "own transport"


def test_reply_url_webhooks_are_delivered_for_real(local: LocalServer) -> None:
    with mock_ltxstudio() as ltx:
        job_id = create_image(ltx.headers, replyUrl=f"{local.url}/hook", replyRef="ref-1")
        ltx.time.sleep(60)
        calls = local.wait_for(1)
    assert calls and calls[0][0:2] == ("POST", "/hook")
    assert calls[0][2]["jobId"] == job_id and calls[0][2]["replyRef"] == "ref-1"


def test_control_surface_faults_credits_and_the_journal() -> None:
    with mock_ltxstudio() as ltx:
        ltx.admin.fault(method="GET", path="/v1/ltxstudio/accounts", status=503, count=2)
        assert "demo@example.com" in ltx.client.list_accounts()  # retried twice, in simulated time
        user = ltx.admin.create_ltx_user(credits=0)
        assert requests.post(f"{API}/accounts", json={"cookie": user["cookie"]}, headers=ltx.headers).ok
        resp = requests.post(f"{API}/images/create", json={"prompt": "x", "email": user["email"]},
                             headers=ltx.headers)
        assert resp.status_code == 402, resp.text
        assert ltx.admin.count_requests(method="GET", path="*/accounts", status=503) == 2
        ltx.admin.fault(method="GET", path="/v1/ltxstudio/scheduler", drop=True)
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(f"{API}/scheduler", headers=ltx.headers)
    assert ltx.admin.count_requests() >= 5, "the journal stays readable after the block"


def test_the_client_spends_simulated_time_waiting_and_retrying() -> None:
    with mock_ltxstudio() as ltx:
        api = ltx.client
        t0 = time.monotonic()
        start = ltx.time.now()
        done = api.wait(api.create_veo_video(prompt="A fox", model="veo3-fast"))  # about 70 simulated s
        assert done.is_done and ltx.time.now() - start >= 45
        ltx.admin.set_max_jobs(ltx.token, "demo@example.com", 1)
        api.create_image("first")  # 12 +- 2.4 simulated seconds
        ltx.admin.advance(11)
        second = api.create_image("second")  # 429, then retried after 0.5 + 1 + 2 simulated seconds
        assert second.job_id
        ltx.admin.advance(20)  # the second job's slot is free again
        ltx.admin.stall_next()
        stalled = api.create_image("stalled")
        with pytest.raises(JobTimeoutError):
            api.wait(stalled, timeout=900)  # 900 simulated seconds
        assert time.monotonic() - t0 < 5, "the client waited in real time"


def test_a_client_the_code_under_test_builds_waits_in_simulated_time_only_while_active() -> None:
    api = LTXStudioClient("demo-token")  # the real service's URL, as in production code
    assert time_source_for(api.base_url) is REAL_TIME
    with mock_ltxstudio():
        t0 = time.monotonic()
        done = api.wait(api.create_image("A lighthouse at dawn"), timeout=30)
        assert done.is_done and time.monotonic() - t0 < 2
    assert time_source_for(api.base_url) is REAL_TIME


def test_capacity_error_when_retries_run_out() -> None:
    with mock_ltxstudio() as ltx:
        ltx.admin.set_max_jobs(ltx.token, "demo@example.com", 1)
        ltx.admin.stall_next()
        api = LTXStudioClient("demo-token", retries=2)
        api.create_image("stalled forever")
        t0 = time.monotonic()
        with pytest.raises(CapacityError):
            api.create_image("no slot")
        assert time.monotonic() - t0 < 2


def test_simulate_sleep_runs_a_users_poll_loop_on_simulated_time() -> None:
    def poll_until_done(job_id: str, headers: dict[str, str]) -> int:
        """What code under test typically does."""
        polls = 0
        while requests.get(f"{API}/assets/{job_id}", headers=headers).json()["status"]["type"] == "active":
            assert polls < 30, "the job never finished"
            time.sleep(5)
            polls += 1
        return polls

    with mock_ltxstudio(simulate_sleep=True) as ltx:
        t0 = time.monotonic()
        job = requests.post(f"{API}/videos/veo-create", json={"prompt": "A fox", "model": "veo3-fast"},
                            headers=ltx.headers).json()
        polls = poll_until_done(job["jobId"], ltx.headers)
        assert polls >= 9, polls  # about 70 simulated seconds, 5 s per poll
        assert time.monotonic() - t0 < 1.0
    assert time.sleep is REAL_TIME.sleep
    with mock_ltxstudio() as ltx, ltx.simulate_sleep():
        before = ltx.time.now()
        time.sleep(120)
        assert ltx.time.now() - before == pytest.approx(120, abs=0.01)
        with pytest.raises(ValueError):
            time.sleep(-1)


def test_ltx_mock_sleep_fixture_simulates_sleep_against_the_live_simulator(ltx_mock_sleep: Any) -> None:
    api, headers = ltx_mock_sleep.base_url, ltx_mock_sleep.headers
    job_id = requests.post(f"{api}/images/create", json={"prompt": "a fox"}, headers=headers).json()["jobId"]
    t0 = time.monotonic()
    for _ in range(10):  # bounded: were sleep not simulated, a paused clock would never finish the job
        if requests.get(f"{api}/assets/{job_id}", headers=headers).json()["status"]["type"] != "active":
            break
        time.sleep(5)
    else:
        pytest.fail("the job never finished")
    assert time.monotonic() - t0 < 1.0


def test_ltx_mock_claims_clients_aimed_at_it(ltx_mock: Any) -> None:
    api = LTXStudioClient(ltx_mock.token, base_url=ltx_mock.base_url)  # no sleep= given
    t0 = time.monotonic()
    assert api.wait(api.create_image("a fox"), timeout=30).is_done
    assert time.monotonic() - t0 < 2


def test_misuse_is_reported_plainly() -> None:
    with pytest.raises(ValueError, match="scheme and host"):
        MockLTXStudio(url="api.useapi.net")
    with pytest.raises(RuntimeError, match="not started"):
        _ = MockLTXStudio().admin
    with mock_ltxstudio() as ltx, pytest.raises(RuntimeError, match="already active"):
        ltx.start()
    with mock_ltxstudio():  # any method on a simulator path is the simulator's, never the network's
        assert requests.request("TRACE", f"{API}/accounts").status_code == 405
