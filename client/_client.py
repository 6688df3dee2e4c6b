"""`LTXStudioClient`: the blocking client, on a requests.Session. Its logic is `_core.ClientCore`'s, shared
with `AsyncLTXStudioClient`; this module is only how a request is sent and a file written with requests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from contracts.spec import Contract

from . import __version__
from ._core import DEFAULT_BASE_URL, BlockingRunner, Failed, ResponseHook, Send, sniff_content_type
from ._retry import TRANSPORT_ERRORS, request_was_not_sent
from .models import Artifact, AssetItem, Job, UploadedAsset

__all__ = ["DEFAULT_BASE_URL", "LTXStudioClient", "ResponseHook", "sniff_content_type"]


class LTXStudioClient(BlockingRunner):
    """A client of the useapi.net LTX Studio API v1 (or of the offline simulator: same URLs, same token).

    `token` defaults to $USEAPI_TOKEN and `base_url` to $USEAPI_BASE_URL, then to the real service, so
    code written against the real API runs against the simulator with no change but the environment.
    `retries` extra attempts are made on 429 and transient failures (see `RetryPolicy` for which);
    `sleep` and `clock` are injectable so tests (and the simulator's virtual clock) control time; left out,
    they are real time unless a simulator claimed this client's base URL (`_retry.use_time_source`: the
    `ltx_mock` fixture and `mock_ltxstudio` do), whose simulated clock then moves instead of the client waiting.
    Use it as a context manager, or call `close()`, to release the pooled connections.
    `AsyncLTXStudioClient` has the same methods, awaitable.
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
        session: requests.Session | None = None,
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
        self.session = session if session is not None else requests.Session()
        self.session.headers.setdefault("User-Agent", f"ltxstudio-client/{__version__}")

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the session if the client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> LTXStudioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the driver: requests ---------------------------------------------------------------------
    def _transport(self, request: Send) -> Any:
        try:
            return self.session.request(request.method, request.url, headers=request.headers,
                                        params=request.params, json=request.json, data=request.data,
                                        stream=request.stream, timeout=self.timeout)
        except TRANSPORT_ERRORS as exc:
            return Failed(exc, not_sent=request_was_not_sent(exc))

    # -- what needs the transport's own iteration ------------------------------------------------
    def iter_assets(self, email: str | None = None, filter: str | None = None,
                    limit: int = 20) -> Iterator[AssetItem]:
        """Every asset, page after page, until a short or empty page or the last one the meta names."""
        page: int | None = 1
        while page is not None:
            result = self._run(self._list_assets(email, page, limit, filter))
            yield from result.items
            page = self._next_page(result, page, limit)

    def download(self, job_or_artifact: Job | Artifact | UploadedAsset | AssetItem | str,
                 path: str | os.PathLike[str], *, chunk_size: int = 1 << 16) -> Path:
        """Stream a result file to `path` (a file, or a directory to keep the URL's file name).

        The artifact URL is a signed link to a storage host, so no bearer token is sent with it (the
        API token must not leak to third-party hosts). The file appears only once complete.
        """
        plan = self._download_plan(job_or_artifact, path)
        response = self._run(self._fetch(plan))
        try:
            with plan.partial.open("wb") as handle:
                for chunk in response.iter_content(chunk_size=chunk_size):
                    if chunk:
                        handle.write(chunk)
        except BaseException:
            plan.partial.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        plan.partial.replace(plan.target)
        return plan.target
