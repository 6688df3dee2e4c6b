"""Serving the app: a production server for ``ltx-mock serve``, an in-thread one for tests.

The production server is **granian** (``--server granian``, the default), chosen by measurement of both
req/s and hostile clients (docs/performance.md, "Choosing the server" and docs/reliability.md):

* throughput, c16, simulator and bare Flask on the same server, one run (2026-12-01 ≈ 05:59 UTC, load 11-16):
  granian: GET /scheduler/available 2,498 req/s (bare Flask 2,200), GET /assets/{jobId} 2,292 (2,368),
  POST /images/create 1,904 (1,923); waitress: 715 (1,665), 1,455 (1,625), 636 (772). waitress's own
  Python I/O loop caps it below the job-creation target (>= 1.5x WireMock, ~1,500 req/s): bare Flask on
  waitress does not reach it either;
* hostile clients (``python -m benchmarks.reliability serving --server granian``, same hour, load 16):
  200 idle + 16 slowloris + 8 pollForResult waits held open, 100/100 fresh requests answered (p99 85 ms);
  32-thread mixed run 1,920/1,920, 0 timeouts; webhook receivers that drip or flood delay nobody.

granian's configuration is what makes that hold (:func:`granian_options`): ``backpressure`` counts
*connections* in granian, so it is 1,024, not the thread count (at 8, eight idle keep-alive connections
froze the server); ``workers_kill_timeout`` bounds a SIGTERM. granian serves through its RSGI interface with
:class:`rsgi.BufferedWsgi` in front of the WSGI app: a body is read in granian's event loop (a body silent
for ``--body-timeout`` gets 408), and only a complete request takes one of the request threads plus
pollForResult wait slots (under granian's WSGI interface each unfinished body held a thread: 40 froze it).
On SIGTERM a worker hands in-flight webhook deliveries back and exits at once, as waitress does. In front of the
app, at most ``GRANIAN_RUNNING`` writes run at once, first come, first served: 16 writers queueing on the store
lock made a convoy with the GIL (POST c16 p99 25-35 ms -> 9 ms). The front queues the others in its event loop,
holding no thread, and a thread that ends a write runs the next queued one itself (a gate in each request's
thread woke a thread per request and handed the GIL around more often; docs/performance.md has the figures).

**waitress** (``--server waitress``) stays for what granian does not give: it reads every request in one
I/O loop and hands a thread only a request that has fully arrived (an idle or slowloris connection costs a
socket, never a thread); the port is bound here without ``SO_REUSEPORT`` (granian's workers bind with it, so
a program binding the same port with ``SO_REUSEPORT`` later could share it; ``ltx-mock serve`` checks the
port first); and around it:

* an **admission limit** (:class:`Admission`) lets at most ``threads`` requests run Python at once
  (more only fight over the GIL and stretch the tail); a request that waits longer than
  ``ADMISSION_WAIT_S`` for its turn gets ``503`` with ``Retry-After``; ``pollForResult`` waits give
  their turn back while they sleep and have their own ``poll_waits`` threads;
* ``--workers N`` forks N waitress processes sharing the one listening socket; each dies with its
  parent (``PR_SET_PDEATHSIG`` and a pipe the parent holds), so a ``kill -9`` of ``ltx-mock serve``
  leaves nothing serving the port;
* SIGTERM/SIGINT stop accepting, give in-flight webhook deliveries a short grace, and exit.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, make_server

from mock_server.config import SimConfig

CONFIG_ENV = "LTX_MOCK_CONFIG"
WORKERS_ENV = "LTX_MOCK_WORKERS"
THREADS_ENV = "LTX_MOCK_THREADS"  # granian: request threads per worker (the pool adds the poll-wait threads)
MASTER_ENV = "LTX_MOCK_MASTER"  # granian: the serving process's pid, whose death ends its workers
AHEAD_ENV = "LTX_MOCK_COMMITS_AHEAD"  # granian: "0" makes every write wait for its commit (to measure against)
RUNNING_ENV = "LTX_MOCK_RUNNING"  # granian: how many requests its worker lets run Python at once (0: no limit)
# Writes at once per worker: one. The queue in front (rsgi.py) is first come, first served, and the thread that ends
# a write runs the next itself: one thread runs them back to back under the GIL. Two (measured 2026-12-01 against
# the gate of that time: POST c16 p99 25-35 -> 9-11 ms) now only hand the GIL and a thread around: in memory one
# measured +2-70% POSTs/s and -2-40% CPU per POST in 7 of 7 alternations, p99 alike (median 16.3 against 16.5 ms);
# under Redis a second write mostly waited for the first's contended keys (docs/performance.md, "21:00").
GRANIAN_RUNNING = 1
SERVERS = ("granian", "waitress", "werkzeug")
ADMISSION_WAIT_S = 3.0  # a request not admitted within this gets 503 + Retry-After (clients time out at >= 5 s)
IDLE_TIMEOUT_S = 30  # a connection with no request and no bytes for this long is closed
SHUTDOWN_GRACE_S = 1.0  # in-flight webhook deliveries get this long at shutdown, then are handed back
GRANIAN_KILL_TIMEOUT_S = 2  # a granian worker still busy this long after SIGTERM is killed (measured 4.7 s without)
CLOSE_TIMEOUT_S = 2.0  # the store's close at shutdown (the journal's kept entries: ~0.3-0.9 s for 10,000), at most
log = logging.getLogger("ltx_mock.server")
# This module's import name (mock_server.server in the checkout, ltxstudio_mock.mock_server.server installed),
# also when it runs as `python -m` (a --workers child): the children and granian's workers import it by name.
_MODULE = __spec__.name if __name__ == "__main__" and __spec__ else __name__


class BindError(Exception):
    """The port cannot be ours: the message is the one line ``ltx-mock serve`` prints."""


def bind(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """Bind ``host:port`` exclusively (and listen, unless told not to yet), or raise :class:`BindError`.

    ``SO_REUSEADDR`` only lets us rebind over connections in TIME_WAIT (a quick restart); on Linux it
    never lets two listeners share a port. ``SO_REUSEPORT`` (which would) is never set. ``ltx-mock serve``
    binds first (a taken port is refused before anything is loaded) and listens once the app is built, so
    a client that connects during start-up is refused (and retries) rather than left waiting.
    """
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise BindError(f"cannot serve on host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port) from None
    if listen:
        start_listening(sock, host, port)
    return sock


def start_listening(sock: socket.socket, host: str, port: int) -> None:
    """``listen()`` on a bound socket; two servers bound at the same instant are told apart here."""
    try:
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise _bind_error(exc, host, port) from None


def _bind_error(exc: OSError, host: str, port: int) -> BindError:
    if exc.errno == errno.EADDRINUSE:
        return BindError(f"port {port} on {host} is already in use (another ltx-mock serve or another "
                         f"program); stop it or pick another --port")
    if exc.errno == errno.EACCES:
        return BindError(f"port {port} on {host}: permission denied; pick a --port above 1023")
    return BindError(f"cannot bind port {port} on {host}: {exc.strerror}")


# -- admission ---------------------------------------------------------------
class Admission:
    """WSGI middleware: at most ``slots`` requests run the app at once; the rest wait, then get 503.

    The slot is held until the response iterable is closed (the server has sent the body).
    ``environ["ltx.admission"]`` lets a view hand its slot back while it only sleeps (pollForResult).
    Waiting requests are admitted first come, first served (:class:`FifoGate`).

    (waitress; granian's RSGI front, :mod:`rsgi`, queues writes itself, in its event loop, holding no thread.)
    """

    def __init__(self, app: Callable[..., Any], slots: int, wait_s: float = ADMISSION_WAIT_S) -> None:
        self.app = app
        self.slots = slots
        self.wait_s = wait_s
        self._sem = FifoGate(slots)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._sem.acquire(timeout=self.wait_s):
            body = json.dumps({"error": f"Simulator saturated: {self.slots} requests running and more waited "
                                        f"over {self.wait_s:g} s; retry shortly", "code": 503}).encode()
            start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                                       ("Content-Length", str(len(body))), ("Retry-After", "1")])
            return [body]
        held = _Held(self._sem)
        environ["ltx.admission"] = held
        try:
            result = self.app(environ, start_response)
        except BaseException:
            held.release()
            raise
        return _Closing(result, held.release)


class FifoGate:
    """A semaphore that hands a freed slot straight to the longest waiter (no barging).

    ``threading.Semaphore`` lets a thread that is running take a slot just freed before the woken waiter gets
    the GIL back, so under load a few requests wait many times over (the p99 tail). Here each waiter blocks
    on its own lock and ``release`` gives the slot to the first of them.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Lock] = collections.deque()

    def acquire(self, timeout: float | None = None) -> bool:
        with self._mutex:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return True
            mine = threading.Lock()
            mine.acquire()
            self._waiters.append(mine)
        if mine.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return True
        with self._mutex:
            try:
                self._waiters.remove(mine)
            except ValueError:  # handed the slot as the wait ran out: it is ours
                return True
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


