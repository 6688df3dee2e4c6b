"""Clients of both kinds for the client's tests, and a fake clock.

Every behaviour test runs against both clients (`client_kind`: the blocking `LTXStudioClient` and the
`AsyncLTXStudioClient`), one suite: the async client is driven from the (sync) test through `Blocking`, which
runs each call on a real event loop, and its httpx transport hands each request to the same `responses`
registry the sync client's requests go to, so a test registers its answers once for both.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import requests

from client import AsyncLTXStudioClient, LTXStudioClient
from client._retry import request_was_not_sent

BASE = "https://api.test/v1/ltxstudio"
TOKEN = "test-token"
KINDS = ("sync", "async")


class FakeClock:
    """Monotonic time that only moves when the client sleeps: tests never wait for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ResponsesBridge(httpx.AsyncBaseTransport):
    """An httpx transport that sends through requests, so `responses` answers the async client too.

    requests' connection errors come back as httpx's: a connection never made (refused, DNS) as
    `httpx.ConnectError`, one dropped after sending as `httpx.ReadError`, as httpx itself would raise them.
    """

    def __init__(self) -> None:
        self.session = requests.Session()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        try:
            answer = self.session.request(request.method, str(request.url), headers=headers, data=body or None,
                                          allow_redirects=False)
        except requests.ConnectionError as exc:
            if request_was_not_sent(exc):
                raise httpx.ConnectError(str(exc), request=request) from exc
            raise httpx.ReadError(str(exc), request=request) from exc
        skip = ("content-length", "content-encoding", "transfer-encoding")
        return httpx.Response(answer.status_code, headers=[(k, v) for k, v in answer.headers.items()
                                                           if k.lower() not in skip],
                              content=answer.content, request=request)


class Blocking:
    """An AsyncLTXStudioClient as a sync test sees it: each awaitable method runs to its end on `runner`."""

    def __init__(self, client: AsyncLTXStudioClient, runner: asyncio.Runner) -> None:
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_runner", runner)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if inspect.isasyncgenfunction(value):
            async def collect(*args: Any, **kwargs: Any) -> list[Any]:
                return [item async for item in value(*args, **kwargs)]

            return lambda *args, **kwargs: iter(self._runner.run(collect(*args, **kwargs)))
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: self._runner.run(value(*args, **kwargs))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._client, name, value)

    def close(self) -> None:
        self._runner.run(self._client.aclose())

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._client)


@contextmanager
def open_client(kind: str, *args: Any, network: bool = False, **kwargs: Any) -> Iterator[Any]:
    """A client of `kind` ("sync" or "async", the latter through `Blocking`), closed afterwards.

    The async one's HTTP goes through `ResponsesBridge` (where `responses` answers the sync one's), or over
    the network with httpx's own transport (`network=True`: a live simulator).
    """
    if kind == "sync":
        with LTXStudioClient(*args, **kwargs) as client:
            yield client
        return
    with asyncio.Runner() as runner:
        session = httpx.AsyncClient() if network else httpx.AsyncClient(transport=ResponsesBridge())
        client = AsyncLTXStudioClient(*args, session=session, **kwargs)
        try:
            yield Blocking(client, runner)
        finally:
            runner.run(session.aclose())


