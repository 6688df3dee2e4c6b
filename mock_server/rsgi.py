"""granian's RSGI front for the WSGI app: bodies are read in the event loop, requests run in a thread pool.

Under granian's WSGI interface every request takes a blocking thread *before* its body has arrived, and reads
the body in that thread: 40 clients that sent headers and then nothing (or a body a byte at a time) held all 40
threads and froze the server for everyone (issue 26; docs/reliability.md, "Serving, part 2"). Here granian
calls :meth:`BufferedWsgi.__rsgi__` in its event loop for each request; the body is read there, as bytes
arrive, costing a coroutine and a socket, never a thread; only a request whose body is complete is handed to
the pool of ``threads`` threads that runs the WSGI app (the same count as granian's blocking threads before).

* A body that sends nothing for ``body_timeout_s`` (``--body-timeout``) gets ``408 {"error", "code": 408}``
  and its connection is closed; the app never sees it (nothing is journalled, nothing stored).
* A declared ``Content-Length`` above ``max_body`` is not read: the app answers its documented 413 from the
  header alone and the connection is closed. A chunked body is read up to ``max_body`` (one byte over the
  limit is enough for the app to answer 413), then the rest is not read.
* The app sees a complete request, as waitress gives it: ``wsgi.input`` in memory, ``Content-Length`` set (a
  chunked body's ``Transfer-Encoding`` is replaced by its length).
* A client that leaves mid-body: the app gets the bytes that came, with the declared length (the upload rule
  then answers 400 and stores nothing, as before).
* SIGTERM/SIGINT: the front hears the worker's stop signal beside granian (whose own ``__rsgi_del__`` hook comes
  only once every request has ended), hands in-flight webhook deliveries back to the store (``on_stop``) and
  ends the process without waiting for long polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mock_server.api.gateway import body_timeout_message

log = logging.getLogger("ltx_mock.server")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
JSON_HEADERS = [("content-type", "application/json"), ("connection", "close")]
STREAM_AFTER_S = 0.02  # an answer part that took longer than this to come: stream the rest as it comes


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "code": status}, separators=(",", ":")).encode()


Answer = tuple[int, list[tuple[str, str]], bytes]


def _resolve(done: asyncio.Future[Answer | None], short: Answer | None) -> None:
    if not done.done():
        done.set_result(short)


def _declared(headers: list[tuple[str, str]]) -> int | None:
    """The Content-Length an answer's headers declare (None: none, or not a number)."""
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value) if value.isdigit() else None
    return None


