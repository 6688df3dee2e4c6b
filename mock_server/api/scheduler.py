"""GET /scheduler, GET /scheduler/available, DELETE /scheduler/{jobId}."""

from __future__ import annotations

from typing import Any

from mock_server.api import route
from mock_server.views import NO_CONTENT, InFlight, Reply


@route("GET", "/scheduler", "listRunningJobs", strict_slashes=False)
def list_running_jobs(call: InFlight) -> Any:
    return call.sim.scheduler.running(call.tenant, call.now)


@route("GET", "/scheduler/available", "getSchedulerAvailable")
def scheduler_available(call: InFlight) -> Any:
    return call.sim.scheduler.available(call.tenant, call.now)


@route("DELETE", "/scheduler/<path:job_id>", "cancelJob")
def cancel_job(call: InFlight, job_id: str) -> Reply:
    call.sim.scheduler.cancel(call.tenant, job_id, call.now)
    return NO_CONTENT
