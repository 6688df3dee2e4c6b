"""A round trip keeps the GIL while a same-host Redis answers, and gives it back when the answer is slow
(``wire.py``: ``HiredisLink.read_held``, ``HOLD_NS``), against a real redis-server.

Why it matters: a blocking ``recv`` lets go of the GIL; under ``ltx-mock serve``'s load another thread takes it
and the thread whose reply came sleeps until it comes back (docs/redis.md). Held, a fast reply costs this thread
no context switch; a slow one (a remote or frozen Redis) must not hold every other thread of the process.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from mock_server.store.redis import wire as wire_module
from mock_server.store.redis.wire import HiredisLink, Wire

pytestmark = [
    pytest.mark.skipif(not wire_module.HAVE_HIREDIS, reason="the hold is the hiredis link's"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="context switches are read from /proc"),
]


@pytest.fixture
def wire(redis_url: str) -> Iterator[Wire]:
    w = Wire(redis.Redis.from_url(redis_url, socket_timeout=30, protocol=2), reader="c")
    yield w
    w.close()


def _link(wire: Wire) -> HiredisLink:
    wire.call("PING")
    link = wire._tl.link
    assert isinstance(link, HiredisLink)
    return link


def _voluntary_switches() -> int:
    """This thread's voluntary context switches so far (each a sleep: a blocking read that waited, a lock...)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


def test_a_same_host_reply_costs_the_thread_no_sleep(wire: Wire) -> None:
    """200 PINGs: a thread that blocked in ``recv`` would sleep once per reply (~200 switches); held, it polls
    and keeps running. Bound at half, for a loaded machine where Redis is not always scheduled in time."""
    link = _link(wire)
    assert link.hold_ns == wire_module.HOLD_NS
    before = _voluntary_switches()
    for _ in range(200):
        assert wire.call("PING") in (b"PONG", "PONG")
    assert _voluntary_switches() - before < 100


# A script that answers after ARGV[1] microseconds of Redis's own clock (a slow reply to a command that does not wait).
SLOW = """local t0 = redis.call('TIME'); local start = t0[1] * 1000000 + t0[2]
repeat local t = redis.call('TIME') until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 1"""


def test_a_slow_reply_gives_the_gil_back_and_backs_off(wire: Wire) -> None:
    """A reply 50 ms away: this thread spends the hold polling, then blocks; it must not burn the 50 ms holding the
    GIL. The next round trip blocks at once, then one is held again."""
    link = _link(wire)
    link.skip, link.backoff = 0, 1  # as after a reply in time (a loaded machine may have made _link's PING slow)
    cpu = time.thread_time()
    assert wire.call("EVAL", SLOW, 0, 50_000) == 1
    assert time.thread_time() - cpu < 0.02  # the hold is 0.3 ms; spinning for the reply would be ~50 ms
    assert (link.skip, link.backoff) == (1, 2)
    assert wire.call("EVAL", SLOW, 0, 10_000) == 1  # skipped: blocks at once, so no new back-off
    assert (link.skip, link.backoff) == (0, 2)
    for _ in range(2000):  # held again; the first reply in time resets the back-off (slow ones back off further)
        wire.call("PING")
        if link.backoff == 1:
            break
    assert link.backoff == 1


def test_a_command_that_waits_in_redis_is_never_held(wire: Wire) -> None:
    """``BLPOP`` waits in Redis by design: its reply is not polled for. Polled, a 50 ms wait would have outlasted
    the hold and backed the connection off (skip 1, back-off 2)."""
    link = _link(wire)
    link.skip, link.backoff = 0, 1
    assert wire.call("BLPOP", f"ltxhold:{uuid.uuid4().hex}", "0.05") is None
    assert (link.skip, link.backoff) == (0, 1)
