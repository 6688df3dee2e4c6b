"""Webhook delivery over the network: POST the job model to ``replyUrl``.

A receiver is somebody else's code and may be hostile or broken, so one attempt is
bounded in every dimension (measured in ``docs/reliability.md``):

* **time**: a total deadline per attempt (``webhook_timeout_s``), not a per-read
  timeout: a receiver that drips one byte every few seconds is cut off at the
  deadline by closing its socket from a watchdog thread;
* **memory**: at most ``BODY_CAP`` bytes of the answer are read, then discarded:
  a receiver answering 1 GiB costs 64 KiB;
* **where**: redirects are never followed (a 3xx is a failed attempt: a 307 would
  re-send the job, tokens in its URLs included, to another host), proxies from the
  environment are never used, and an optional allow-list (``ltx-mock serve
  --webhook-allow HOST``) refuses every other host without a connection.

The stdlib's ``http.client`` is used rather than ``requests``: it follows no
redirects and reads no proxy settings by construction, exposes the socket the
watchdog must close, and is not intercepted by ``responses`` (the in-process mode
still delivers webhooks for real).
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import json
import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from mock_server.sim.deliveries import Deliveries

log = logging.getLogger("ltx_mock.webhooks")
USER_AGENT = "ltxstudio-mock webhook"
BODY_CAP = 64 * 1024  # bytes of a receiver's answer read (and discarded) at most


class Refused(Exception):
    """A delivery that must not be attempted (host not allowed, URL unusable): final, no retries."""


def netloc_key(url: str) -> str:
    """What deliveries are queued by: host and port, so one slow receiver only ever waits on itself."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def host_allowed(url: str, allow: list[str] | None) -> bool:
    """True when ``allow`` is empty/None (allow all) or names the URL's host, or its ``host:port``."""
    if not allow:
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    wanted = {a.strip().lower().strip("[]") for a in allow}
    return host in wanted or f"{host}:{port}" in wanted


class Watchdog:
    """One thread that closes the sockets of attempts past their deadline (a blocked ``recv`` then returns)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._count), sock))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ltx-webhook-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, sock = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if sock.fileno() != -1:  # still open: the attempt overran its deadline
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()


def post(url: str, body: bytes, *, timeout: float, allow: list[str] | None = None) -> int:
    """POST ``body`` to ``url`` within ``timeout`` seconds in all; return the status. Raises on any failure."""
    if not host_allowed(url, allow):
        raise Refused(f"host of {url[:200]} is not in the webhook allow-list (--webhook-allow)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url[:200]}")
    deadline = time.monotonic() + timeout
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.connect()
        assert conn.sock is not None
        WATCHDOG.watch(conn.sock, deadline)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers={"User-Agent": USER_AGENT, "Content-Type": "application/json",
                                                       "Connection": "close"})
        resp = conn.getresponse()
        # the status is the outcome; read a little of the body (a receiver may wait for that), keep none of it
        with contextlib.suppress(OSError, http.client.HTTPException):
            resp.read(BODY_CAP)
        return resp.status
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no complete answer within {timeout:g} s") from exc
        raise
    finally:
        conn.close()


def deliver(deliveries: Deliveries, record: dict[str, Any], *, timeout: float, attempts: int,
            allow: list[str] | None = None) -> dict[str, Any] | None:
    """Make one attempt at one delivery and record its outcome."""
    t0 = time.perf_counter()
    status = None
    error = None
    final = False
    if len(record["attempts"]) < int(record.get("fail_first") or 0):
        error = "injected failure (fail_first)"
    else:
        try:
            payload = json.dumps(record["body"], separators=(",", ":")).encode()
            status = post(record["url"], payload, timeout=timeout, allow=allow)
            if 300 <= status < 400:
                error = f"HTTP {status}: redirects are not followed"
            elif not 200 <= status < 300:
                error = f"HTTP {status}"
        except Refused as exc:
            error, final = f"refused: {exc}", True
        except Exception as exc:  # any failure (even a malformed URL) is an attempt's outcome, never a crash
            error = f"{type(exc).__name__}: {exc}"[:300]
    ms = int((time.perf_counter() - t0) * 1000)
    if error:
        log.info("webhook %s to %s failed: %s", record["id"], record["url"][:200], error)
    return deliveries.record(record["id"], ok=error is None, status=status, error=error, duration_ms=ms,
                             max_attempts=len(record["attempts"]) + 1 if final else attempts)
