"""What the five generation endpoints share: admit the job, honour pollForResult, answer."""

from __future__ import annotations

from typing import Any

from mock_server.views import InFlight, Reply, slot_released

RETRY_AFTER_S = 3  # one pollForResult interval: by then a wait slot has usually freed


def saturated(call: InFlight) -> Reply:
    """503 with Retry-After: every wait slot is taken; nothing was created, so a retry is safe."""
    n = call.sim.config.poll_waits
    return Reply(503, {"error": f"Simulator saturated: {n} pollForResult waits are already in progress; "
                                f"retry after {RETRY_AFTER_S} s, or poll GET /assets/{{jobId}} instead", "code": 503},
                 (("Retry-After", str(RETRY_AFTER_S)),))


def start(call: InFlight, operation: str) -> Any:
    """200 ``{jobId, generationId}``, or with pollForResult the finished job model with ``code: 200``."""
    s, data = call.sim, call.data
    polls = data.get("pollForResult")
    slot = None
    if polls and s.clock.state().paused is False:
        # A wait holds this request's server thread for up to polls x 3 s: take a slot before creating
        # the job, so a refused request changes nothing. (Paused: the wait answers at once, no slot.)
        slot = call.waits
        if not slot.acquire(blocking=False):
            return saturated(call)
    try:
        job = s.jobs.create(call.tenant, operation, data, call.now)
        if polls:
            with slot_released(call.admission):
                finished = s.poll_for_result(job, int(polls))  # sleeps: others may run meanwhile
            if finished is not None:
                t = s.now()
                s.settle(t)
                return {**s.jobs.view(finished, t, call.base_url()), "code": 200}
        return {"jobId": job.jobId, "generationId": job.generationId}
    finally:
        if slot is not None:
            slot.release()
