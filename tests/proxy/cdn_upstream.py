"""An upstream that answers like a CDN-fronted HTTP service, in front of any WSGI app (a simulator, usually).

What the real API looks like from a client, and what werkzeug's test server does not do:

- header names in lower case (what HTTP/2 carries and what a CDN's HTTP/1.1 edge sends), plus its own
  ``server``, ``date``, ``via``, ``alt-svc`` and a ray id;
- JSON and text bodies compressed with the caller's best ``Accept-Encoding`` (``br`` when a brotli module is
  installed, else ``gzip``), with ``vary: accept-encoding``;
- every answer with a body sent with ``transfer-encoding: chunked`` in several chunks (no ``content-length``);
- ``Connection`` varied per answer, cycling through ``CONNECTION_MODES``: ``keep-alive``; ``close`` (and the
  socket closed after it); no header at all (HTTP/1.1's default, kept alive); and ``keep-alive, x-edge-hop``
  naming an extra hop-by-hop header ``x-edge-hop`` that a proxy must not pass on.

Usage: ``with CdnUpstream(app) as cdn: cdn.url``. Reusable by any test (tests/proxy/ is on ``sys.path``).
"""

from __future__ import annotations

import gzip
import itertools
import socket
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from werkzeug.test import EnvironBuilder, run_wsgi_app

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency of the package
    brotli = None

CONNECTION_MODES = ("keep-alive", "close", "absent", "hop")
HOP_HEADER = "x-edge-hop"
CHUNKS = 3  # a body is sent in (at least) this many chunks
SKIPPED = {"content-length", "transfer-encoding", "connection", "keep-alive", "server", "date"}


def _encoding(accept: str) -> str | None:
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "br" in offered and brotli is not None:
        return "br"
    if "gzip" in offered:
        return "gzip"
    return None


class CdnUpstream:
    """The CDN-like front on a free loopback port. ``modes`` fixes the ``Connection`` cycle (default: all)."""

    def __init__(self, app: Any, modes: tuple[str, ...] = CONNECTION_MODES) -> None:
        self.app = app
        self.answers = 0
        self.encodings: list[str | None] = []  # the Content-Encoding of each answer, in order
        modes_cycle = itertools.cycle(modes)
        lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return bytes(out)
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                with lock:
                    mode = next(modes_cycle)
                    front.answers += 1
                parts = urlsplit(self.path)
                body = self._body()
                headers = [(k, v) for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "content-length", "connection")]
                environ = EnvironBuilder(path=parts.path, query_string=parts.query, method=self.command,
                                         headers=headers, data=body,
                                         base_url=f"http://{self.headers.get('Host', 'localhost')}").get_environ()
                environ["RAW_URI"] = environ["REQUEST_URI"] = self.path
                app_iter, status, out_headers = run_wsgi_app(front.app, environ, buffered=True)
                try:
                    payload = b"".join(app_iter)
                finally:
                    close = getattr(app_iter, "close", None)
                    if close:
                        close()
                code = int(status.split()[0])
                ctype = out_headers.get("Content-Type", "")
                encoding = None
                if payload and ("json" in ctype or ctype.startswith("text/")) and not out_headers.get(
                        "Content-Encoding"):
                    encoding = _encoding(self.headers.get("Accept-Encoding", ""))
                    if encoding == "br":
                        payload = brotli.compress(payload)
                    elif encoding == "gzip":
                        payload = gzip.compress(payload)
                front.encodings.append(encoding)
                self.send_response_only(code, status.split(" ", 1)[1] if " " in status else "")
                self.send_header("server", "cdn-edge")
                self.send_header("date", formatdate(usegmt=True))
                for name, value in out_headers.items():
                    if name.lower() not in SKIPPED:
                        self.send_header(name.lower(), value)
                if encoding:
                    self.send_header("content-encoding", encoding)
                    self.send_header("vary", "accept-encoding")
                self.send_header("via", "1.1 cdn-edge")
                self.send_header("alt-svc", 'h3=":443"; ma=86400')
                self.send_header("x-ray-id", f"ray-{front.answers}")
                bodyless = self.command == "HEAD" or code in (204, 304) or 100 <= code < 200
                if not bodyless:
                    self.send_header("transfer-encoding", "chunked")
                if mode == "keep-alive":
                    self.send_header("connection", "keep-alive")
                elif mode == "close":
                    self.send_header("connection", "close")  # http.server closes the socket after it
                elif mode == "hop":
                    self.send_header("connection", f"keep-alive, {HOP_HEADER}")
                    self.send_header(HOP_HEADER, "edge-7")
                self.end_headers()
                if not bodyless:
                    step = max(1, -(-len(payload) // CHUNKS))
                    for i in range(0, len(payload), step):
                        chunk = payload[i:i + step]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a kept-alive connection's thread ends with the process
        self.port = self._server.server_address[1]
        sim = getattr(app, "extensions", {}).get("ltx_sim")
        if sim is not None:
            sim.base_url = self.url  # signed URLs and webhooks name the CDN's origin, as the real ones name theirs
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cdn-upstream", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_answer(url: str, path: str, accept_encoding: str = "gzip") -> bytes:
    """The bytes of one answer as they cross the wire (a GET on a fresh connection): for asserting header case."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept-Encoding: {accept_encoding}\r\n"
                     f"Authorization: Bearer demo-token\r\nConnection: close\r\n\r\n".encode())
        out = bytearray()
        while chunk := sock.recv(65536):
            out += chunk
    return bytes(out)
