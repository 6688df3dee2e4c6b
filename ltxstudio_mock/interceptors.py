"""One interceptor per HTTP library: each hands a request for the simulator's paths to the app in process.

- requests: ``responses`` (moto uses it too), its passthrough lets every other URL through.
- httpx (sync and async clients): ``respx``.
- aiohttp: ``aioresponses``, when installed (the ``[aiohttp]`` extra; without it the network guard refuses).
- urllib3 used directly, ``urllib.request`` and ``http.client``: no well-kept interceptor covers them, so a small
  one here (VCR.py's approach): the connection classes of ``http.client`` and urllib3 connect the mocked
  host to an in-memory socket that parses the request they write and replays the app's answer.

All of them end in ``dispatch`` (one request through the WSGI app, no socket). Every interceptor imports its
library lazily and does nothing when that library is not installed.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import requests

from ltxstudio_mock.netguard import NetworkGuardError, library_in_stack
from mock_server.faults import CONNECTION_FAULT_HEADER

__all__ = ["ConnectionFault", "DroppedConnection", "aiohttp_error", "dispatch", "httpx_error", "intercept_aiohttp",
           "intercept_http_client", "intercept_httpx", "intercept_requests", "requests_error"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE")
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


def aiohttp_error(exc: DroppedConnection, method: str, url: Any) -> Exception:
    """What ``aiohttp`` raises for this failure on a real socket (tests/reliability/: measured per kind)."""
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    kind = getattr(exc, "kind", "drop")
    if kind == "reset":
        return aiohttp.ClientOSError(104, "Connection reset by peer")
    if kind == "empty_reply":
        return aiohttp.ServerDisconnectedError()
    if kind == "garbage":
        info = aiohttp.RequestInfo(URL(str(url)), method, CIMultiDictProxy(CIMultiDict()), URL(str(url)))
        return aiohttp.ClientResponseError(info, (), status=400, message=f"Bad status line: {exc}")
    return aiohttp.ClientPayloadError(str(exc))  # drop, truncated body, malformed chunk


#: What http.client reads for each connection fault from the in-memory socket: it then fails as on a real one.
_SOCKET_BYTES = {
    "empty_reply": b"",
    "garbage": b"\x16\x03\x01garbage, no HTTP\r\n\r\n",
    "malformed_chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n",
}


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


def _wsgi(text: str) -> str:
    """WSGI's "bytes as latin-1" strings (PEP 3333), as werkzeug spells them."""
    return text.encode("utf-8").decode("latin-1")


def environ_for(method: str, url: str, headers: Any, data: bytes) -> dict[str, Any]:
    """The WSGI environ of one request, built directly: werkzeug's EnvironBuilder is general (forms, files,
    multipart) and cost about a quarter of an in-process request (benchmarks/inprocess_bench.py)."""
    environ = _url_environ(url).copy()
    environ["REQUEST_METHOD"] = method.upper()
    environ["wsgi.input"] = io.BytesIO(data)
    environ["wsgi.errors"] = sys.stderr
    if data:
        environ["CONTENT_LENGTH"] = str(len(data))
    items = headers.items() if hasattr(headers, "items") else headers or []
    for name, value in items:
        key = _environ_key(str(name))
        if key is None:
            continue
        if key in environ and key != "CONTENT_TYPE":
            environ[key] = f"{environ[key]},{value}"
        else:
            environ[key] = str(value)
    return environ


