"""In-process mode, like moto's ``@mock_aws``: the code under test calls https://api.useapi.net unchanged.

While ``mock_ltxstudio()`` is active, HTTP requests made with ``requests`` (intercepted by the ``responses``
library) and, when installed, with ``httpx`` (intercepted by ``respx``, when that is installed too) to the
simulator's paths on ``https://api.useapi.net`` (``/v1/ltxstudio/...``, the signed asset URLs under
``/storage/...`` and the control API under ``/__admin``) are answered by a simulator app in this process,
through WSGI: no socket, no port. Every other URL goes through untouched, so ``replyUrl`` webhooks to a
receiver of yours are delivered for real (the simulator's worker thread POSTs them).

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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http import HTTPStatus
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from ltxstudio_mock.admin_client import AdminClient
from ltxstudio_mock.mock_server.faults import CONNECTION_FAULT_HEADER
from ltxstudio_mock.simtime import SimulatedTime

__all__ = ["DEFAULT_URL", "MockLTXStudio", "mock_ltxstudio"]

DEFAULT_URL = "https://api.useapi.net"
API_PATH = "/v1/ltxstudio"
#: What the simulator serves on the intercepted host; every other path there goes through untouched.
SERVED_PATHS = (API_PATH, "/storage", "/__admin")
DEMO_TOKEN = "demo-token"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")

F = TypeVar("F", bound=Callable[..., Any])
Headers = list[tuple[str, str]]


class DroppedConnection(Exception):
    """The simulator's ``drop`` fault: the answer promised more bytes than it sent."""


class ConnectionFault(DroppedConnection):
    """A connection fault that breaks a socket below HTTP (``reset``, ``empty_reply``, ``garbage``,
    ``malformed_chunk``): with no socket here, each interceptor raises what its library raises for it."""

    def __init__(self, kind: str) -> None:
        super().__init__(CONNECTION_FAULT_TEXT.get(kind, kind))
        self.kind = kind


#: What each library's own message says for these failures on a real socket (see tests/faults/).
CONNECTION_FAULT_TEXT = {
    "reset": "[Errno 104] Connection reset by peer",
    "empty_reply": "Server disconnected without sending a response.",
    "garbage": "illegal status line (the server sent bytes that are no HTTP)",
    "malformed_chunk": "illegal chunk header (the chunk size line is not hexadecimal)",
}


def requests_error(exc: DroppedConnection, request: requests.PreparedRequest) -> requests.RequestException:
    """What ``requests`` raises for this failure on a real socket."""
    import http.client

    from urllib3.exceptions import ProtocolError

    kind = getattr(exc, "kind", "drop")
    if kind == "reset":
        return requests.exceptions.ConnectionError(
            ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
            request=request)
    if kind == "empty_reply":
        return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", http.client.RemoteDisconnected(
            "Remote end closed connection without response")), request=request)
    if kind == "garbage":
        return requests.exceptions.ConnectionError(
            ProtocolError("Connection aborted.", http.client.BadStatusLine(str(exc))), request=request)
    return requests.exceptions.ChunkedEncodingError(str(exc), request=request)  # drop, truncated, malformed chunk


def httpx_error(exc: DroppedConnection, request: Any) -> Exception:
    """What ``httpx`` raises for this failure on a real socket."""
    import httpx

    if getattr(exc, "kind", None) == "reset":
        return httpx.ReadError(str(exc), request=request)
    return httpx.RemoteProtocolError(str(exc), request=request)


# -- one request through the app, without a socket ----------------------------------------------------------------
def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(part.encode("utf-8") if isinstance(part, str) else bytes(part) for part in body)


def dispatch(app: Any, method: str, url: str, headers: Any, body: Any) -> tuple[int, Headers, bytes]:
    """Run one HTTP request through the WSGI app: (status, headers, body).

    Raises ``DroppedConnection`` where a socket would have broken (the ``drop`` fault), so each
    interceptor can raise its own library's error for it.
    """
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    parts = urlsplit(url)
    data = _body_bytes(body)
    skip = {"content-length", "transfer-encoding", "host"}
    builder = EnvironBuilder(path=parts.path or "/", base_url=f"{parts.scheme}://{parts.netloc}",
                             query_string=parts.query, method=method, data=data,
                             headers=[(k, v) for k, v in dict(headers or {}).items() if k.lower() not in skip],
                             environ_overrides={"REMOTE_ADDR": "127.0.0.1"})
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    code = int(status.split(None, 1)[0])
    kind = response_headers.get(CONNECTION_FAULT_HEADER)
    if kind:
        raise ConnectionFault(kind)
    promised = response_headers.get("Content-Length")
    if method.upper() != "HEAD" and code not in (204, 304) and promised and int(promised) > len(content):
        raise DroppedConnection(f"Connection broken: IncompleteRead({len(content)} bytes read, "
                                f"{int(promised) - len(content)} more expected)")
    return code, list(response_headers.items()), content


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
        response.reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        return response

    def close(self) -> None:
        """Nothing pooled."""


