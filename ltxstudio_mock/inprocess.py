"""In-process mode, like moto's ``@mock_aws``: the code under test calls https://api.useapi.net unchanged.

While ``mock_ltxstudio()`` is active, HTTP requests to the simulator's paths on ``https://api.useapi.net``
(``/v1/ltxstudio/...``, the signed asset URLs under ``/storage/...`` and the control API under ``/__admin``)
are answered by a simulator app in this process, through WSGI: no socket, no port. Every common transport
is intercepted (``ltxstudio_mock.interceptors``): requests, httpx (sync and async), aiohttp (with the
``[aiohttp]`` extra), urllib3, ``urllib.request`` and ``http.client``. Whatever else tries to reach the
mocked host is refused at the socket layer by the network guard (``ltxstudio_mock.netguard``) with one
clear error, before DNS. Every other host goes through untouched, so ``replyUrl`` webhooks to a receiver of
yours are delivered for real (the simulator's worker thread POSTs them).

::

    from ltxstudio_mock import mock_ltxstudio

    with mock_ltxstudio() as ltx:               # or @mock_ltxstudio on a function, or the ltx_mock_inprocess fixture
        r = requests.get("https://api.useapi.net/v1/ltxstudio/accounts", headers=ltx.headers)
        ltx.admin.advance(60)                   # the same control surface as the ltx_mock fixture
"""

from __future__ import annotations

import functools
import inspect
import io
import re
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from contracts.demo import DEMO_TOKEN
from ltxstudio_mock import interceptors
from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.handle import API_PATH, SimulatorHandle
from ltxstudio_mock.interceptors import ConnectionFault, DroppedConnection, dispatch, reason, requests_error
from ltxstudio_mock.netguard import NetworkGuardError, guard_host

__all__ = ["DEFAULT_URL", "ConnectionFault", "DroppedConnection", "MockLTXStudio", "NetworkGuardError", "dispatch",
           "mock_ltxstudio"]

DEFAULT_URL = "https://api.useapi.net"
#: What the simulator serves on the intercepted host; every other path there goes through untouched.
SERVED_PATHS = (API_PATH, "/storage", "/__admin")

F = TypeVar("F", bound=Callable[..., Any])


