"""granian's RSGI front for the WSGI app: bodies are read in the event loop, requests run in a thread pool.

Under granian's WSGI interface every request takes a blocking thread *before* its body has arrived, and reads
the body in that thread: 40 clients that sent headers and then nothing (or a body a byte at a time) held all 40
threads and froze the server for everyone (issue 26; docs/reliability.md, "Serving, part 2"). Here granian
calls :meth:`BufferedWsgi.__rsgi__` in its event loop for each request; the body is read there, as bytes
arrive, costing a coroutine and a socket, never a thread; only a request whose body is complete is handed to
the pool of ``threads`` threads that runs the WSGI app (the same count as granian's blocking threads before).
Finished answers wake the loop once for all that finished meanwhile (:meth:`BufferedWsgi._drain`).

* A body that sends nothing for ``body_timeout_s`` (``--body-timeout``) gets ``408 {"error", "code": 408}``
  and its connection is closed; the app never sees it (nothing is journalled, nothing stored). One timer
  (:meth:`BufferedWsgi._sweep`, every ``SWEEP_S``) watches every body being read.
* Writes (not GET/HEAD): at most ``writes`` run the app at once (the store lock's convoy with the GIL); the
  others wait in a queue, holding no thread, first come, first served; a thread that ends a write runs the next
  queued one itself, with no hand-off; one queued longer than ``wait_s`` gets ``503`` + ``Retry-After`` and never
  runs. A pollForResult wait gives its slot back while it sleeps (``environ["ltx.admission"]``).
* A write's commit goes ahead of its reply (a store that can, Redis: ``Deferred`` from the pipeline): the write
  thread runs the next queued writes meanwhile and answers it once ``AHEAD_DEPTH`` more have run, or when none is
  queued (:meth:`BufferedWsgi._writes`); refused there, it runs again. ``ahead=False`` (``LTX_MOCK_COMMITS_AHEAD=0``)
  makes every write wait for its commit.
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
import collections
import contextlib
import io
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mock_server.pipeline import BEHIND, UNPINNED, Deferred, body_timeout_message

log = logging.getLogger("ltx_mock.server")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
JSON_HEADERS = [("content-type", "application/json"), ("connection", "close")]
STREAM_AFTER_S = 0.02  # an answer part that took longer than this to come: stream the rest as it comes
READS = frozenset({"GET", "HEAD"})
# Writes a write thread leaves unanswered while their commits are on their way: each is answered once this many
# more have run (or the queue is empty). One: under load the reply had not always come by then (Redis shares two
# cores with the clients and the server); two or three answered more POSTs/s at less CPU each (docs/redis.md).
AHEAD_DEPTH = 2
SWEEP_S = 0.25  # how often the body deadlines and the write queue's waits are checked (the precision of both)


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
                 on_stop: Callable[[], None] | None = None, writes: int = 0, wait_s: float = 3.0,
                 read_ahead: Callable[[asyncio.AbstractEventLoop], Any] | None = None, ahead: bool = True) -> None:
        self.app = app
        # Writes' commits sent ahead of their replies (``ahead``): a write thread runs the next queued write while
        # the one before's commit is on its way, and answers that one after (:meth:`_writes`).
        self.commits_ahead = ahead
        self.local = threading.local()  # a write thread's answers owed: their commits are on their way
        self.read_ahead = read_ahead  # the store's catch-ups for reads, sent from the loop (:meth:`_read`)
        self.ahead: Any = None
        self.threads = threads
        self.writes = writes  # writes running the app at once (0: no limit); the rest queue here, in the loop
        self.wait_s = wait_s  # a write queued longer than this is answered 503 + Retry-After without running
        self.running = 0  # writes holding a slot (under ``gate``, which the loop and the pool threads share)
        self.queue: collections.deque[_Queued] = collections.deque()
        self.gate = threading.Lock()
        self.slot = _Slot(self)
        self.reading: dict[asyncio.Task[Any], float] = {}  # a body being read: the loop time its deadline passes
        self.sweeping = False
        self.body_timeout_s = body_timeout_s
        self.max_body = max_body  # the app's own limit plus one byte: what a chunked body is read up to
        self.on_stop = on_stop
        self.pool = _Pool(threads)
        self.finished: queue.SimpleQueue[tuple[asyncio.Future[Answer | None], Answer | None]] = queue.SimpleQueue()
        self.draining = False
        self.base: dict[str, Any] = {
            "GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "SERVER_SOFTWARE": "Granian",
            "wsgi.errors": sys.stderr, "wsgi.input_terminated": True, "wsgi.multiprocess": False,
            "wsgi.multithread": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        }

    # -- granian's hooks ------------------------------------------------------------------------------
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """The worker's event loop is up: also hear its stop signals ourselves (:meth:`stop`)."""
        self.loop = loop
        if self.read_ahead is not None:
            try:
                self.ahead = self.read_ahead(loop)
            except Exception:  # the store cannot do it here: every read catches up in its thread, as before
                log.exception("the store's read-ahead could not start; reads catch up in their threads")
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
        if self.writes and environ["REQUEST_METHOD"] not in READS:
            environ["ltx.admission"] = self.slot  # a pollForResult wait gives the slot back while it sleeps
            if self.commits_ahead:
                environ[BEHIND] = True
            item = _Queued(self.loop.time(), environ, proto, done)
            with self.gate:
                start = self.running < self.writes and not self.queue
                if start:
                    self.running += 1
                else:  # queued here, holding no thread, until a running write ends (:meth:`_writes`)
                    self.queue.append(item)
            if start:
                self.pool.submit(self._writes, item)
            else:
                self._sweep_soon()
        elif self.ahead is not None and environ["REQUEST_METHOD"] in READS and environ["PATH_INFO"] not in UNPINNED:
            # To a thread once the store is current for it (health and metrics read the store themselves, and
            # answer at once while it is down: a frozen Redis must not hold a liveness probe for the catch-up).
            self.ahead.then(self._read, environ, proto, done)
        else:
            self.pool.submit(self.respond, environ, proto, done)
        short = await done  # granian needs the coroutine to last until the answer is given; the answer does not wait
        if short is not None:  # a body shorter than its Content-Length (a "drop" fault): streamed, so the header
            status, headers, body = short  # stands and the client sees the connection close mid-body
            with contextlib.suppress(Exception):
                stream = proto.response_stream(status, headers)
                await stream.send_bytes(body)
                await asyncio.sleep(0.05)  # granian sends the head once the stream is polled: let it go first

    def _read(self, current: bool, environ: dict[str, Any], proto: Any, done: asyncio.Future[Answer | None]) -> None:
        """(In the loop) a read the store caught up for since it arrived (``current``: its thread needs no round
        trip of its own; not current: it catches up there, as without a read-ahead) goes to a thread."""
        if current:
            environ["ltx.current"] = True
        self.pool.submit(self.respond, environ, proto, done)

    def respond(self, environ: dict[str, Any], proto: Any, done: asyncio.Future[Answer | None]) -> _Job | None:
        """(In a pool thread) run the app and send its answer from this thread (granian's protocol object takes
        it from any thread), so the answer never queues for the event loop; then let the coroutine end (and
        only one wake-up of the loop for all the answers finished meanwhile). A write whose commit went ahead of
        its reply is returned instead (a ``_Job``: :meth:`_complete` answers it, in this thread)."""
        try:
            answer = self.call(environ, proto)
        except BaseException:
            self._answered(environ, done, None)
            raise
        if isinstance(answer, _Job):
            answer.environ, answer.proto, answer.done = environ, proto, done
            return answer
        self._send_answer(environ, proto, done, answer)
        return None

    def _send_answer(self, environ: dict[str, Any], proto: Any, done: asyncio.Future[Answer | None] | None,
                     answer: Answer | None) -> None:
        short: Answer | None = None
        try:
            if answer is None:
                return  # streamed as it came
            status, headers, body = answer
            if environ.get("REQUEST_METHOD") != "HEAD" and _declared(headers) not in (None, len(body)):
                short = (status, headers, body)  # response_bytes would correct the length
            else:
                with contextlib.suppress(Exception):  # the client is gone
                    proto.response_bytes(status, headers, body)
        finally:
            self._answered(environ, done, short)

    def _answered(self, environ: dict[str, Any], done: asyncio.Future[Answer | None] | None,
                  short: Answer | None) -> None:
        environ.clear()  # the body goes now: granian keeps finished coroutines (and their frames) a while
        if done is None:
            return
        self.finished.put((done, short))
        if not self.draining:  # one wake-up of the event loop for every answer finished meanwhile
            self.draining = True
            self.loop.call_soon_threadsafe(self._drain)

    # -- commits sent ahead: answered in the thread that sent them, in order --------------------------------
    def _owed(self) -> list[_Job]:
        """This thread's writes whose answers wait for their commits (taken: the caller answers them)."""
        jobs: list[_Job] = getattr(self.local, "jobs", None) or []
        self.local.jobs = []
        return jobs

    def _complete_owed(self, *, inline: bool = False) -> None:
        for job in self._owed():
            self._complete(job, inline=inline)

    def _complete(self, job: _Job, *, inline: bool = False) -> None:
        """(The thread that ran it) answer a write once its commit is durable. Refused, it runs again: here, in
        its write slot (``inline``: between writes), else in another thread (this one is inside a write's view)."""
        try:
            result = job.deferred.complete()
        except BaseException:
            self._answered(job.environ, job.done, None)
            raise
        if result is None:
            if inline:
                self._again(job)
            else:
                self.pool.submit(self._again, job)
            return
        self._send_answer(job.environ, job.proto, job.done, self._collect(result, job.started, job.written, job.proto))

    def _again(self, job: _Job) -> None:
        """(A pool thread) a write whose commit was refused, run again (waiting for its commit), then answered."""
        try:
            result = job.deferred.again()
            answer = self._collect(result, job.started, job.written, job.proto)
        except BaseException:
            self._answered(job.environ, job.done, None)
            raise
        self._send_answer(job.environ, job.proto, job.done, answer)

    def _drain(self) -> None:
        """(In the loop) end the coroutines of the answers the pool has finished."""
        self.draining = False  # first: an answer finished after this line wakes the loop again
        get = self.finished.get_nowait
        while True:
            try:
                done, short = get()
            except queue.Empty:
                return
            _resolve(done, short)

    # -- the writes: at most ``writes`` at once, first come, first served -------------------------------
    def _writes(self, item: _Queued | None) -> None:
        """(In a pool thread holding a write slot) run this write, then the next queued one, and so on: under
        load a write follows the one before in the same thread, with no hand-off to the loop or another thread
        (a gate in each request's thread, as before, woke a thread per request and handed the GIL around).

        A write whose commit went ahead of its reply (the store's, ``Deferred``) is answered once ``AHEAD_DEPTH``
        more writes have run (its reply came meanwhile), or before the slot is given up: the thread does not wait
        for a commit while a write is queued, and every answer it owes goes out before it stops writing."""
        slot = True  # this thread holds a write slot (until _pass_slot gives it up)
        try:
            while item is not None:
                assert item.environ is not None and item.done is not None
                job = self.respond(item.environ, item.proto, item.done)
                owed = self._owed()  # in the order sent (none before this one if its view waited: answered then)
                if job is not None:
                    owed.append(job)
                due = max(0, len(owed) - AHEAD_DEPTH)
                self.local.jobs = owed[due:]
                for old in owed[:due]:
                    self._complete(old, inline=True)
                item = self._next_write()
                if item is None:
                    self._complete_owed(inline=True)
                    slot = False
                    item = self._pass_slot()
                    slot = item is not None
        finally:
            if slot:  # left by an error: every answer owed goes out, and the slot goes on (never lost)
                try:
                    self._complete_owed()
                finally:
                    following = self._pass_slot()
                    if following is not None:
                        self.pool.submit(self._writes, following)

    def _next_write(self) -> _Queued | None:
        """(A thread holding a write slot) the next queued write, keeping the slot; None: none queued (the slot
        is still this thread's: :meth:`_pass_slot` gives it up)."""
        with self.gate:
            if self.queue and self.queue[0].woken is None:
                return self.queue.popleft()
        return None

    def _pass_slot(self) -> _Queued | None:
        """(A thread giving up a write slot) the next queued write for this thread to run, or None: the slot went
        to a pollForResult thread waiting for it, or is free."""
        with self.gate:
            if self.queue:
                item = self.queue.popleft()
                if item.woken is None:
                    return item
                item.woken.release()
                return None
            self.running -= 1
            return None

    def _saturated(self, item: _Queued) -> None:
        """503 + Retry-After for a write that waited over ``wait_s`` for its turn (it never ran: nothing changed)."""
        assert item.done is not None and item.proto is not None  # a request, not a pollForResult thread
        body = json.dumps({"error": f"Simulator saturated: {self.writes} requests running and more waited over "
                                    f"{self.wait_s:g} s; retry shortly", "code": 503}).encode()
        with contextlib.suppress(Exception):
            item.proto.response_bytes(503, [("content-type", "application/json"), ("retry-after", "1")], body)
        _resolve(item.done, None)

    # -- deadlines: one timer for every body being read and every queued write ------------------------
    def _sweep_soon(self) -> None:
        if not self.sweeping:
            self.sweeping = True
            self.loop.call_later(SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """(Every ``SWEEP_S`` while there is anything to watch) cancel a body read past its deadline (it answers
        408) and answer 503 to a write queued longer than ``wait_s``. One timer for all: a timer per request
        (``asyncio.timeout``, rescheduled per chunk) cost the event loop a tenth of its time under c16."""
        self.sweeping = False
        try:
            now = self.loop.time()
            for task, deadline in list(self.reading.items()):
                if 0 <= deadline <= now:
                    self.reading[task] = -1.0  # read_body: the cancellation is the deadline's
                    task.cancel()
            late: list[_Queued] = []
            with self.gate:  # the pool threads take from the queue too
                if self.queue and now - self.queue[0].since > self.wait_s:
                    keep: collections.deque[_Queued] = collections.deque()
                    for item in self.queue:
                        (late if item.woken is None and now - item.since > self.wait_s else keep).append(item)
                    self.queue = keep
            for item in late:
                self._saturated(item)
        finally:  # the deadlines are watched again whatever happened here
            if self.reading or self.queue:
                self._sweep_soon()

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
        task = asyncio.current_task()
        assert task is not None
        reading = self.reading
        reading[task] = self.loop.time() + self.body_timeout_s
        self._sweep_soon()
        try:
            async for chunk in proto:
                chunks.append(chunk)
                size += len(chunk)
                if size >= self.max_body or size == declared:
                    break  # all of it (no wait for the end of the stream), or enough to show the app it is too long
                reading[task] = self.loop.time() + self.body_timeout_s
        except asyncio.CancelledError:
            if reading.get(task) != -1.0:
                raise
            task.uncancel()
            return 408, body_timeout_message(self.body_timeout_s)
        except Exception:  # the client went away mid-body: the app sees what came (and refuses a short body)
            pass
        finally:
            reading.pop(task, None)
        body = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(body)
        if declared is None:
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        return None

    def call(self, environ: dict[str, Any], proto: Any = None) -> Answer | _Job | None:
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
        if type(result) is Deferred:
            return _Job(result, started, written)
        return self._collect(result, started, written, proto)

    def _collect(self, result: Iterable[bytes], started: list[Any], written: list[bytes],
                 proto: Any) -> Answer | None:
        """The rest of :meth:`call`: the answer's parts, gathered (or streamed, when they come slowly)."""
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


class _Slot:
    """``environ["ltx.admission"]`` of a write: ``released()`` gives the thread's write slot back while a
    pollForResult wait sleeps, and takes one again (behind the writes queued meanwhile) before the answer."""

    __slots__ = ("front",)

    def __init__(self, front: BufferedWsgi) -> None:
        self.front = front

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """(In the request's pool thread.)"""
        front = self.front
        front._complete_owed()  # the writes before this one, answered before it sleeps
        item = front._pass_slot()
        if item is not None:  # the next queued write runs meanwhile, in a thread of its own
            front.pool.submit(front._writes, item)
        try:
            yield
        finally:
            woken = threading.Lock()
            with front.gate:
                mine = front.running < front.writes and not front.queue
                if mine:
                    front.running += 1
                else:
                    woken.acquire()
                    front.queue.append(_Queued(time.monotonic(), None, None, None, woken))
            if not mine:
                woken.acquire()  # _pass_slot releases it: the slot is ours


class _Job:
    """A write whose commit went ahead of its reply: answered by :meth:`BufferedWsgi._complete`."""

    __slots__ = ("deferred", "done", "environ", "proto", "started", "written")

    def __init__(self, deferred: Deferred, started: list[Any], written: list[bytes]) -> None:
        self.deferred = deferred
        self.started = started
        self.written = written
        self.environ: dict[str, Any] = {}
        self.proto: Any = None
        self.done: asyncio.Future[Answer | None] | None = None


class _Queued:
    """A write waiting for its turn: a request not yet run, or (``woken``) a pollForResult thread waiting again."""

    __slots__ = ("done", "environ", "proto", "since", "woken")

    def __init__(self, since: float, environ: dict[str, Any] | None, proto: Any,
                 done: asyncio.Future[Answer | None] | None, woken: threading.Lock | None = None) -> None:
        self.since = since
        self.environ = environ
        self.proto = proto
        self.done = done
        self.woken = woken


class _Pool:
    """At most ``threads`` request threads taking work from one queue, started as needed (as
    ``ThreadPoolExecutor`` does: a thread each could leave a malloc arena of freed upload bytes behind).
    ``ThreadPoolExecutor.submit`` (a Future, a Condition, a semaphore per call) took a sixth of the event loop's
    time under c16; the answer goes back through :meth:`BufferedWsgi._drain`, not a Future."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.started = 0
        self.idle = 0
        self.lock = threading.Lock()
        self.work: queue.SimpleQueue[tuple[Callable[..., object], tuple[Any, ...]]] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        with self.lock:
            spawn = not self.idle and self.started < self.threads
            if spawn:
                self.started += 1
            elif self.idle:
                self.idle -= 1
        self.work.put((fn, args))
        if spawn:
            threading.Thread(target=self._run, name=f"ltx-request_{self.started}", daemon=True).start()

    def _run(self) -> None:
        get = self.work.get
        while True:
            fn, args = get()
            try:
                fn(*args)
            except BaseException:  # respond() answers every error itself; never lose the thread
                log.exception("request thread")
            del fn, args
            with self.lock:
                self.idle += 1
