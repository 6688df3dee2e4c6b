"""GET /scheduler, GET /scheduler/available, DELETE /scheduler/{jobId}."""

from __future__ import annotations

from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.api import api_blueprint, json_response, no_content, now, sim, tenant
from ltxstudio_mock.mock_server.api.inputs import operation

bp = api_blueprint("scheduler")


@bp.get("/scheduler", strict_slashes=False)
@operation("listRunningJobs")
def list_running_jobs(query: dict[str, Any]) -> Response:
    return json_response(sim().scheduler.running(tenant(), now()))


@bp.get("/scheduler/available")
@operation("getSchedulerAvailable")
def scheduler_available(query: dict[str, Any]) -> Response:
    return json_response(sim().scheduler.available(tenant(), now()))


@bp.delete("/scheduler/<path:job_id>")
@operation("cancelJob")
def cancel_job(query: dict[str, Any], job_id: str) -> Response:
    sim().scheduler.cancel(tenant(), job_id, now())
    return no_content()