@functools.lru_cache(maxsize=1024)
def _url_environ(url: str) -> dict[str, Any]:
    """What the environ takes from the URL, plus its constant keys; a poll loop asks the same URLs over and
    over, so each is parsed once (the result is copied per request, never changed)."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    path = parts.path or "/"
    raw_uri = _wsgi(path + (f"?{parts.query}" if parts.query else ""))
    return {
        "SCRIPT_NAME": "", "PATH_INFO": _wsgi(unquote(path)),
        "QUERY_STRING": _wsgi(parts.query), "REQUEST_URI": raw_uri, "RAW_URI": raw_uri,
        "SERVER_NAME": parts.hostname or "", "SERVER_PORT": str(parts.port or (443 if scheme == "https" else 80)),
        "HTTP_HOST": parts.netloc, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0), "wsgi.url_scheme": scheme,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }


@functools.lru_cache(maxsize=512)
def _environ_key(name: str) -> str | None:
    """The environ key of a request header (None: taken from elsewhere, as a server would)."""
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING", "HOST"):
        return None
    return key if key == "CONTENT_TYPE" else "HTTP_" + key


def dispatch(app: Any, method: str, url: str, headers: Any, body: Any, *,
             allow_short: bool = False) -> tuple[int, Headers, bytes]:
    """Run one HTTP request through the WSGI app: (status, headers, body).

    Raises ``DroppedConnection`` where a socket would have broken (the ``drop`` fault), so each
    interceptor can raise its own library's error for it; ``allow_short`` returns the short body instead
    (the in-memory socket lets http.client find it short, as it would on a real socket).
    """
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, response_headers: Headers, exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, response_headers]
        return written.append

    app_iter = app(environ_for(method, url, headers, _body_bytes(body)), start_response)
    try:
        content = b"".join([*written, *app_iter])
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    status, response_headers = started
    code = int(status.split(None, 1)[0])
    kind = next((v for k, v in response_headers if k == CONNECTION_FAULT_HEADER), None)
    if kind:
        raise ConnectionFault(kind)
    promised = next((v for k, v in response_headers if k.lower() == "content-length"), None)
    if not allow_short and method.upper() != "HEAD" and code not in (204, 304) and promised \
            and int(promised) > len(content):
        raise DroppedConnection(f"Connection broken: IncompleteRead({len(content)} bytes read, "
                                f"{int(promised) - len(content)} more expected)")
    return code, list(response_headers), content


def reason(status: int) -> str:
    return HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""


# -- requests: responses ----------------------------------------------------------------------------------------
@contextmanager
def intercept_requests(app: Any, served: re.Pattern[str]) -> Iterator[None]:
    """``responses``: the simulator's paths answered in process, everything else passed through.

    Passed-through requests go to whatever ``HTTPAdapter.send`` was when we started, so a
    ``responses`` mock the test had already started keeps answering its own URLs.
    """
    import responses
    from requests.adapters import HTTPAdapter

    mock = responses.RequestsMock(assert_all_requests_are_fired=False, real_adapter_send=HTTPAdapter.send)

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


# -- httpx: respx -------------------------------------------------------------------------------------------------
@contextmanager
def intercept_httpx(app: Any, served: re.Pattern[str]) -> Iterator[None]:
    """``respx`` for ``httpx`` (sync and async clients), at its transport level (``using="httpx"``).

    respx patches ``Client._transport_for_url``: our router's handler answers the simulator's paths as an
    ``httpx.MockTransport`` would, and raises respx's ``PassThrough`` for every other URL, which its
    ``TryTransport`` sends through the client's own transport (so a ``respx.mock`` of the test's, started
    before or after, still answers its URLs). Not respx's route and side-effect machinery: per request it
    rebuilt the request from httpcore's, asked ``inspect.getfullargspec`` of the side effect and logged the
    call for ever (a whole session's requests and answers kept in memory): ~30% of an in-process httpx request
    (docs/performance.md).
    """
    try:
        import httpx
        import respx
        from respx.models import PassThrough
    except ImportError:
        yield
        return

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if served.match(url) is None:
            raise PassThrough("not a path the simulator serves", request=request, origin=None)  # type: ignore[arg-type]
        try:
            status, headers, content = dispatch(app, request.method, url, request.headers.multi_items(),
                                                request.read())
        except DroppedConnection as exc:
            raise httpx_error(exc, request) from None
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        return httpx.Response(status, headers=headers, content=content, request=request)

    class SimulatorRouter(respx.MockRouter):
        """A respx router whose handler is ``answer``; it keeps no call log."""

        def handler(self, request: httpx.Request) -> httpx.Response:
            return answer(request)

        async def async_handler(self, request: httpx.Request) -> httpx.Response:
            return answer(request)

    with SimulatorRouter(assert_all_called=False, using="httpx"):
        yield


# -- aiohttp: aioresponses ----------------------------------------------------------------------------------------
def _aiohttp_body(kwargs: dict[str, Any], headers: dict[str, str]) -> bytes:
    """The bytes aiohttp would have sent for ``json=`` / ``data=``, with the content type it would set."""
    lower = {k.lower() for k in headers}
    if kwargs.get("json") is not None:
        if "content-type" not in lower:
            headers["Content-Type"] = "application/json"
        return json.dumps(kwargs["json"]).encode("utf-8")
    data = kwargs.get("data")
    if isinstance(data, dict):
        if "content-type" not in lower:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urlencode(data, doseq=True).encode("ascii")
    if data is not None and "content-type" not in lower:
        headers["Content-Type"] = "text/plain; charset=utf-8" if isinstance(data, str) else "application/octet-stream"
    return _body_bytes(data)


class _SentWriter:
    """Stands for the stream writer of a request already sent (what aiohttp >= 3.12 asks a response for)."""

    output_size = 0


def _aiohttp_response_class(aiohttp: Any) -> type:
    """aiohttp's ClientResponse as aioresponses builds it; newer aiohttp added a required ``stream_writer``
    that aioresponses 0.7.x does not pass (measured: aiohttp 3.14 + aioresponses 0.7.9), so it is given here."""
    import inspect

    needs_writer = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters

    class Response(aiohttp.ClientResponse):
        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            if needs_writer:
                kwargs.setdefault("stream_writer", _SentWriter())
            super().__init__(method, url, **kwargs)

    return Response


@contextmanager
def intercept_aiohttp(app: Any, served: re.Pattern[str]) -> Iterator[None]:
    """``aioresponses`` for aiohttp's ClientSession, when both are installed; else the guard refuses."""
    try:
        import aiohttp
        from aioresponses import CallbackResult, aioresponses
        from multidict import CIMultiDict
    except ImportError:
        yield
        return
    mock = aioresponses(passthrough_unmatched=True)

    class Response(_aiohttp_response_class(aiohttp)):  # type: ignore[misc]
        """aioresponses builds each response on a ``Mock`` loop whose ``get_debug()`` is true, so aiohttp
        captured the whole stack (``traceback.extract_stack``, a ``stat`` of each file) for every answer: a
        debugging aid for a real loop in debug mode, ~90 us a request here (docs/performance.md)."""

        def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
            loop = kwargs.get("loop")
            if loop is not None and type(loop).__module__ == "unittest.mock":
                loop.get_debug.return_value = False
            super().__init__(method, url, **kwargs)

    def answerer(method: str) -> Callable[..., Any]:
        def answer(url: Any, **kwargs: Any) -> Any:
            # aioresponses keeps a deep copy of every call and every response until it stops: not for a whole
            # test run (the responses were only to be marked closed then; they hold no connection)
            mock.requests.clear()
            mock._responses.clear()
            headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
            body = _aiohttp_body(kwargs, headers)
            try:
                status, answer_headers, content = dispatch(app, method, str(url), headers, body)
            except DroppedConnection as exc:
                raise aiohttp_error(exc, method, url) from None
            content_type = next((v for k, v in answer_headers if k.lower() == "content-type"), "")
            return CallbackResult(method=method, status=status, body=content, content_type=content_type,
                                  # a CIMultiDict keeps repeated headers; aioresponses' hint says dict only
                                  headers=CIMultiDict([(k, v) for k, v in answer_headers  # type: ignore[arg-type]
                                                       if k.lower() != "content-type"]),
                                  reason=reason(status), response_class=Response)

        return answer

    with mock:
        for method in METHODS:
            mock.add(served, method=method, callback=answerer(method), repeat=True)
        yield


# -- urllib3, urllib.request, http.client: an in-memory socket ------------------------------------------------------
def _read_request(raw: bytes) -> tuple[str, str, Headers, bytes]:
    """(method, target, headers, body) from the bytes http.client wrote."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers: Headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    fields = {k.lower(): v for k, v in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body, stream = bytearray(), io.BytesIO(rest)
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            body += stream.read(size)
            stream.readline()
        return method, target, headers, bytes(body)
    if "content-length" in fields:
        return method, target, headers, rest[:int(fields["content-length"])]
    return method, target, headers, rest


class InProcessSocket:
    """The socket http.client and urllib3 get for the mocked host: what they write is one HTTP/1.1 request,
    answered by the app when they read (``makefile``), with ``Connection: close`` so none is reused."""

    def __init__(self, answer: Callable[[bytes], Any]) -> None:
        self._answer = answer
        self._written = bytearray()
        self._timeout: float | None = None

    def sendall(self, data: Any) -> None:
        self._written += bytes(data)

    def send(self, data: Any) -> int:
        self._written += bytes(data)
        return len(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        raw, self._written = bytes(self._written), bytearray()
        return self._answer(raw)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    def setsockopt(self, *args: Any) -> None:
        """No socket options on memory."""

    def shutdown(self, how: int) -> None:
        """Nothing to shut down."""

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def intercept_http_client(app: Any, served: re.Pattern[str], scheme: str, host: str, port: int, *,
                          guard: bool = True) -> Iterator[None]:
    """Connections of ``http.client`` and urllib3 to ``host:port`` talk to the app instead of a socket.

    A path the simulator does not serve is refused (``guard``) or, with the guard off, sent for real: the
    connection then connects as it would have and the request's bytes go out unchanged.
    """
    netloc = host if port == {"https": 443, "http": 80}[scheme] else f"{host}:{port}"

    def answer(raw: bytes, connection: Any, connect: Callable[[Any], None]) -> Any:
        method, target, headers, body = _read_request(raw)
        url = target if "://" in target else f"{scheme}://{netloc}{target}"
        if not served.match(url):
            if guard:
                raise NetworkGuardError(host, port, library_in_stack(3),
                                        f"{urlsplit(url).path} is not a path the simulator serves")
            connect(connection)  # the real socket (and TLS) this connection would have had
            connection.sock.sendall(raw)
            return connection.sock.makefile("rb")
        try:
            status, answer_headers, content = dispatch(app, method, url, headers, body, allow_short=True)
        except ConnectionFault as fault:
            if fault.kind == "reset":
                raise ConnectionResetError(104, "Connection reset by peer") from None
            return io.BytesIO(_SOCKET_BYTES.get(fault.kind, b""))
        lines = [f"HTTP/1.1 {status} {reason(status)}"]
        lines += [f"{k}: {v}" for k, v in answer_headers if k.lower() not in ("connection", "transfer-encoding")]
        if not any(k.lower() == "content-length" for k, _ in answer_headers):
            lines.append(f"Content-Length: {len(content)}")
        lines.append("Connection: close")
        return io.BytesIO(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)

    def ours(connection: Any) -> bool:
        return (str(connection.host).lower() == host and int(connection.port or 0) == port
                and not getattr(connection, "_tunnel_host", None))

    def patch(cls: type, *, https: bool) -> Callable[[], None]:
        original = cls.__dict__["connect"]

        def connect(self: Any) -> None:
            if (scheme == "https") != https or not ours(self):
                return original(self)
            connection = self
            self.sock = InProcessSocket(lambda raw: answer(raw, connection, original))
            if hasattr(self, "is_verified"):
                self.is_verified = True  # urllib3: no InsecureRequestWarning for a TLS that never was
            return None

        cls.connect = connect  # type: ignore[attr-defined]
        return lambda: setattr(cls, "connect", original)

    with ExitStack() as stack:
        classes: list[tuple[type, bool]] = [(http.client.HTTPConnection, False), (http.client.HTTPSConnection, True)]
        try:
            import urllib3.connection

            classes += [(urllib3.connection.HTTPConnection, False), (urllib3.connection.HTTPSConnection, True)]
        except ImportError:
            pass
        for cls, https in classes:
            if "connect" in cls.__dict__:
                stack.callback(patch(cls, https=https))
        if scheme == "https":
            stack.callback(share_tls_context(host))
        yield


def share_tls_context(host: str) -> Callable[[], None]:
    """``http.client.HTTPSConnection`` to ``host`` built without a context (``urllib.request`` does that for
    every request) gets one default context, made once: building it reads the system's CA bundle, ~10-130 ms a
    request (measured), for a TLS session the in-memory socket never opens. Returns the undo."""
    import ssl

    cls = http.client.HTTPSConnection
    original = cls.__dict__["__init__"]
    shared: list[ssl.SSLContext] = []

    def __init__(self: Any, target: str, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("context") is None and str(target).rsplit(":", 1)[0].strip("[]").lower() == host:
            if not shared:
                shared.append(ssl.create_default_context())
            kwargs["context"] = shared[0]
        original(self, target, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign, assignment]
    return lambda: setattr(cls, "__init__", original)