# -- the mock --------------------------------------------------------------------------------------------------
class MockLTXStudio:
    """An in-process simulator answering ``url``'s LTX Studio API for ``requests`` (and ``httpx``).

    The same control surface as the ``ltx_mock`` fixture: ``token``, ``headers``, ``base_url``, ``admin``
    (fake LTX users, clock, faults, journal), ``client``. Use it as a context manager, or ``start()`` and
    ``stop()``; ``mock_ltxstudio`` also makes it a decorator. Each activation starts from a fresh simulator
    (demo token and account, paused clock), like the fixture after its reset.
    """

    def __init__(self, *, simulate_sleep: bool = False, url: str = DEFAULT_URL, tokens: list[str] | None = None,
                 scenario: str | None = None, seed: int | None = 1234, paused: bool = True, speed: float = 1.0,
                 demo: bool = True, strict_responses: bool = True, httpx: bool = True) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise ValueError(f"url must be a scheme and host like {DEFAULT_URL!r}, got {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.tokens = list(tokens) if tokens else [DEMO_TOKEN]
        self.simulate_sleep_on_start = simulate_sleep
        self.intercept_httpx = httpx
        # public_url: the intercepted origin is this simulator's public name (signed asset URLs are built on it,
        # and the control API's DNS-rebinding guard accepts it as the Host).
        self._config: dict[str, Any] = {
            "public_url": self.url, "tokens": self.tokens, "scenario": scenario, "seed": seed, "paused": paused,
            "speed": speed, "demo": demo, "strict_responses": strict_responses}
        self.app: Any = None
        self._stack: ExitStack | None = None
        self._admin: AdminClient | None = None

    # -- what tests read ------------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.tokens[0]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def base_url(self) -> str:
        """The API root the code under test already uses: https://api.useapi.net/v1/ltxstudio."""
        return self.url + API_PATH

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

    @property
    def simulator(self) -> Any:
        """The in-process Simulator (white-box access)."""
        self._require_app()
        return self.app.extensions["ltx_sim"]

    @property
    def time(self) -> SimulatedTime:
        self._require_app()
        return SimulatedTime(self.app)

    @property
    def client(self) -> Any:
        """A reference LTXStudioClient on ``base_url`` (intercepted while active); it advances the simulated
        clock where it would sleep, and checks every response against openapi.yaml."""
        return self.time.client(self.token, self.base_url)

    def simulate_sleep(self) -> Any:
        """Context manager: ``time.sleep`` advances the simulated clock while it is open."""
        return self.time.simulate_sleep()

    def _require_app(self) -> None:
        if self.app is None:
            raise RuntimeError("mock_ltxstudio is not started: use it as `with mock_ltxstudio() as ltx:`")

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> MockLTXStudio:
        """Build a fresh simulator and start intercepting."""
        if self._stack is not None:
            raise RuntimeError("this mock_ltxstudio is already active")
        from ltxstudio_mock.mock_server import SimConfig, create_app

        stack = ExitStack()
        try:
            self.app = create_app(SimConfig(**self._config))
            self._admin = None
            worker = self.app.extensions.get("ltx_worker")
            if worker is not None:
                stack.callback(worker.stop)
            stack.enter_context(self._intercept_requests())
            if self.intercept_httpx:
                stack.enter_context(self._intercept_httpx())
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
                  "httpx": self.intercept_httpx}
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

    @contextmanager
    def _intercept_requests(self) -> Iterator[None]:
        """``responses``: the simulator's paths answered in process, everything else passed through.

        Passed-through requests go to whatever ``HTTPAdapter.send`` was when we started, so a
        ``responses`` mock the test had already started keeps answering its own URLs.
        """
        import responses
        from requests.adapters import HTTPAdapter

        served = self._served()
        mock = responses.RequestsMock(assert_all_requests_are_fired=False,
                                      real_adapter_send=HTTPAdapter.send)
        app = self.app

        def answer(request: requests.PreparedRequest) -> Any:  # (status, header list, body): responses takes a list
            try:
                return dispatch(app, request.method or "GET", request.url or "", request.headers, request.body)
            except DroppedConnection as exc:
                raise requests_error(exc, request) from None

        for method in METHODS:
            mock.add_callback(method, served, callback=answer, content_type=None)
        mock.add_passthru(re.compile(rf"^(?!{served.pattern[1:]})", re.IGNORECASE))
        with mock:
            yield

    @contextmanager
    def _intercept_httpx(self) -> Iterator[None]:
        """``respx`` for ``httpx`` (sync and async clients), when both are installed; else nothing to do."""
        try:
            import httpx
            import respx
        except ImportError:
            yield
            return
        app = self.app

        def answer(request: httpx.Request) -> httpx.Response:
            try:
                status, headers, content = dispatch(app, request.method, str(request.url), request.headers,
                                                    request.read())
            except DroppedConnection as exc:
                raise httpx_error(exc, request) from None
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            return httpx.Response(status, headers=headers, content=content, request=request)

        router = respx.mock(assert_all_mocked=True, assert_all_called=False)
        router.route(url__regex=self._served().pattern).mock(side_effect=answer)
        router.route().pass_through()
        with router:
            yield


@overload
def mock_ltxstudio(func: F, /) -> F: ...


@overload
def mock_ltxstudio(func: None = None, /, **options: Any) -> MockLTXStudio: ...


def mock_ltxstudio(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """The in-process LTX Studio API: ``@mock_ltxstudio``, ``@mock_ltxstudio(...)`` or ``with mock_ltxstudio() as ltx``.

    Options (all keyword): ``simulate_sleep`` (``time.sleep`` advances simulated time while active),
    ``url`` (default https://api.useapi.net), ``tokens`` (default ``["demo-token"]``), ``scenario`` (a YAML
    file), ``seed``, ``paused`` (default True), ``speed``, ``demo``, ``strict_responses``, ``httpx``
    (intercept httpx too, when respx is installed; default True).
    """
    if func is not None:
        if options:
            raise TypeError("mock_ltxstudio(func, ...): give options as @mock_ltxstudio(simulate_sleep=True)")
        return MockLTXStudio()(func)
    return MockLTXStudio(**options)
