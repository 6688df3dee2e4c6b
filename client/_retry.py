"""When to retry a request, and how long to wait before the next try.

Kept apart from the client so the policy can be read (and tested) on its own.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

# Failures without a usable HTTP answer; a connection dropped mid-response is a ChunkedEncodingError.
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

# Gateway-type failures that say nothing about whether the upstream did the work.
TRANSIENT_STATUSES = frozenset({502, 503, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def request_was_not_sent(exc: BaseException) -> bool:
    """True when a connection error certainly happened before any byte of the request left us.

    requests wraps urllib3's errors (often inside a MaxRetryError), so walk the causes; connect-phase
    failures (refused, DNS, connect timeout) are the only ones known to be safe for a POST. httpx's
    connect-phase errors (the async client's) say so by their class.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if type(exc).__module__.startswith("httpx"):
        return type(exc).__name__ in ("ConnectError", "ConnectTimeout", "PoolTimeout")
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (NewConnectionError, ConnectTimeoutError)):
            return True
        if isinstance(item, BaseException):
            stack.extend(item.args)
            stack.append(getattr(item, "reason", None))
            stack.append(item.__cause__)
            stack.append(item.__context__)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap; `retries` is the number of extra attempts after the first.

    Why POSTs are treated differently: a POST to a generation endpoint creates a job and spends credits.
    If it fails with a 5xx or the connection drops after the request went out, the job may well exist
    already, and sending the POST again could create (and bill) a duplicate. So a POST is retried only
    when the server certainly did not act on it: a 429 (the scheduler refused it for lack of capacity)
    or a connection error raised before the request was sent. GET and DELETE are idempotent and are
    also retried on 502/503/504 and on any connection error. Other 4xx answers are final: sending the
    same request again cannot change them.
    """

    retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number `attempt` (0-based); honours Retry-After up to a cap."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return min(self.backoff * 2.0**attempt, self.backoff_max)

    @staticmethod
    def should_retry_status(method: str, status: int, *, idempotent: bool) -> bool:
        """Whether an HTTP answer with this status is worth another try."""
        if status == 429:
            return True
        return status in TRANSIENT_STATUSES and (idempotent or method.upper() in {"GET", "HEAD", "DELETE"})

    @staticmethod
    def should_retry_failure(method: str, *, not_sent: bool, idempotent: bool) -> bool:
        """Whether a transport failure (of any HTTP library) is worth another try: always for idempotent
        requests, for a POST only when it certainly was not sent (``not_sent``)."""
        return idempotent or method.upper() in {"GET", "HEAD", "DELETE"} or not_sent


# -- where the client's waiting goes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeSource:
    """How a client lets time pass (``sleep``; ``asleep`` for the async client) and reads it (``clock``, s)."""

    sleep: Callable[[float], Any]
    clock: Callable[[], float]
    asleep: Callable[[float], Awaitable[Any]] | None = None

    async def async_sleep(self, seconds: float) -> None:
        """What the async client awaits: ``asleep``, or ``sleep`` when it is only a clock's (quick) advance."""
        if self.asleep is not None:
            await self.asleep(seconds)
        else:
            self.sleep(seconds)


#: Real time, bound now: a later patch of ``time.sleep`` or ``asyncio.sleep`` (``simulate_sleep``) does not reach it.
REAL_TIME = TimeSource(time.sleep, time.monotonic, asyncio.sleep)

_sources: list[tuple[str, TimeSource]] = []
_sources_lock = threading.Lock()


def use_time_source(prefix: str, source: TimeSource) -> Callable[[], None]:
    """Clients whose ``base_url`` starts with ``prefix`` wait on ``source`` until the returned undo is called.

    Why: a simulator with a paused clock (the ``ltx_mock`` fixture, ``mock_ltxstudio``) finishes a job only
    when its simulated time moves, so a client polling it must move that time where it would sleep; sleeping
    for real would only wait out its timeout. The newest registration for a prefix wins. A client built with
    an explicit ``sleep=``/``clock=`` keeps its own.
    """
    entry = (prefix.rstrip("/"), source)
    with _sources_lock:
        _sources.insert(0, entry)

    def undo() -> None:
        with _sources_lock:
            if entry in _sources:
                _sources.remove(entry)

    return undo


def time_source_for(url: str) -> TimeSource:
    """The time source for a client aimed at ``url``: a registered simulator's, else real time."""
    with _sources_lock:
        sources = list(_sources)
    for prefix, source in sources:
        if url == prefix or url.startswith(prefix + "/"):
            return source
    return REAL_TIME
