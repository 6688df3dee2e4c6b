"""Once-only work survives the death of the process that claimed it (simulators sharing one Redis).

* A timeline task (a failed job's refund) being applied by a process that is SIGKILLed inside
  its atomic block was never committed: another process applies it, exactly once.
* A webhook delivery claimed by a process that never reports back is leased, not lost: once
  ``webhook_lease_s`` runs out another process takes it, delivers it once, and nobody again.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from helpers import Receiver

from mock_server.config import DEMO_EMAIL, SimConfig
from mock_server.sim import Simulator, tenant_id
from mock_server.store.redis import RedisStore
from mock_server.webhooks import deliver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "handover-token"

DIES_APPLYING = """
import sys, time
from mock_server.config import SimConfig
from mock_server.sim import Simulator
sim = Simulator(SimConfig(store_url=sys.argv[1], tokens=[sys.argv[2]], paused=True, background=False))
apply = sim.jobs.apply
def apply_then_hang(task, due, base_url):
    apply(task, due, base_url)  # the refund is made inside the block, not yet committed
    print("applied", task["type"], flush=True)
    time.sleep(60)
sim.jobs.apply = apply_then_hang
sim.settle(sim.now())
"""


def _url(redis_url: str) -> str:
    return f"{redis_url}?prefix=ltxhand-{uuid.uuid4().hex[:8]}:&lock_ttl_ms=500"


def test_scale_refund_claimed_by_a_killed_process_is_applied_once_by_another(redis_url: str) -> None:
    url = _url(redis_url)
    sim = Simulator(SimConfig(store_url=url, tokens=[TOKEN], paused=True, background=False))
    try:
        start = sim.ltx.get_user(DEMO_EMAIL).credits
        sim.jobs.queue_outcome({"outcome": "failed", "progress": 40})
        job = sim.jobs.create(tenant_id(TOKEN), "images/create", {"prompt": "a refund"}, sim.now())
        assert sim.ltx.get_user(DEMO_EMAIL).credits == start - job.credits
        sim.clock.set(advance_s=60)  # the job has failed: its refund is due
        proc = subprocess.Popen([sys.executable, "-c", DIES_APPLYING, url, TOKEN], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().startswith("applied finish")
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
        finally:
            proc.kill()
            proc.stdout.close()
        assert sim.ltx.get_user(DEMO_EMAIL).credits == start - job.credits  # the dead block wrote nothing
        assert sim.settle(sim.now()) == 1  # still due: this process applies it (after the lock's TTL)
        assert sim.settle(sim.now()) == 0
        assert sim.ltx.get_user(DEMO_EMAIL).credits == start  # refunded exactly once
        assert sim.jobs.status(sim.jobs.find(job.jobId), sim.now())["type"] == "failed"
    finally:
        sim.store.clear()
        sim.store.close()


def test_scale_webhook_claimed_by_a_vanished_process_is_delivered_once_after_the_lease(redis_url: str) -> None:
    url = _url(redis_url)
    config = SimConfig(store_url=url, tokens=[TOKEN], paused=True, background=False, webhook_lease_s=0.4)
    first = Simulator(config)
    second = Simulator(config, RedisStore(url))  # another handle: what another process sees
    receiver = Receiver()
    try:
        first.deliveries.enqueue("job-1", receiver.url, {"jobId": "job-1"})
        assert [d["id"] for d in first.deliveries.claim()] == ["job-1"]  # ... and `first` is never heard of again
        assert second.deliveries.claim() == []  # leased
        time.sleep(0.5)
        taken = second.deliveries.claim()
        assert [d["id"] for d in taken] == ["job-1"]
        record = deliver(second.deliveries, taken[0], timeout=5, attempts=3)
        assert record is not None and record["state"] == "delivered"
        time.sleep(0.5)
        assert first.deliveries.claim() == [] and second.deliveries.claim() == []  # done: nobody redelivers
        assert [call["body"]["jobId"] for call in receiver.calls] == ["job-1"]
    finally:
        receiver.stop()
        first.store.clear()
        first.store.close()
        second.store.close()