class _Held:
    """One request's admission slot: ``released()`` gives it back for the duration of a wait."""

    def __init__(self, sem: FifoGate) -> None:
        self._sem = sem
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._sem.release()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        self.release()
        try:
            yield
        finally:
            self._sem.acquire()
            with self._lock:
                self._held = True


class _Closing:
    """A response iterable that runs ``on_close`` after the server is done with it."""

    def __init__(self, result: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._result = result
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()


# -- process lifecycle ---------------------------------------------------------
def close_observer(app: Any) -> None:
    """Close ``app``'s observer (``observe.Observer.close``: the access log's queued lines are written) before
    the server's process ends or its thread stops."""
    observe = getattr(app, "extensions", {}).get("ltx_observer")
    if observe is not None:
        observe.close()


def close_process(app: Any) -> None:
    """Before the server's process ends (SIGTERM, SIGINT): the access log's queued lines written, then the
    simulator closed, so a shared store's request journal gets the entries this process kept and had not written
    yet (``sim/journal.py``; a process killed with SIGKILL loses them). A store that fails here is logged; one
    that hangs is left behind after ``CLOSE_TIMEOUT_S``: neither keeps the process alive."""
    close_observer(app)
    sim = getattr(app, "extensions", {}).get("ltx_sim")
    if sim is None:
        return

    def close() -> None:
        try:
            sim.close()
        except Exception:
            log.exception("closing the store at shutdown failed")

    closing = threading.Thread(target=close, name="ltx-close", daemon=True)
    closing.start()
    closing.join(CLOSE_TIMEOUT_S)  # a store that hangs (Redis frozen) never keeps the process from ending


def die_with_parent(watch_fd: int | None = None, *, pdeathsig: bool = True, parent: int | None = None) -> None:
    """Make this (worker) process exit when its parent dies, even by SIGKILL.

    Linux: ``PR_SET_PDEATHSIG`` (it fires when the *thread* that forked us ends, so only for a parent that
    forks from its main thread, as ``_supervise`` does). Everywhere, and as a second line: a thread that
    reads ``watch_fd`` (the read end of a pipe whose write end only the parent holds; EOF means the parent is gone), or,
    without one, notices that the parent pid changed. ``parent``: the pid the parent had (default: the parent now),
    so that a worker whose parent died while it was still starting exits here instead of watching its new parent.
    """
    parent = os.getppid() if parent is None else parent
    if pdeathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        if watch_fd is not None:
            with contextlib.suppress(OSError):
                while os.read(watch_fd, 1):
                    pass
        else:
            while os.getppid() == parent:
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="ltx-parent-watch", daemon=True).start()


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM/SIGINT to leave the serving loop.

    A ``KeyboardInterrupt``: waitress' I/O loop re-raises that, while it passes any ``Exception`` raised in a
    connection's handler to that connection's ``handle_error`` (a SIGTERM arriving mid-read would be lost).
    """


def _on_stop_signals(handler: Callable[[int, Any], None] | signal.Handlers) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop()


def tune_malloc() -> None:
    """glibc: allocations of 1 MiB and more always get their own mapping, so memory freed by a reset (uploads)
    goes back to the system. glibc's default raises that threshold as big blocks are freed, and then keeps them
    in its heap: 20 x 10 MB uploads then a reset gave back 30-100 MB of 240; with this, all of it
    (docs/reliability.md). Elsewhere (musl, macOS): nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


