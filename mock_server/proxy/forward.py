"""Forwarding: a WSGI app that passes every request to the upstream unchanged and streams its answer back.

Method, path, query, headers (the caller's own ``Authorization`` included) and the raw
body go out as they came; the answer's status, headers and raw bytes (still
compressed if the upstream compressed them) come back as they were. Only hop-by-hop
headers (the fixed ones and any a ``Connection`` header names, both ways) and ``Host``
are left to each connection, which is what makes a proxied answer byte-identical to a
direct one. Header names are case-insensitive everywhere (HTTP/2 and CDNs send them in
lower case): both sides are kept as ``requests``' ``CaseInsensitiveDict``. Both bodies are streamed: an upload is sent
while it is read, a ``pollForResult`` wait simply holds the connection open.

A copy of each body (up to ``capture_limit`` bytes) is kept for the observer, which
runs once the upstream's answer is complete and before its last chunk reaches the
caller, so anything the observer records is visible by the time the caller has its answer.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import requests

try:  # br answers (a CDN's choice when the caller accepts it) are judged when a brotli module is there
    import brotli  # type: ignore[import-untyped, import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import brotlicffi as brotli  # type: ignore[import-untyped, import-not-found, no-redef, unused-ignore]
    except ImportError:
        brotli = None
from requests.structures import CaseInsensitiveDict
from werkzeug.wrappers import Request

log = logging.getLogger("ltxstudio_mock.proxy")

#: Connection-level headers (RFC 9110 7.6.1) plus the ones each hop sets for itself.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "proxy-connection"})
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
CHUNK = 64 * 1024
BUFFER_LIMIT = 1024 * 1024  # a chunked answer up to this size is read whole and sent with a Content-Length
SENT_CLOCK = "ltx_mock.proxy.sent_clock"  # environ key: set by the app before forwarding a generation
DEFAULT_CAPTURE_LIMIT = 32 * 1024 * 1024  # above the API's upload limit; bodies beyond it are not inspected
#: (connect, read) seconds. The read timeout outlasts the longest pollForResult wait the docs allow.
DEFAULT_TIMEOUT = (10.0, 900.0)


@dataclass
class Exchange:
    """One request and its answer, as the observers see them (shaped like a ``requests.Response``)."""

    method: str
    path: str  # as the caller sent it, e.g. /v1/ltxstudio/accounts
    query: str
    request_headers: CaseInsensitiveDict[str]
    request_body: bytes | None  # None: not kept (over the capture limit)
    status_code: int
    headers: CaseInsensitiveDict[str]
    content: bytes | None  # decoded body; None when over the capture limit or in an encoding it cannot decode
    complete: bool = True  # False: the upstream's answer broke off
    sent_clock: float | None = None  # the recorder's clock when the request left (set for generations)
    at: float = field(default_factory=time.time)

    @property
    def url(self) -> str:
        return f"http://proxy{self.path}" + (f"?{self.query}" if self.query else "")

    @property
    def request(self) -> Any:
        """What ``contracts.checks.ResponseView`` reads of the request."""
        return SimpleNamespace(method=self.method, url=self.url, headers=self.request_headers,
                               body=self.request_body or b"")

    def json(self) -> Any:
        try:
            return json.loads(self.content) if self.content else None
        except ValueError:
            return None

    def form(self) -> dict[str, str] | None:
        """The request's form fields (multipart or url-encoded; files left out), or None when it sent no form."""
        ctype = self.request_headers.get("content-type", "")
        if "form" not in ctype or not self.request_body:
            return None
        from werkzeug.formparser import parse_form_data
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(method="POST", data=self.request_body, content_type=ctype).get_environ()
        try:
            _, form, _ = parse_form_data(environ)
        except ValueError:
            return None
        return {k: v for k, v in form.items() if k is not None}


class _TeeBody:
    """The caller's request body, read as requests sends it upstream, with a copy kept (up to a limit).

    ``len`` tells requests the size, so the upstream gets the caller's ``Content-Length`` rather than
    a chunked body.
    """

    def __init__(self, stream: Any, length: int, limit: int) -> None:
        self.stream = stream
        self.len = length
        self.limit = limit
        self.copy = bytearray()
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n if n and n > 0 else CHUNK)
        self.read_bytes += len(chunk)
        if len(self.copy) + len(chunk) <= self.limit:
            self.copy += chunk
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def kept(self) -> bytes | None:
        return bytes(self.copy) if self.read_bytes == len(self.copy) else None


def _decode_one(raw: bytes, encoding: str) -> bytes | None:
    try:
        if encoding in ("", "identity"):
            return raw
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)
        if encoding == "br" and brotli is not None:
            out: bytes = brotli.decompress(raw)
            return out
    except Exception:  # zlib.error, brotli.error: a corrupt body is not judged
        return None
    return None  # zstd, or br without the brotli module: passed through untouched, not inspected


def _decoded(raw: bytes, encoding: str) -> bytes | None:
    """The body under its ``Content-Encoding`` (a list: decoded last-applied first), or None when it cannot be."""
    out: bytes | None = raw
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        out = _decode_one(out, coding) if out is not None else None
    return out


def connection_headers(headers: CaseInsensitiveDict[str] | Any) -> frozenset[str]:
    """The names a message's ``Connection`` header lists (hop-by-hop for that message, RFC 9110 7.6.1)."""
    return frozenset(t.strip().lower() for t in headers.get("Connection", "").split(",") if t.strip())


def _has_body(method: str, status: int) -> bool:
    return method != "HEAD" and status not in (204, 304) and not 100 <= status < 200


