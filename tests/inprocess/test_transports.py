"""Every common transport meets the in-process simulator; anything else aimed at the mocked host is refused.

Each transport runs a user's typical poll loop (create a job, then up to 20 polls 3 s apart with the loop's own
sleep) under ``mock_ltxstudio(simulate_sleep=True)``: the job completes, the loop takes well under 2 s of real
time, and an audit hook (``socket.getaddrinfo`` / ``socket.connect`` events, raised by CPython itself) counts
no attempt to resolve or reach api.useapi.net.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import anyio
import httpx
import pytest
import requests
import trio
import urllib3
from test_inprocess import LocalServer

from ltxstudio_mock import NetworkGuardError, mock_ltxstudio

HOST = "api.useapi.net"
API = f"https://{HOST}/v1/ltxstudio"
HEADERS = {"Authorization": "Bearer demo-token"}
POLLS, INTERVAL = 20, 3

# -- a socket-level count: CPython raises these audit events inside the real calls, whoever patched what ------
_attempts: list[tuple[str, Any]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.connect"):
        where = args[1] if event == "socket.connect" else args[0]
        _attempts.append((event, where))


sys.addaudithook(_audit)


def attempts_to(host: str) -> list[tuple[str, Any]]:
    return [(e, w) for e, w in _attempts if host in str(w)]


@pytest.fixture
def local() -> Iterator[LocalServer]:
    server = LocalServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


# -- one poll loop per transport, as user code writes it ------------------------------------------------------
def poll_requests() -> tuple[str, int]:
    job = requests.post(f"{API}/images/create", json={"prompt": "a fox"}, headers=HEADERS).json()
    for poll in range(POLLS):
        status = requests.get(f"{API}/assets/{job['jobId']}", headers=HEADERS).json()["status"]["type"]
        if status != "active":
            return status, poll
        time.sleep(INTERVAL)
    return status, POLLS


def poll_httpx() -> tuple[str, int]:
    with httpx.Client(headers=HEADERS) as client:
        job = client.post(f"{API}/images/create", json={"prompt": "a fox"}).json()
        for poll in range(POLLS):
            status = client.get(f"{API}/assets/{job['jobId']}").json()["status"]["type"]
            if status != "active":
                return status, poll
            time.sleep(INTERVAL)
    return status, POLLS


def poll_httpx_async() -> tuple[str, int]:
    async def run() -> tuple[str, int]:
        async with httpx.AsyncClient(headers=HEADERS) as client:
            job = (await client.post(f"{API}/images/create", json={"prompt": "a fox"})).json()
            for poll in range(POLLS):
                status = (await client.get(f"{API}/assets/{job['jobId']}")).json()["status"]["type"]
                if status != "active":
                    return status, poll
                await asyncio.sleep(INTERVAL)
        return status, POLLS

    return asyncio.run(run())


def poll_aiohttp() -> tuple[str, int]:
    async def run() -> tuple[str, int]:
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            async with session.post(f"{API}/images/create", json={"prompt": "a fox"}) as resp:
                job = await resp.json()
            for poll in range(POLLS):
                async with session.get(f"{API}/assets/{job['jobId']}") as resp:
                    status = (await resp.json())["status"]["type"]
                if status != "active":
                    return status, poll
                await asyncio.sleep(INTERVAL)
        return status, POLLS

    return asyncio.run(run())


def poll_urllib() -> tuple[str, int]:
    def call(url: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers={**HEADERS, "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as resp:
            return json.loads(resp.read())

    job = call(f"{API}/images/create", {"prompt": "a fox"})
    for poll in range(POLLS):
        status = call(f"{API}/assets/{job['jobId']}")["status"]["type"]
        if status != "active":
            return status, poll
        time.sleep(INTERVAL)
    return status, POLLS


def poll_urllib3() -> tuple[str, int]:
    pool = urllib3.PoolManager(headers=HEADERS)
    job = pool.request("POST", f"{API}/images/create", json={"prompt": "a fox"}).json()
    for poll in range(POLLS):
        status = pool.request("GET", f"{API}/assets/{job['jobId']}").json()["status"]["type"]
        if status != "active":
            return status, poll
        time.sleep(INTERVAL)
    return status, POLLS


def poll_anyio_trio() -> tuple[str, int]:
    """httpx on anyio's trio backend, sleeping with anyio.sleep (trio.sleep underneath)."""
    async def run() -> tuple[str, int]:
        async with httpx.AsyncClient(headers=HEADERS) as client:
            job = (await client.post(f"{API}/images/create", json={"prompt": "a fox"})).json()
            for poll in range(POLLS):
                status = (await client.get(f"{API}/assets/{job['jobId']}")).json()["status"]["type"]
                if status != "active":
                    return status, poll
                await anyio.sleep(INTERVAL)
        return status, POLLS

    return anyio.run(run, backend="trio")