def freeze_startup_heap() -> int:
    """Put what start-up built (Flask, werkzeug, the contracts' schemas, the rules: ~50k objects) out of the
    cyclic collector's reach (``gc.freeze``), once the app is built: a full collection walked all of it while
    requests waited, 45-48 ms a pause under c16 POSTs (docs/performance.md, "gc.freeze"); now it walks what came
    after. Start-up's own cycles are collected first: reference counting still frees a frozen object, but a frozen
    cycle is never collected. Returns how many were frozen. Only a serving process does this: the in-process server
    (tests, the pytest plugin) leaves its host's heap be."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (idle connections cost a descriptor each)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    except (ImportError, ValueError, OSError):
        return 1024


def waitress_options(threads: int, poll_waits: int) -> dict[str, Any]:
    """How waitress runs here (measured in docs/reliability.md).

    ``threads`` run requests (the admission limit), ``poll_waits`` more are for pollForResult waits.
    Up to 1,000 connections (bounded by the open-files limit); ``poll`` instead of ``select`` so
    descriptors above 1024 work; idle connections closed after ``IDLE_TIMEOUT_S``.
    """
    limit = max(64, min(1000, raise_fd_limit() - 64))
    return {"threads": threads + poll_waits + 2, "connection_limit": limit, "channel_timeout": IDLE_TIMEOUT_S,
            "cleanup_interval": 1, "asyncore_use_poll": True, "backlog": 2048, "ident": "ltxstudio-mock",
            "max_request_body_size": 256 * 1024 * 1024, "expose_tracebacks": False}


def body_deadline(server: Any, body_timeout_s: float) -> None:
    """waitress: a request whose headers arrived but whose body has sent nothing for ``body_timeout_s`` gets
    ``408 {"error", "code": 408}`` and its connection is closed (waitress itself only closes a connection silent
    for ``IDLE_TIMEOUT_S``, without a word). Checked once a second by waitress' own maintenance pass."""
    from mock_server.pipeline import body_timeout_message

    idle = server.maintenance

    def maintenance(now: float) -> None:
        cutoff = now - body_timeout_s
        for channel in list(server.active_channels.values()):
            request = channel.request
            if (request is not None and request.headers_finished and not request.completed and not channel.requests
                    and channel.last_activity < cutoff and not channel.close_when_flushed and not channel.will_close):
                body = json.dumps({"error": body_timeout_message(body_timeout_s), "code": 408},
                                  separators=(",", ":")).encode()
                head = (f"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
                with contextlib.suppress(Exception):
                    channel.write_soon(head + body)
                channel.request = None
                channel.close_when_flushed = True
        idle(now)

    server.maintenance = maintenance


def app_from_env() -> Any:
    """A worker's app: rebuild the config the CLI put in the environment."""
    from mock_server.app import create_app

    config = SimConfig(**json.loads(os.environ[CONFIG_ENV]))
    if config.log_level != "warning":
        from mock_server.access_log import configure_logging

        configure_logging(config.log_level)  # --log-level, in this worker process too
    if config.seed is not None and int(os.environ.get(WORKERS_ENV, "1")) > 1:
        # N processes replaying one seeded stream would mint the same job and asset ids:
        # give each worker its own stream (several workers are not reproducible anyway).
        config.seed = config.seed * 1_000_003 + os.getpid()
    return create_app(config)


def granian_app_from_env() -> Any:
    """granian's factory target (in its worker process): the app behind the RSGI front that reads bodies in the
    event loop (:mod:`rsgi`), writes through the FIFO gate; the worker dies with the master."""
    from mock_server.rsgi import BufferedWsgi

    # granian may fork from a thread that ends before the master; the master may die while this worker starts
    die_with_parent(pdeathsig=False, parent=int(os.environ.get(MASTER_ENV) or os.getppid()))
    tune_malloc()
    app = app_from_env()
    freeze_startup_heap()
    config: SimConfig = app.extensions["ltx_sim"].config
    running = int(os.environ.get(RUNNING_ENV, "0"))
    threads = int(os.environ.get(THREADS_ENV, "8")) + config.poll_waits
    return BufferedWsgi(app, threads, body_timeout_s=config.body_timeout_s, max_body=config.max_upload_bytes + 1,
                        on_stop=lambda: _stop_worker_process(app), writes=running, wait_s=ADMISSION_WAIT_S,
                        read_ahead=app.extensions["ltx_sim"].read_ahead,
                        ahead=os.environ.get(AHEAD_ENV, "1") != "0")


def _stop_worker_process(app: Any) -> None:
    """A granian worker told to stop: hand in-flight webhook deliveries back (as waitress does), write the
    journal entries it kept (``close_process``), then end at once (requests still running, long polls included,
    are abandoned, never waited for)."""
    worker = app.extensions.get("ltx_worker")
    if worker is not None:
        worker.stop(grace_s=SHUTDOWN_GRACE_S)
    close_process(app)  # the access log's queued lines, the journal's unwritten entries
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_waitress(app: Any, sock: socket.socket, config: SimConfig, threads: int) -> None:
    """Serve ``app`` on ``sock`` in this process until SIGTERM/SIGINT; then exit (never returns)."""
    import waitress

    _on_stop_signals(_raise_stop)
    options = waitress_options(threads, config.poll_waits)
    server = waitress.create_server(Admission(app, threads), sockets=[sock], **options)
    body_deadline(server, config.body_timeout_s)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" is what admission is for
    code = 0
    sockets = getattr(server, "map", None)
    try:
        # waitress' own run() would wait up to 5 s for request threads on SIGTERM (8 long polls: 5.03 s)
        server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout,
                             map=sockets if sockets is not None else server._map,
                             use_poll=server.adj.asyncore_use_poll)
    except (_Stop, KeyboardInterrupt):
        pass
    except Exception:
        log.exception("server loop failed")
        code = 1
    _on_stop_signals(signal.SIG_IGN)
    with contextlib.suppress(Exception):  # stop accepting: close the sockets, never wait for request threads
        if sockets is not None:  # waitress' close() would wait for them
            waitress.wasyncore.close_all(sockets)
        else:
            server.close()
    worker = app.extensions.get("ltx_worker")
    if worker is not None:
        worker.stop(grace_s=SHUTDOWN_GRACE_S)
    close_process(app)  # the access log's queued lines, the journal's unwritten entries
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # request and webhook threads are abandoned, never waited for


