"""GET /scheduler, GET /scheduler/available, DELETE /scheduler/{jobId}."""

from __future__ import annotations

from typing import Any

from mock_server.api import NO_CONTENT, Call, Reply, route


@route("GET", "/scheduler", "listRunningJobs", strict_slashes=False)
def list_running_jobs(call: Call) -> Any:
    return call.sim.scheduler.running(call.tenant, call.now)


@route("GET", "/scheduler/available", "getSchedulerAvailable")
def scheduler_available(call: Call) -> Any:
    return call.sim.scheduler.available(call.tenant, call.now)


@route("DELETE", "/scheduler/<path:job_id>", "cancelJob")
def cancel_job(call: Call, job_id: str) -> Reply:
    call.sim.scheduler.cancel(call.tenant, job_id, call.now)
    return NO_CONTENT