TRANSPORTS: dict[str, Callable[[], tuple[str, int]]] = {
    "requests": poll_requests, "httpx": poll_httpx, "httpx-async": poll_httpx_async, "aiohttp": poll_aiohttp,
    "urllib.request": poll_urllib, "urllib3": poll_urllib3, "httpx-trio": poll_anyio_trio,
}


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_a_poll_loop_completes_in_process_on_simulated_time(name: str) -> None:
    _attempts.clear()
    with mock_ltxstudio(simulate_sleep=True) as ltx:
        t0, start = time.monotonic(), ltx.time.now()
        status, polls = TRANSPORTS[name]()
        elapsed = time.monotonic() - t0
        simulated = ltx.time.now() - start
        journal = ltx.admin.count_requests(path="*/assets/*")
    assert status == "completed" and 0 < polls < POLLS, (status, polls)
    assert simulated == pytest.approx(polls * INTERVAL, abs=0.5)  # each sleep moved the clock by itself
    assert journal == polls + 1  # every poll was answered by this simulator
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s of real time"
    assert attempts_to(HOST) == [], "a real connection attempt to the API"


# -- the network guard ---------------------------------------------------------------------------------------
def test_the_guard_refuses_what_nobody_intercepts_before_dns() -> None:
    _attempts.clear()
    with mock_ltxstudio():
        with pytest.raises(NetworkGuardError, match=r"api\.useapi\.net:443 by socket"):
            socket.create_connection((HOST, 443))

        async def raw() -> None:
            await asyncio.open_connection(HOST, 443)

        with pytest.raises(NetworkGuardError, match=r"api\.useapi\.net:443 by asyncio"):
            asyncio.run(raw())
        with pytest.raises(NetworkGuardError, match=r"refused a connection to api\.useapi\.net"):
            socket.gethostbyname(HOST)
        with pytest.raises(NetworkGuardError), socket.socket() as raw_socket:
            raw_socket.connect((HOST, 80))  # a name guarded on every port
    with mock_ltxstudio(guard=["cdn.useapi.test"]), pytest.raises(NetworkGuardError, match=r"cdn\.useapi\.test"):
        socket.getaddrinfo("cdn.useapi.test", 443)  # more hosts to refuse, named by the user
    assert attempts_to(HOST) == [] and attempts_to("cdn.useapi.test") == []


def test_a_transport_without_its_interceptor_is_refused_with_what_to_do() -> None:
    """aiohttp as it is without the [aiohttp] extra; http.client with its interception off."""
    _attempts.clear()

    async def aiohttp_call() -> None:
        async with aiohttp.ClientSession() as session:
            await session.get(f"{API}/accounts", headers=HEADERS)

    with mock_ltxstudio(aiohttp=False), pytest.raises(NetworkGuardError) as info:
        asyncio.run(aiohttp_call())
    assert "by aiohttp" in str(info.value) and "ltxstudio-mock[aiohttp]" in str(info.value)
    with mock_ltxstudio(urllib=False), pytest.raises(NetworkGuardError, match=r"by http\.client"):
        http.client.HTTPSConnection(HOST).request("GET", "/v1/ltxstudio/accounts")
    with mock_ltxstudio(), pytest.raises(NetworkGuardError, match=r"/v1/midjourney/jobs is not a path"):
        requests.get(f"https://{HOST}/v1/midjourney/jobs")  # the real host's other APIs: refused too
    assert attempts_to(HOST) == []


def test_the_guard_is_what_stops_an_unintercepted_call(local: LocalServer) -> None:
    """The counterpart with the guard off shows the same call would have left the process."""
    async def aiohttp_call(url: str) -> int:
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            return resp.status

    mocked = f"{local.url}/v1/ltxstudio/accounts"  # the mocked host is this local server
    with mock_ltxstudio(url=local.url, aiohttp=False), pytest.raises(NetworkGuardError, match="by aiohttp"):
        asyncio.run(aiohttp_call(mocked))
    assert local.seen == []
    with mock_ltxstudio(url=local.url, aiohttp=False, guard=False):
        assert asyncio.run(aiohttp_call(mocked)) == 200
    assert [(m, p) for m, p, _ in local.seen] == [("GET", "/v1/ltxstudio/accounts")]


def test_other_hosts_pass_through_every_transport(local: LocalServer) -> None:
    async def aiohttp_call() -> Any:
        async with aiohttp.ClientSession() as session, session.get(f"{local.url}/a") as resp:
            return await resp.json()

    async def httpx_call() -> Any:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{local.url}/b")).json()

    with mock_ltxstudio():
        assert asyncio.run(aiohttp_call()) == {"from": "local server"}
        assert asyncio.run(httpx_call()) == {"from": "local server"}
        with urllib.request.urlopen(f"{local.url}/c") as resp:
            assert json.loads(resp.read()) == {"from": "local server"}
        assert urllib3.PoolManager().request("GET", f"{local.url}/d").json() == {"from": "local server"}
    assert [p for _, p, _ in local.seen] == ["/a", "/b", "/c", "/d"]


