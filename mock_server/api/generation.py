"""What the five generation endpoints share: admit the job, honour pollForResult, answer."""

from __future__ import annotations

from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.api import base_url, json_response, now, sim, tenant


def start(operation: str, data: dict[str, Any]) -> Response:
    """200 ``{jobId, generationId}``, or with pollForResult the finished job model with ``code: 200``."""
    s = sim()
    job = s.jobs.create(tenant(), operation, data, now())
    polls = data.get("pollForResult")
    if polls:
        finished = s.poll_for_result(job, int(polls))
        if finished is not None:
            t = s.now()
            s.settle(t)
            return json_response({**s.jobs.view(finished, t, base_url()), "code": 200})
    return json_response({"jobId": job["jobId"], "generationId": job["generationId"]})