def _supervise(config: SimConfig, sock: socket.socket, workers: int, threads: int) -> None:
    """Run ``workers`` waitress processes on ``sock``; replace any that dies; stop all on SIGTERM/SIGINT."""
    stopping = threading.Event()
    _on_stop_signals(lambda signum, frame: stopping.set())
    watch_r, watch_w = os.pipe()  # the children watch watch_r: it reaches EOF when this process dies
    env = {**os.environ, CONFIG_ENV: json.dumps(dataclasses.asdict(config)), WORKERS_ENV: str(workers)}
    argv = [sys.executable, "-m", _MODULE, "--fd", str(sock.fileno()),
            "--watch-fd", str(watch_r), "--threads", str(threads)]

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, env=env, pass_fds=(sock.fileno(), watch_r), stdin=subprocess.DEVNULL)

    children = [spawn() for _ in range(workers)]
    try:
        while not stopping.is_set():
            for i, child in enumerate(children):
                if child.poll() is not None and not stopping.is_set():
                    log.warning("worker %d exited with %s; starting another", child.pid, child.returncode)
                    children[i] = spawn()
            stopping.wait(0.2)
    finally:
        _on_stop_signals(signal.SIG_IGN)
        sock.close()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        end = time.monotonic() + SHUTDOWN_GRACE_S + 1.5
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, end - time.monotonic()))
            if child.poll() is None:
                child.kill()
        os.close(watch_w)
    sys.stdout.flush()
    os._exit(0)