def json_error(start_response: Callable[..., Any], status: int, reason: str, message: str) -> list[bytes]:
    """An answer of the proxy's own, in the API's error shape."""
    body = json.dumps({"error": message, "code": status}).encode()
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class Forwarder:
    """``forward(environ, start_response, observe)``: one request to the upstream and back."""

    def __init__(self, upstream: str, prefix: str, *, capture_limit: int = DEFAULT_CAPTURE_LIMIT,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        parts = urlsplit(upstream.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"--upstream must be an http(s) URL such as https://api.useapi.net/v1/ltxstudio, "
                             f"not {upstream!r}")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.root = parts.path.rstrip("/")
        self.prefix = prefix  # the API's path on the proxy (the contract's server path, /v1/ltxstudio)
        self.capture_limit = capture_limit
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # never an HTTP(S)_PROXY from the environment, never .netrc credentials

    def target(self, path: str) -> str:
        """The upstream URL for a path on the proxy: the API under the upstream's root, the rest on its origin."""
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return self.origin + self.root + path[len(self.prefix):]
        return self.origin + path

    def forward(self, environ: dict[str, Any], start_response: Callable[..., Any],
                observe: Callable[[Exchange], None]) -> Iterable[bytes]:
        request = Request(environ)
        path = environ.get("PATH_INFO") or "/"
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        if raw_path:  # keep the caller's own percent-encoding (a jobId has ':' and '@')
            path_part = urlsplit(raw_path).path
            path = path_part or path
        query = environ.get("QUERY_STRING", "")
        url = self.target(path) + (f"?{query}" if query else "")
        dropped = NOT_FORWARDED | connection_headers(request.headers)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
        length = request.content_length
        body: Any
        tee: _TeeBody | None = None
        if length:
            tee = body = _TeeBody(request.stream, length, self.capture_limit)
        elif request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            tee = _TeeBody(request.stream, 0, self.capture_limit)
            body = iter(tee)  # requests sends it chunked too
        else:
            body = b"" if length == 0 and request.method not in ("GET", "HEAD") else None
        try:
            upstream = self.session.request(request.method, url, headers=headers, data=body, stream=True,
                                            allow_redirects=False, timeout=self.timeout)
        except requests.Timeout as exc:
            return json_error(start_response, 504, "Gateway Timeout", f"ltx-mock proxy: the upstream did not "
                                                                      f"answer in time: {exc}")
        except requests.RequestException as exc:
            return json_error(start_response, 502, "Bad Gateway", f"ltx-mock proxy: cannot reach the upstream: "
                                                                  f"{type(exc).__name__}")
        hop = HOP_BY_HOP | connection_headers(upstream.headers)
        # raw.headers: each header as the upstream sent it (a repeated Set-Cookie stays two lines)
        response_headers = [(k, v) for k, v in upstream.raw.headers.items() if k.lower() not in hop]
        status = f"{upstream.status_code} {upstream.reason or ''}".rstrip()
        prefix: list[bytes] = []
        if "content-length" not in upstream.headers and _has_body(request.method, upstream.status_code):
            # A chunked answer (a CDN's usual framing): read it whole when it is small, so the caller gets a
            # Content-Length and keeps its connection (the server closes it after a chunked answer); a large
            # one streams as it comes.
            prefix = self._read_small(upstream)
            if prefix and prefix[-1] == b"":
                response_headers.append(("Content-Length", str(sum(map(len, prefix)))))
        start_response(status, response_headers)
        exchange = Exchange(method=request.method, path=path, query=query,
                            request_headers=CaseInsensitiveDict(request.headers.items()),
                            request_body=(tee.kept() if tee else b""), status_code=upstream.status_code,
                            headers=CaseInsensitiveDict(upstream.headers), content=None,
                            sent_clock=environ.get(SENT_CLOCK))
        return self._relay(upstream, exchange, observe, prefix)

    def _read_small(self, upstream: requests.Response) -> list[bytes]:
        """The first chunks of the answer, up to ``BUFFER_LIMIT`` bytes; ending with ``b""`` when that was all."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in upstream.raw.stream(CHUNK, decode_content=False):
                chunks.append(chunk)
                size += len(chunk)
                if size > BUFFER_LIMIT:
                    return chunks
        except Exception:  # a broken stream: _relay reads on, notices and reports it
            return chunks
        chunks.append(b"")
        return chunks

    def _relay(self, upstream: requests.Response, exchange: Exchange,
               observe: Callable[[Exchange], None], prefix: list[bytes]) -> Iterator[bytes]:
        """Yield the upstream's raw bytes (``prefix`` first: already read); observe the exchange before the last
        chunk leaves."""
        kept = bytearray()
        over = False
        held: bytes | None = None
        try:
            try:
                rest = () if prefix and prefix[-1] == b"" else upstream.raw.stream(CHUNK, decode_content=False)
                for chunk in itertools.chain(prefix, rest):
                    if not chunk:
                        continue
                    if not over:
                        if len(kept) + len(chunk) <= self.capture_limit:
                            kept += chunk
                        else:
                            over = True
                            kept.clear()
                    if held is not None:
                        yield held
                    held = chunk
            except Exception as exc:  # a broken stream: urllib3, socket or requests errors
                exchange.complete = False
                log.warning("ltx-mock proxy: the upstream's answer broke off: %s", type(exc).__name__)
            if not over:
                exchange.content = _decoded(bytes(kept), exchange.headers.get("Content-Encoding", ""))
            try:
                observe(exchange)
            except Exception:  # an observer's bug must never break the caller's answer
                log.exception("ltx-mock proxy: observing %s %s failed", exchange.method, exchange.path)
            if held is not None:
                yield held
        finally:
            upstream.close()
