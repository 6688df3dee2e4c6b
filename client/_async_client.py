"""`AsyncLTXStudioClient`: the awaitable client, on an httpx.AsyncClient. Its logic is `_core.ClientCore`'s,
shared with `LTXStudioClient`; this module is only how a request is sent and a file written with httpx."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from contracts.spec import Contract

from . import __version__
from ._core import AsyncRunner, Failed, ResponseHook, Send
from ._retry import request_was_not_sent, time_source_for
from .models import Artifact, AssetItem, Job, UploadedAsset

__all__ = ["AsyncLTXStudioClient"]


def _httpx_timeout(timeout: float | tuple[float, float]) -> httpx.Timeout:
    """requests' ``(connect, read)`` pair, or one number, as httpx's timeout."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(timeout)


class AsyncLTXStudioClient(AsyncRunner):
    """`LTXStudioClient` for async code (FastAPI, aiohttp apps, MCP servers): the same methods, awaitable.

    Same options, option checks, typed errors, retries and `wait()`, from the same implementation
    (`_core.ClientCore`); `session` is an `httpx.AsyncClient` (the client makes one when not given).
    `sleep` may be a plain function or a coroutine function; left out, it is `asyncio.sleep`, or the
    simulated clock's advance when a simulator claimed this client's base URL. `iter_assets` is an async
    iterator. Use `async with`, or `await aclose()`.
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | tuple[float, float] = (10.0, 120.0),
        retries: int = 3,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        session: httpx.AsyncClient | None = None,
        response_hook: ResponseHook | None = None,
        validate: bool = True,
        contract: Contract | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(token, base_url, timeout=timeout, retries=retries, backoff=backoff,
                         backoff_max=backoff_max, response_hook=response_hook, validate=validate,
                         contract=contract, sleep=sleep, clock=clock)
        self._own_session = session is None
        self.session = session if session is not None else httpx.AsyncClient(
            headers={"User-Agent": f"ltxstudio-client/{__version__}"})

    def _default_sleep(self, seconds: float) -> Any:
        """``asyncio.sleep`` (bound before any patch), or the simulated clock of a simulator claiming us."""
        return time_source_for(self.base_url).async_sleep(seconds)

    # -- lifecycle -------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the session if the client created it."""
        if self._own_session:
            await self.session.aclose()

    async def __aenter__(self) -> AsyncLTXStudioClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the driver: httpx ------------------------------------------------------------------------
    async def _atransport(self, request: Send) -> Any:
        try:
            outgoing = self.session.build_request(
                request.method, request.url, headers=request.headers, params=request.params,
                json=request.json, content=request.data, timeout=_httpx_timeout(self.timeout))
            response = await self.session.send(outgoing, stream=request.stream)
            if request.stream and response.status_code >= 400:
                await response.aread()  # an error answer is read whole, to map it to its exception
            return response
        except httpx.TransportError as exc:
            return Failed(exc, not_sent=request_was_not_sent(exc))

    # -- what needs the transport's own iteration ------------------------------------------------
    async def iter_assets(self, email: str | None = None, filter: str | None = None,
                          limit: int = 20) -> AsyncIterator[AssetItem]:
        """Every asset, page after page, until a short or empty page or the last one the meta names."""
        page: int | None = 1
        while page is not None:
            result = await self._arun(self._list_assets(email, page, limit, filter))
            for item in result.items:
                yield item
            page = self._next_page(result, page, limit)

    async def download(self, job_or_artifact: Job | Artifact | UploadedAsset | AssetItem | str,
                       path: str | os.PathLike[str], *, chunk_size: int = 1 << 16) -> Path:
        """Stream a result file to `path` (a file, or a directory to keep the URL's file name).

        The artifact URL is a signed link to a storage host, so no bearer token is sent with it (the
        API token must not leak to third-party hosts). The file appears only once complete.
        """
        plan = self._download_plan(job_or_artifact, path)
        response = await self._arun(self._fetch(plan))
        try:
            with plan.partial.open("wb") as handle:
                async for chunk in response.aiter_bytes(chunk_size=chunk_size):
                    if chunk:
                        handle.write(chunk)
        except BaseException:
            plan.partial.unlink(missing_ok=True)
            raise
        finally:
            await response.aclose()
        plan.partial.replace(plan.target)
        return plan.target