class WSGIAdapter(BaseAdapter):
    """A requests transport adapter that hands requests to a WSGI app (the control API's session)."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        try:
            status, headers, content = dispatch(self.app, request.method or "GET", request.url or "",
                                                request.headers, request.body)
        except DroppedConnection as exc:
            raise requests_error(exc, request) from None
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = io.BytesIO(content)
        response._content = content
        response.url = request.url or ""
        response.request = request
        response.reason = reason(status)
        return response

    def close(self) -> None:
        """Nothing pooled."""


# -- the mock --------------------------------------------------------------------------------------------------
class MockLTXStudio(SimulatorHandle):
    """An in-process simulator answering ``url``'s LTX Studio API for requests, httpx, aiohttp, urllib3 and
    urllib.request/http.client, with the network guard refusing anything else aimed at ``url``'s host.

    The same control surface as the ``ltx_mock`` fixture (``SimulatorHandle``: ``base_url``, ``headers``,
    ``simulator``, ``time``, ``client``, ``aclient``), plus ``token`` and ``admin`` (fake LTX users, clock,
    faults, journal). Use it as a context manager, or ``start()`` and ``stop()``; ``mock_ltxstudio`` also makes
    it a decorator. Each activation starts from a fresh simulator (demo token and account, paused clock), like
    the fixture after its reset.
    """

    def __init__(self, *, simulate_sleep: bool = False, url: str = DEFAULT_URL, tokens: list[str] | None = None,
                 scenario: str | None = None, seed: int | None = 1234, paused: bool = True, speed: float = 1.0,
                 demo: bool = True, strict_responses: bool = True, httpx: bool = True, aiohttp: bool = True,
                 urllib: bool = True, guard: bool | Iterable[str] = True) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise ValueError(f"url must be a scheme and host like {DEFAULT_URL!r}, got {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.tokens = list(tokens) if tokens else [DEMO_TOKEN]
        self.token = self.tokens[0]
        self.simulate_sleep_on_start = simulate_sleep
        self.intercept_httpx = httpx
        self.intercept_aiohttp = aiohttp
        self.intercept_urllib = urllib
        self.guard = guard if isinstance(guard, bool) else tuple(guard)
        self._port = parts.port or {"https": 443, "http": 80}[parts.scheme]
        # public_url: the intercepted origin is this simulator's public name (signed asset URLs are built on it,
        # and the control API's DNS-rebinding guard accepts it as the Host).
        self._config: dict[str, Any] = {
            "public_url": self.url, "tokens": self.tokens, "scenario": scenario, "seed": seed, "paused": paused,
            "speed": speed, "demo": demo, "strict_responses": strict_responses}
        self.app: Any = None
        self._stack: ExitStack | None = None
        self._admin: AdminClient | None = None

    # -- what tests read (the rest: SimulatorHandle) ------------------------------------------------
    @property
    def active(self) -> bool:
        return self._stack is not None

    @property
    def admin(self) -> AdminClient:
        """The control API, reached through WSGI directly (it works after ``stop()`` too, for inspection)."""
        self._require_app()
        if self._admin is None:
            session = requests.Session()
            session.mount(self.url + "/", WSGIAdapter(self.app))
            self._admin = AdminClient(self.url, session=session,
                                      token=self.app.extensions["ltx_sim"].config.admin_token)
        return self._admin

    def _require_app(self) -> None:
        if self.app is None:
            raise RuntimeError("mock_ltxstudio is not started: use it as `with mock_ltxstudio() as ltx:`")

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> MockLTXStudio:
        """Build a fresh simulator and start intercepting."""
        if self._stack is not None:
            raise RuntimeError("this mock_ltxstudio is already active")
        from mock_server import SimConfig, create_app

        stack = ExitStack()
        try:
            self.app = create_app(SimConfig(**self._config))
            self._admin = None
            worker = self.app.extensions.get("ltx_worker")
            if worker is not None:
                stack.callback(worker.stop)
            served = self._served()
            if self.guard is not False:
                host = urlsplit(self.url).hostname or ""
                stack.callback(guard_host(host, self._port))
                for extra in self.guard if isinstance(self.guard, tuple) else ():
                    stack.callback(guard_host(extra, 443))
            stack.enter_context(interceptors.intercept_requests(self.app, served))
            if self.intercept_httpx:
                stack.enter_context(interceptors.intercept_httpx(self.app, served))
            if self.intercept_aiohttp:
                stack.enter_context(interceptors.intercept_aiohttp(self.app, served))
            if self.intercept_urllib:
                stack.enter_context(interceptors.intercept_http_client(
                    self.app, served, urlsplit(self.url).scheme, (urlsplit(self.url).hostname or "").lower(),
                    self._port, guard=self.guard is not False))
            stack.callback(self.time.claim_clients(self.base_url))
            if self.simulate_sleep_on_start:
                stack.enter_context(self.time.simulate_sleep())
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def stop(self) -> None:
        """Stop intercepting (the simulator's state stays readable through ``admin``)."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> MockLTXStudio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """Decorate ``func``: each call runs inside a fresh activation of this configuration."""
        options = {k: v for k, v in self._config.items() if k != "public_url"}  # public_url follows url
        config: dict[str, Any] = {**options, "simulate_sleep": self.simulate_sleep_on_start, "url": self.url,
                  "httpx": self.intercept_httpx, "aiohttp": self.intercept_aiohttp, "urllib": self.intercept_urllib,
                  "guard": self.guard}
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with MockLTXStudio(**config):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with MockLTXStudio(**config):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"MockLTXStudio(url={self.url!r}, active={self.active})"

    # -- interception -----------------------------------------------------------------------------------
    def _served(self) -> re.Pattern[str]:
        paths = "|".join(re.escape(p) for p in SERVED_PATHS)
        return re.compile(rf"^{re.escape(self.url)}(?:{paths})(?:[/?#]|$)", re.IGNORECASE)


@overload
def mock_ltxstudio(func: F, /) -> F: ...


@overload
def mock_ltxstudio(func: None = None, /, **options: Any) -> MockLTXStudio: ...


def mock_ltxstudio(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """The in-process LTX Studio API: ``@mock_ltxstudio``, ``@mock_ltxstudio(...)`` or ``with mock_ltxstudio() as ltx``.

    Options (all keyword): ``simulate_sleep`` (``time.sleep`` advances simulated time while active),
    ``url`` (default https://api.useapi.net), ``tokens`` (default ``["demo-token"]``), ``scenario`` (a YAML
    file), ``seed``, ``paused`` (default True), ``speed``, ``demo``, ``strict_responses``; ``httpx``,
    ``aiohttp``, ``urllib`` (intercept that transport; default True each); ``guard`` (refuse every other
    connection to the mocked host: True, the default; False; or more host names to refuse as well).
    """
    if func is not None:
        if options:
            raise TypeError("mock_ltxstudio(func, ...): give options as @mock_ltxstudio(simulate_sleep=True)")
        return MockLTXStudio()(func)
    return MockLTXStudio(**options)
