"""What an in-process request costs, per transport, against a static stub of the same library.

``mock_ltxstudio`` answers ``GET /v1/ltxstudio/assets/{jobId}`` (a completed job) through the simulator in
this process; the baseline is the transport's own mocking library (``responses``, ``respx``,
``aioresponses``) returning the same status, headers and body for the same URL with no simulator behind it.
Both are timed in one run with the same client code (a Session/Client reused, as real code does), as CPU
microseconds per request (best of three), so the ratio is what the simulator adds over a canned answer.
Target (issue 23): at most 2x. urllib3 and urllib.request have no stub library to compare with: their cost
is reported alone.

    python -m benchmarks.inprocess_bench [-n 2000] [--quick] [--same-level]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks import cpu_us, emit, table, write_results

HOST = "https://api.useapi.net"
HEADERS = {"Authorization": "Bearer demo-token"}
TARGET = 2.0


def _async_cpu_us(make: Callable[[], Any], n: int) -> float:
    """``cpu_us`` for a coroutine function: ``n`` awaits inside one event loop, per request."""
    runner = asyncio.Runner()

    async def batch(count: int) -> None:
        for _ in range(count):
            await make()

    try:
        runner.run(batch(max(1, n // 10)))
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            runner.run(batch(n))
            best = min(best, (time.process_time() - t0) / n * 1e6)
        return round(best, 1)
    finally:
        close = getattr(make, "aclose", None)
        if close is not None:
            runner.run(close())
        runner.close()


def _completed_job(ltx: Any) -> tuple[str, int, list[tuple[str, str]], bytes]:
    """A finished job's URL and the simulator's exact answer to it (what the stubs will return)."""
    from ltxstudio_mock.inprocess import dispatch

    job = ltx.client.create_image("A serene mountain landscape at sunset")
    ltx.admin.advance(60)
    url = f"{ltx.base_url}/assets/{job.job_id}"
    status, headers, body = dispatch(ltx.app, "GET", url, HEADERS, None)
    return url, status, headers, body


# -- the clients, one call each ---------------------------------------------------------------------------------
def requests_call(url: str) -> Callable[[], Any]:
    import requests

    session = requests.Session()
    return lambda: session.get(url, headers=HEADERS).content


def httpx_call(url: str) -> Callable[[], Any]:
    import httpx

    client = httpx.Client()
    return lambda: client.get(url, headers=HEADERS).content


def httpx_async_call(url: str) -> Callable[[], Any]:
    import httpx

    holder: dict[str, Any] = {}

    async def call() -> bytes:
        if "client" not in holder:  # bound to the running loop
            holder["client"] = httpx.AsyncClient()
        return (await holder["client"].get(url, headers=HEADERS)).content

    async def aclose() -> None:
        if "client" in holder:
            await holder.pop("client").aclose()

    call.aclose = aclose  # type: ignore[attr-defined]
    return call


def aiohttp_call(url: str) -> Callable[[], Any]:
    import aiohttp

    holder: dict[str, Any] = {}

    async def call() -> bytes:
        if "session" not in holder:
            holder["session"] = aiohttp.ClientSession()
        async with holder["session"].get(url, headers=HEADERS) as resp:
            return await resp.read()

    async def aclose() -> None:
        if "session" in holder:
            await holder.pop("session").close()

    call.aclose = aclose  # type: ignore[attr-defined]
    return call


def urllib3_call(url: str) -> Callable[[], Any]:
    import urllib3

    pool = urllib3.PoolManager()
    return lambda: pool.request("GET", url, headers=HEADERS).data


def urllib_call(url: str) -> Callable[[], Any]:
    def call() -> bytes:
        with urllib.request.urlopen(urllib.request.Request(url, headers=HEADERS)) as resp:
            return bytes(resp.read())

    return call


# -- the static stubs: the same answer, no simulator ----------------------------------------------------------------
@contextmanager
def responses_stub(url: str, status: int, headers: list[tuple[str, str]], body: bytes) -> Iterator[None]:
    import responses

    with responses.RequestsMock() as mock:
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        mock.add("GET", re.compile(re.escape(url)), body=body, status=status, content_type=content_type,
                 headers={k: v for k, v in headers if k.lower() not in ("content-length", "content-type")})
        yield


#: --same-level: each stub given the shortcuts mock_ltxstudio's interceptors take (respx at its transport level,
#: aioresponses' Mock loop not in debug mode), so the ratio is the simulator's cost alone. The default is each
#: library's stub as a test author writes it (respx's default httpcore level, aioresponses as it comes).
SAME_LEVEL = {"on": False}


@contextmanager
def respx_stub(url: str, status: int, headers: list[tuple[str, str]], body: bytes) -> Iterator[None]:
    import httpx
    import respx

    with respx.mock(using="httpx" if SAME_LEVEL["on"] else "httpcore") as router:
        router.get(url__regex=re.escape(url)).mock(return_value=httpx.Response(
            status, headers=[(k, v) for k, v in headers if k.lower() != "content-length"], content=body))
        yield


@contextmanager
def aioresponses_stub(url: str, status: int, headers: list[tuple[str, str]], body: bytes) -> Iterator[None]:
    import aiohttp
    from aioresponses import aioresponses

    from ltxstudio_mock.interceptors import _aiohttp_response_class

    base = _aiohttp_response_class(aiohttp)  # aioresponses 0.7.9 cannot build a response of aiohttp >= 3.12 alone

    class QuietLoop(base):  # type: ignore[misc, valid-type]
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            kwargs["loop"].get_debug.return_value = False
            super().__init__(method, url, **kwargs)

    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    with aioresponses() as mock:
        mock.get(re.compile(re.escape(url)), status=status, body=body, content_type=content_type, repeat=True,
                 headers={k: v for k, v in headers if k.lower() != "content-type"},
                 response_class=QuietLoop if SAME_LEVEL["on"] else base)
        yield


def _measure(make: Callable[[str], Callable[[], Any]], is_async: bool, url: str, n: int) -> float:
    call = make(url)
    return _async_cpu_us(call, n) if is_async else cpu_us(call, n, warmup=max(1, n // 10))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="simulator and stub measured alternately, best kept")
    parser.add_argument("--quick", action="store_true", help="300 requests, 3 rounds: a smoke run")
    parser.add_argument("--same-level", action="store_true",
                        help="stubs given the interceptors' shortcuts: the simulator's own cost (see SAME_LEVEL)")
    args = parser.parse_args(argv)
    SAME_LEVEL["on"] = args.same_level
    n, rounds = (300, 3) if args.quick else (args.n, args.rounds)
    from ltxstudio_mock import mock_ltxstudio

    transports: list[tuple[str, Callable[[str], Callable[[], Any]], bool, Any]] = [
        ("requests", requests_call, False, responses_stub),
        ("httpx", httpx_call, False, respx_stub),
        ("httpx async", httpx_async_call, True, respx_stub),
        ("aiohttp", aiohttp_call, True, aioresponses_stub),
        ("urllib3", urllib3_call, False, None),
        ("urllib.request", urllib_call, False, None),
    ]
    results: dict[str, Any] = {"n": n, "rounds": rounds, "same_level": args.same_level,
                               "loadavg_start": list(os.getloadavg()), "transports": {}}
    rows = []
    # Alternating rounds, best of each kept: on a shared machine a load spike then hits both sides alike. Each
    # round starts a fresh mock (a new completed job), measures it, stops it and measures the stub of the same
    # answer; the stopped simulator's journal proves no stubbed request reached it.
    for name, make, is_async, stub in transports:
        figures: dict[str, Any] = {"simulator": float("inf")}
        for _ in range(rounds):
            with mock_ltxstudio() as ltx:
                url, status, headers, body = _completed_job(ltx)
                figures["simulator"] = min(figures["simulator"], _measure(make, is_async, url, n))
            if stub is not None:
                before = ltx.admin.count_requests()
                with stub(url, status, headers, body):
                    cost = _measure(make, is_async, url, n)
                assert ltx.admin.count_requests() == before, f"{name}: the stub did not answer"
                figures["stub"] = min(figures.get("stub", float("inf")), cost)
        if stub is not None:
            figures["ratio"] = round(figures["simulator"] / figures["stub"], 2)
        results["transports"][name] = figures
        rows.append([name, figures["simulator"], figures.get("stub", "-"), figures.get("ratio", "-"),
                     "-" if "ratio" not in figures or args.same_level  # the target is against the stubs as written
                     else ("yes" if figures["ratio"] <= TARGET else "NO")])
    results["loadavg_end"] = list(os.getloadavg())
    path = write_results("inprocess-same-level" if args.same_level else "inprocess", results)
    stubs = "stubs at the interceptors' level" if args.same_level else "a static stub"
    emit(table(f"In-process request vs {stubs} of the same library, CPU us per GET /assets/{{jobId}} "
               f"(n={n}, best of {rounds} alternating rounds; ratio target <= {TARGET:g}x)",
               ["transport", "mock_ltxstudio", "static stub", "ratio", "<= 2x"], rows))
    emit(f"(mock_ltxstudio's defaults: every answer checked against openapi.yaml, journal on. Load average "
         f"{results['loadavg_start'][0]:.2f} -> {results['loadavg_end'][0]:.2f}; results: {os.path.relpath(path)})")
    return results


if __name__ == "__main__":
    main()
