"""The format of the ids the API hands out, checked in one place (GET /assets/{jobId}, DELETE /scheduler/{jobId})."""

from __future__ import annotations

import re

from mock_server.errors import bad_request

JOB_ID = re.compile(r"^email:(?P<email>\S+)-job:(?P<uuid>[0-9a-f-]{36})-type:(?P<type>image|video)$")


def require_job_id(job_id: str | None) -> str:
    """``job_id`` when it is well-formed, else a 400 that shows the expected shape."""
    if not JOB_ID.match(job_id or ""):
        raise bad_request(f"Invalid jobId {job_id!r}: expected email:<email>-job:<uuid>-type:<image|video>")
    return job_id or ""
