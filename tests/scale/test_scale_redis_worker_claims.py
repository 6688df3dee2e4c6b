"""A worker whose settling was refused still leases what it claims next, so no other process delivers it too.

The background worker settles due work in a request of its own (``begin_request``), then claims due webhook
deliveries (each a transaction of its own, leasing them). On Redis the settling can be refused before the request
ends: it reads a key another request of its process holds (``Conflict``, the transaction doomed). That request used
to stay open in the worker's thread; the claims after it (a request of the process had just settled, so the next tick
claims without settling) joined it, and it was never sent: each delivery was POSTed with no lease in Redis, and
another process took it and POSTed it again. The four-worker run at ``--speed 300`` delivered a webhook twice in 4
runs of 6 that way, with no process killed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mock_server import SimConfig, create_app
from mock_server.sim import Conflict, Simulator
from mock_server.worker import Worker

TOKEN = "claims-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/v1/ltxstudio"


@pytest.fixture()
def two(redis_url: str) -> Iterator[tuple[Simulator, Simulator, Any]]:
    """Two simulators on one Redis store (no background worker: the test ticks one by hand), and the first's app."""
    store_url = f"{redis_url}?prefix=ltxclaims-{uuid.uuid4().hex[:8]}:"
    apps = [create_app(SimConfig(store_url=store_url, tokens=[TOKEN], demo=False, background=False, journal=False))
            for _ in range(2)]
    sims: list[Simulator] = [app.extensions["ltx_sim"] for app in apps]
    yield sims[0], sims[1], apps[0]
    sims[0].store.clear()
    for sim in sims:
        sim.close()


def test_a_claim_after_a_refused_settle_is_leased_in_the_store(two: tuple[Simulator, Simulator, Any]) -> None:
    a, b, app = two
    client = app.test_client()
    user = client.post("/__admin/ltx-users", json={"email": "claims@example.com", "credits": 10_000}).get_json()
    assert client.post(f"{API}/accounts", json={"cookie": user["cookie"]}, headers=AUTH).status_code == 200
    job = client.post(f"{API}/images/create", json={"prompt": "a hook", "replyUrl": "http://127.0.0.1:9/hook"},
                      headers=AUTH)
    assert job.status_code == 200, job.get_data(as_text=True)
    assert client.post("/__admin/clock", json={"advance": 600}).status_code == 200
    assert client.get(f"{API}/scheduler/available", headers=AUTH).status_code == 200  # settles: the delivery is due

    submitted: list[dict[str, Any]] = []
    worker = Worker(a, a.config)
    worker._pool.submit = lambda fn, key, record: submitted.append(record)  # type: ignore[method-assign,assignment]
    claim_due = a.timeline.claim_due

    def refused(*args: Any, **kwargs: Any) -> Any:
        a.timeline.claim_due = claim_due  # type: ignore[method-assign]
        raise Conflict("another request of this process holds the contended key ('i', 'due')")

    a.timeline.claim_due = refused  # type: ignore[method-assign]
    a.timeline.next_due = lambda: 0  # type: ignore[method-assign]  # work is due: the settle opens its block
    a.settled_at = 0.0  # no request of this process settled lately: the tick settles first
    try:
        with pytest.raises(Conflict):
            worker.tick()  # the worker's loop swallows this Conflict
    finally:
        del a.timeline.next_due
    a.settled_at = time.monotonic()  # a request of this process settled a moment ago: the next tick only claims
    worker.tick()
    worker._pool.shutdown(wait=False)
    assert [r["jobId"] for r in submitted] == [job.get_json()["jobId"]]
    taken_again = b.deliveries.claim()
    assert taken_again == [], "the delivery a worker claimed (and is POSTing) was claimed by another process too"