class BufferedWsgi:
    """An RSGI application (granian ``Interfaces.RSGI``) serving a WSGI ``app`` from a pool of ``threads``."""

    def __init__(self, app: WsgiApp, threads: int, *, body_timeout_s: float, max_body: int,
                 on_stop: Callable[[], None] | None = None) -> None:
        self.app = app
        self.threads = threads
        self.body_timeout_s = body_timeout_s
        self.max_body = max_body  # the app's own limit plus one byte: what a chunked body is read up to
        self.on_stop = on_stop
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ltx-request")
        self.base: dict[str, Any] = {
            "GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "SERVER_SOFTWARE": "Granian",
            "wsgi.errors": sys.stderr, "wsgi.input_terminated": True, "wsgi.multiprocess": False,
            "wsgi.multithread": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        }

    # -- granian's hooks ------------------------------------------------------------------------------
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """The worker's event loop is up: also hear its stop signals ourselves (:meth:`stop`)."""
        self.loop = loop
        for sig in (signal.SIGTERM, signal.SIGINT):
            granians = getattr(loop, "_signal_handlers", {}).get(sig)  # granian's own handler: it keeps running
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, granians)

    def _on_signal(self, granians: asyncio.Handle | None) -> None:
        if granians is not None:
            granians._run()  # granian stops accepting
        threading.Thread(target=self.stop, name="ltx-stop", daemon=True).start()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop()

    def stop(self) -> None:
        """The worker was told to stop (SIGTERM/SIGINT from granian's master). granian would call
        ``__rsgi_del__`` only once every request has ended (long polls: 20 s; the master kills the worker after
        ``workers_kill_timeout``, so webhook deliveries in flight were never handed back): ``on_stop`` hands
        them back now and ends the process, as waitress does."""
        if self.on_stop is not None:
            self.on_stop()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":  # websockets: none of our routes
            proto.close(1000)
            return
        environ = self.environ(scope)
        if "CONTENT_LENGTH" in environ or "HTTP_TRANSFER_ENCODING" in environ:
            refused = await self.read_body(environ, proto)
            if refused is not None:
                status, message = refused
                proto.response_bytes(status, JSON_HEADERS, error_body(status, message))
                return
        done: asyncio.Future[Answer | None] = self.loop.create_future()
        self.pool.submit(self.respond, environ, proto, done)
        short = await done  # granian needs the coroutine to last until the answer is given; the answer does not wait
        if short is not None:  # a body shorter than its Content-Length (a "drop" fault): streamed, so the header
            status, headers, body = short  # stands and the client sees the connection close mid-body
            with contextlib.suppress(Exception):
                stream = proto.response_stream(status, headers)
                await stream.send_bytes(body)
                await asyncio.sleep(0.05)  # granian sends the head once the stream is polled: let it go first

    def respond(self, environ: dict[str, Any], proto: Any, done: asyncio.Future[Answer | None]) -> None:
        """(In a pool thread) run the app and send its answer from this thread (granian's protocol object takes
        it from any thread), so the answer never queues for the event loop; then let the coroutine end."""
        short: Answer | None = None
        try:
            answer = self.call(environ, proto)
            if answer is None:
                return  # streamed as it came
            status, headers, body = answer
            if environ.get("REQUEST_METHOD") != "HEAD" and _declared(headers) not in (None, len(body)):
                short = (status, headers, body)  # response_bytes would correct the length
            else:
                with contextlib.suppress(Exception):  # the client is gone
                    proto.response_bytes(status, headers, body)
        finally:
            environ.clear()  # the body goes now: granian keeps finished coroutines (and their frames) a while
            self.loop.call_soon_threadsafe(_resolve, done, short)

    def _open_stream(self, proto: Any, status: str, headers: list[tuple[str, str]]) -> Any:
        async def open_() -> Any:
            return proto.response_stream(int(status[:3]), headers)

        return asyncio.run_coroutine_threadsafe(open_(), self.loop).result()

    def _send(self, stream: Any, data: bytes) -> None:
        """(In a pool thread) one part of a streamed answer, sent by the event loop; waits until it is sent."""
        async def send() -> None:  # send_bytes gives an awaitable, not a coroutine
            await stream.send_bytes(data)

        asyncio.run_coroutine_threadsafe(send(), self.loop).result()

    # -- the request ----------------------------------------------------------------------------------
    def environ(self, scope: Any) -> dict[str, Any]:
        """The WSGI environ granian's own WSGI interface builds (PEP 3333: the path as latin-1 of its bytes)."""
        host, _, port = scope.server.rpartition(":")
        environ = self.base.copy()
        environ.update({
            "REQUEST_METHOD": scope.method, "PATH_INFO": scope.path.encode().decode("latin-1"),
            "QUERY_STRING": scope.query_string, "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
            "SERVER_NAME": host, "SERVER_PORT": port, "REMOTE_ADDR": scope.client.rpartition(":")[0],
            "wsgi.url_scheme": scope.scheme,
        })
        for name, value in scope.headers.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            old = environ.get(key)
            environ[key] = value if old is None else f"{old},{value}"
        return environ

    async def read_body(self, environ: dict[str, Any], proto: Any) -> tuple[int, str] | None:
        """Read the whole body into ``wsgi.input`` in the event loop; (status, message) refuses the request."""
        length = environ.get("CONTENT_LENGTH", "")
        declared = int(length) if length.isdigit() else None
        if declared is not None and declared > self.max_body:
            environ["wsgi.input"] = io.BytesIO()  # the app answers 413 from the header; the body is never read
            return None
        if declared == 0 and "HTTP_TRANSFER_ENCODING" not in environ:
            environ["wsgi.input"] = io.BytesIO()
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout_s) as deadline:
                async for chunk in proto:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= self.max_body:
                        break  # enough to show the app it is too long; the rest is never read
                    deadline.reschedule(self.loop.time() + self.body_timeout_s)
        except TimeoutError:
            return 408, body_timeout_message(self.body_timeout_s)
        except Exception:  # the client went away mid-body: the app sees what came (and refuses a short body)
            pass
        body = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(body)
        if declared is None:
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        return None

    def call(self, environ: dict[str, Any], proto: Any = None) -> Answer | None:
        """(In a pool thread) run the WSGI app to the end of its answer. An answer whose parts come slowly (a
        ``dribble`` fault: more than ``STREAM_AFTER_S`` for a part) is streamed to ``proto`` from then on, as
        it comes (None is returned); any other is returned whole."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return written.append

        try:
            result = self.app(environ, start_response)
        except Exception as exc:  # the app's own handlers answer every error; this is a last resort
            log.exception("unhandled error in the WSGI app")
            return 500, JSON_HEADERS[:1], error_body(500, f"Internal simulator error: {type(exc).__name__}")
        try:
            if type(result) is list and not written:
                body = result[0] if len(result) == 1 else b"".join(result)
            else:
                parts = list(written)
                clock = time.perf_counter()
                stream = None
                for part in result:
                    if stream is not None:
                        self._send(stream, part)
                    elif proto is not None and time.perf_counter() - clock > STREAM_AFTER_S:
                        stream = self._open_stream(proto, *started)
                        self._send(stream, b"".join([*parts, part]))
                    else:
                        parts.append(part)
                        clock = time.perf_counter()
                if stream is not None:
                    return None
                body = b"".join(parts)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        return int(status[:3]), headers, body