@pytest.mark.parametrize(("name", "error"), [
    ("aiohttp", aiohttp.ClientPayloadError), ("urllib.request", http.client.IncompleteRead),
    ("urllib3", urllib3.exceptions.ProtocolError), ("httpx", httpx.RemoteProtocolError)])
def test_a_dropped_connection_is_each_librarys_own_error(name: str, error: type[BaseException]) -> None:
    async def aiohttp_call() -> None:
        async with aiohttp.ClientSession() as session, session.get(f"{API}/scheduler", headers=HEADERS) as r:
            await r.read()

    def urllib_call() -> None:
        with urllib.request.urlopen(urllib.request.Request(f"{API}/scheduler", headers=HEADERS)) as resp:
            resp.read()

    calls: dict[str, Callable[[], Any]] = {
        "aiohttp": lambda: asyncio.run(aiohttp_call()), "urllib.request": urllib_call,
        "urllib3": lambda: urllib3.PoolManager().request("GET", f"{API}/scheduler", headers=HEADERS, retries=False),
        "httpx": lambda: httpx.get(f"{API}/scheduler", headers=HEADERS)}
    with mock_ltxstudio() as ltx:
        ltx.admin.fault(method="GET", path="/v1/ltxstudio/scheduler", drop=True)
        with pytest.raises(error):
            calls[name]()


# -- simulated asynchronous time ----------------------------------------------------------------------------
def test_asyncio_sleep_moves_the_simulated_and_the_loop_clock() -> None:
    async def scenario(ltx: Any) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        seen: dict[str, float] = {}
        start, deadline, polls = ltx.time.now(), loop.time() + 60, 0
        while loop.time() < deadline:  # a loop.time() deadline ends
            await asyncio.sleep(INTERVAL)
            polls += 1
        seen["deadline loop"], seen["polls"] = ltx.time.now() - start, polls
        start = ltx.time.now()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(10):  # the timeout fires at its own time: 10 s pass, not 100
                await asyncio.sleep(100)
        seen["timeout"] = ltx.time.now() - start
        start = ltx.time.now()
        assert await asyncio.wait_for(asyncio.sleep(5, result="done"), 10) == "done"
        seen["wait_for"] = ltx.time.now() - start

        async def poller(times: int, every: float) -> None:
            for _ in range(times):
                await asyncio.sleep(every)

        start = ltx.time.now()
        await asyncio.gather(poller(10, 3), poller(6, 5), poller(30, 1))  # one timeline: 30 s, not 90
        seen["gather"] = ltx.time.now() - start
        return seen

    with mock_ltxstudio(simulate_sleep=True) as ltx:
        t0 = time.monotonic()
        seen = asyncio.run(scenario(ltx))
    assert seen["polls"] == 20 and seen["deadline loop"] == pytest.approx(60, abs=0.1)
    assert seen["timeout"] == pytest.approx(10, abs=0.1)
    assert seen["wait_for"] == pytest.approx(5, abs=0.1)
    assert seen["gather"] == pytest.approx(30, abs=0.1)
    assert time.monotonic() - t0 < 2
    assert asyncio.sleep.__doc__ and "simulated" not in asyncio.sleep.__doc__, "asyncio.sleep not restored"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_and_trio_sleeps_are_simulated(backend: str) -> None:
    async def scenario(ltx: Any) -> tuple[float, float]:
        start, begun = ltx.time.now(), anyio.current_time()
        await anyio.sleep(30)
        with anyio.move_on_after(5):  # the loop's own clock moved: the deadline passes in simulated time
            await anyio.sleep(50)
        if backend == "trio":
            await trio.sleep(10)
        return ltx.time.now() - start, anyio.current_time() - begun

    with mock_ltxstudio(simulate_sleep=True) as ltx:
        t0 = time.monotonic()
        simulated, loop_clock = anyio.run(scenario, ltx, backend=backend)
    expected = 35 + (10 if backend == "trio" else 0)
    assert simulated == pytest.approx(expected, abs=0.5)
    assert loop_clock == pytest.approx(expected, abs=0.5)
    assert time.monotonic() - t0 < 2


# -- the fixture and the handle inside async test frameworks --------------------------------------------------
@pytest.mark.asyncio
async def test_pytest_asyncio_with_the_fixture_and_its_async_client(ltx_mock_inprocess: Any) -> None:
    async with ltx_mock_inprocess.aclient as api:
        done = await api.wait(await api.create_veo_video(prompt="A fox", model="veo3-fast"))
        assert done.is_done and done.asset_url.startswith(f"https://{HOST}/")
    with ltx_mock_inprocess.simulate_sleep():
        start = ltx_mock_inprocess.time.now()
        await asyncio.sleep(45)
        assert ltx_mock_inprocess.time.now() - start == pytest.approx(45, abs=0.1)


@pytest.mark.anyio
async def test_anyio_plugin_with_the_handle() -> None:
    with mock_ltxstudio(simulate_sleep=True) as ltx:
        async with ltx.aclient as api:
            job = await api.create_image("a lighthouse")
            await anyio.sleep(30)
            assert (await api.get_job(job.job_id)).is_done


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