def _serve_granian(config: SimConfig, host: str, port: int, workers: int, threads: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
    os.environ[WORKERS_ENV] = str(workers)
    os.environ[RUNNING_ENV] = str(min(threads, GRANIAN_RUNNING))
    os.environ[THREADS_ENV] = str(threads)
    os.environ[MASTER_ENV] = str(os.getpid())
    # Workers die with the master (granian_app_from_env).
    Granian(f"{_MODULE}:granian_app_from_env", address=host, port=port,
            interface=Interfaces.RSGI, workers=workers, factory=True,
            log_level=LogLevels(config.log_level) if config.log_level in ("debug", "info") else LogLevels.error,
            respawn_failed_workers=True, **granian_options(threads, config.poll_waits)).serve()


def granian_options(threads: int, poll_waits: int = 32) -> dict[str, Any]:
    """How ``--server granian`` runs: ``backpressure`` caps *connections* in granian, not requests, so it is
    kept far above any plausible client count (at 8, eight idle keep-alive connections froze the server).
    The RSGI front (:mod:`rsgi`) runs the app in its own pool of request threads plus pollForResult waits;
    granian's one blocking thread is unused (docs/reliability.md)."""
    return {"blocking_threads": 1, "backpressure": 1024, "backlog": 2048,
            "workers_kill_timeout": GRANIAN_KILL_TIMEOUT_S}


def run(config: SimConfig, host: str, port: int, *, server: str = "granian", workers: int = 1,
        threads: int = 8, sock: socket.socket | None = None, on_bound: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT (:class:`BindError` if the port is taken).

    ``sock``: bound (not yet listening) by the caller. Listens once the app is built, then ``on_bound()``
    (the banner), then serves.
    """
    if sock is None:
        sock = bind(host, port, listen=False)
    tune_malloc()
    if server == "granian":
        sock.close()  # granian binds on its own (with SO_REUSEPORT): we only proved the port free
        if on_bound:
            on_bound()
        _serve_granian(config, host, port, workers, threads)
        return
    from mock_server.app import create_app

    if server == "werkzeug":
        app = create_app(config)
        freeze_startup_heap()
        start_listening(sock, host, port)
        handler = type("BodyTimeoutHandler", (WSGIRequestHandler,), {"timeout": config.body_timeout_s})
        srv = make_server(host, port, app, threaded=True, fd=sock.fileno(), request_handler=handler)
        if on_bound:
            on_bound()
        _on_stop_signals(_raise_stop)
        with contextlib.suppress(_Stop, KeyboardInterrupt):
            srv.serve_forever()
        close_process(app)  # the access log's queued lines, the journal's unwritten entries
        os._exit(0)
    if workers > 1:
        start_listening(sock, host, port)  # the workers build their apps behind it
        if on_bound:
            on_bound()
        _supervise(config, sock, workers, threads)
        return
    app = create_app(config)
    freeze_startup_heap()
    start_listening(sock, host, port)
    if on_bound:
        on_bound()
    _serve_waitress(app, sock, config, threads)


def _worker_main(argv: list[str]) -> None:
    """A ``--workers`` child: serve the inherited socket until told to stop or the parent dies."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--watch-fd", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    die_with_parent(args.watch_fd)
    tune_malloc()
    _on_stop_signals(_raise_stop)
    try:
        sock = socket.socket(fileno=args.fd)
        app = app_from_env()
        freeze_startup_heap()
    except _Stop:
        os._exit(0)
    config = app.extensions["ltx_sim"].config
    _serve_waitress(app, sock, config, args.threads)


class ServerThread:
    """A live simulator on a free loopback port inside this process (tests, the pytest plugin)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 handler: type[WSGIRequestHandler] | None = None) -> None:
        self.app = app
        self._server = ThreadedWSGIServer(host, port, app, handler=handler)  # make_server(threaded=True)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_port
        sim = getattr(app, "extensions", {}).get("ltx_sim")
        if sim is not None and not sim.base_url:
            sim.base_url = self.url  # webhooks' URLs: the bound address (the port is known only now)
        self._thread = threading.Thread(target=self._server.serve_forever, name="ltx-mock-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        worker = getattr(self.app, "extensions", {}).get("ltx_worker")
        if worker is not None:
            worker.stop()
        close_observer(self.app)  # the access log's queued lines, its writer thread

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
