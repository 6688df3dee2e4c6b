"""A job admitted on Redis is dated no earlier than what its admission read.

On Redis nothing holds a lock while a request runs: ``Jobs.create`` reads the clock, then reads its account's running
jobs. Between the two, another process may end a job (its finish task, due at its end, takes it out of the running
index). An admission dated at the first reading but counting after that end sees the slot free while, at its own
date, the ended job was still running: ``maxJobs + 1`` jobs overlap in their own start/end times. Its transaction
commits, since it read nothing that changed after it read it. This is how the four-worker run
(``test_scale_redis_workers.py``) once found three jobs of a ``maxJobs: 2`` account overlapping, on a CPU-starved
CI machine where a thread can stop for tens of milliseconds (at ``--speed 30``, about a second simulated).

Here that window is opened on purpose, deterministically: two simulators on one Redis share a fake wall clock; the
first one's admission, between its clock reading and its count, waits while the second ends the running job.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mock_server import SimConfig, create_app
from mock_server.sim import Simulator

TOKEN = "instant-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/v1/ltxstudio"


@pytest.fixture()
def two(redis_url: str) -> Iterator[tuple[Any, Any, list[float]]]:
    """Two apps on one Redis store, each a simulator of its own (its own cache), and the wall time they both read."""
    store_url = f"{redis_url}?prefix=ltxinstant-{uuid.uuid4().hex[:8]}:"
    real = [1_000_000.0]
    apps = [create_app(SimConfig(store_url=store_url, tokens=[TOKEN], demo=False, background=False, journal=False))
            for _ in range(2)]
    for app in apps:
        app.extensions["ltx_sim"].clock._real = lambda: real[0]
    yield apps[0], apps[1], real
    apps[0].extensions["ltx_sim"].store.clear()
    for app in apps:
        app.extensions["ltx_sim"].close()


def test_redis_admission_is_dated_after_a_job_another_process_ended_while_it_counted(
        two: tuple[Any, Any, list[float]]) -> None:
    a, b, real = two
    sim_a: Simulator = a.extensions["ltx_sim"]
    ca, cb = a.test_client(), b.test_client()
    user = ca.post("/__admin/ltx-users", json={"email": "instant@example.com", "credits": 10_000}).get_json()
    assert ca.post(f"{API}/accounts", json={"cookie": user["cookie"], "maxJobs": 1}, headers=AUTH).status_code == 200
    first = ca.post(f"{API}/images/create", json={"prompt": "the running one"}, headers=AUTH)
    assert first.status_code == 200, first.get_data(as_text=True)
    running = sim_a.jobs.find(first.get_json()["jobId"])
    assert running is not None and running.end_ms is not None

    choose = sim_a.scheduler.choose
    ended: list[int] = []

    def choose_after_another_process_ended_the_job(tenant: str, email: str | None, override: int | None,
                                                   now: int) -> Any:
        """Between this admission's clock reading (``now``) and its count: the running job's end comes, on B."""
        if not ended:
            real[0] += (running.end_ms - now) / 1000 + 0.001  # the clock, 1 ms past the job's end
            assert cb.get(f"{API}/scheduler/available", headers=AUTH).status_code == 200  # B settles: the finish
            ended.append(sim_a.clock.now_ms())
            sim_a.store._catch_up()  # what another thread's read does meanwhile: A's cache learns of the finish
        return choose(tenant, email, override, now)

    sim_a.scheduler.choose = choose_after_another_process_ended_the_job  # type: ignore[method-assign]
    second = ca.post(f"{API}/images/create", json={"prompt": "the next one"}, headers=AUTH)
    assert ended, "the window was not opened"
    assert second.status_code == 200, second.get_data(as_text=True)
    job = sim_a.jobs.find(second.get_json()["jobId"])
    assert job is not None
    assert job.start_ms >= running.end_ms, (
        f"admitted at {job.start_ms}, {running.end_ms - job.start_ms} ms before the job whose slot it took ended "
        f"({running.end_ms}): two jobs of a maxJobs 1 account overlapped")
