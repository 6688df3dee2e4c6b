"""Redis round trips per API request, counted on the wire, not by the store's own tally.

Issue 17: at most 2. Issue 28: a read (any GET, the journal included: its entries are buffered per process and
written off the request path) catches up in one round trip and takes no lock; a write takes the lock and
catches up in one, commits in another; a read that finds work due (a job that ended) takes the lock for it: 3.

Every command, script call or pipeline the store sends is one ``sendall`` on its socket (``wire.py`` packs each
whole; redis-py sends a command in one call too, or in more for a large one: counted more, never fewer); the
counter wraps ``socket.socket.sendall``, so a store that talked to Redis by any route, its own socket or
redis-py's, would be counted too. Flask's test client on a Redis-backed simulator:
in-process, milliseconds per request. The old store (before the mirror) made 13 per GET and 23 per
POST (docs/redis.md shows this test failing on it).
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mock_server import SimConfig, create_app

TOKEN = "rt-token"
API = "/v1/ltxstudio"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRITE = 2  # lock + catch up, commit
READ = 1  # catch up, no lock
SETTLING_READ = 3  # catch up; the job the POST before made has ended: lock + catch up, commit


class WireCounter:
    """Counts what the request's thread sends to Redis, by wrapping ``socket.socket.sendall`` (the store's own
    thread, which writes the journal off the request path, is not the request's; Flask's test client serves in
    the calling thread and opens no socket)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        original = socket.socket.sendall
        request_thread = threading.current_thread()

        def counted(sock: socket.socket, data: Any, *flags: int) -> None:
            if threading.current_thread() is request_thread:
                self.sent += 1
            original(sock, data, *flags)

        monkeypatch.setattr(socket.socket, "sendall", counted)


@pytest.fixture
def app_and_wire(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, WireCounter]]:
    url = f"{redis_url}?prefix=ltxrt-{uuid.uuid4().hex[:8]}:"
    app = create_app(SimConfig(store_url=url, tokens=[TOKEN], background=False, speed=100000))
    client = app.test_client()
    assert client.patch("/__admin/ltx-users/demo@example.com", json={"credits": 10**9}).status_code == 200
    yield app, WireCounter(monkeypatch)
    store = app.extensions["ltx_sim"].store
    store.clear()
    store.close()


def _trips(wire: WireCounter, call: Any) -> int:
    before = wire.sent
    resp = call()
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return wire.sent - before


def test_redis_round_trips_per_api_request(app_and_wire: tuple[Any, WireCounter]) -> None:
    app, wire = app_and_wire
    client = app.test_client()
    body = {"prompt": "A serene mountain landscape at sunset"}
    job_id = client.post(f"{API}/images/create", json=body, headers=AUTH).get_json()["jobId"]
    trips = {"POST /images/create": [], "GET /scheduler/available": [], "GET /assets/{jobId}": []}
    for _ in range(5):  # jobs end within a millisecond at this speed: the finish work is part of each request
        trips["POST /images/create"].append(_trips(wire, lambda: client.post(f"{API}/images/create", json=body,
                                                                           headers=AUTH)))
        trips["GET /scheduler/available"].append(_trips(wire, lambda: client.get(f"{API}/scheduler/available",
                                                                                headers=AUTH)))
        trips["GET /assets/{jobId}"].append(_trips(wire, lambda: client.get(f"{API}/assets/{job_id}",
                                                                           headers=AUTH)))
    assert trips["POST /images/create"] == [WRITE] * 5, trips
    # each POST's job ends (at this speed) before one of the two GETs after it, which settles it; the other reads
    pairs = zip(trips["GET /scheduler/available"], trips["GET /assets/{jobId}"], strict=True)
    assert all(sorted(pair) == [READ, SETTLING_READ] for pair in pairs), trips


@pytest.mark.parametrize("journal", [True, False])
def test_redis_round_trips_of_a_read_only_request_is_one(app_and_wire: tuple[Any, WireCounter], journal: bool) -> None:
    """A GET with nothing due writes nothing, journal on or off: it catches up without the lock, in one round trip
    (the old store took the lock for every request while the journal was on: 2)."""
    app, wire = app_and_wire
    app.extensions["ltx_sim"].config.journal = journal
    client = app.test_client()
    assert _trips(wire, lambda: client.get(f"{API}/scheduler/available", headers=AUTH)) == 1
