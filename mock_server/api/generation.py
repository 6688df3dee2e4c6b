"""What the five generation endpoints share: admit the job, honour pollForResult, answer."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from flask import Response, current_app, request
from ltxstudio_mock.mock_server.api import base_url, json_response, now, sim, tenant

RETRY_AFTER_S = 3  # one pollForResult interval: by then a wait slot has usually freed


def wait_slots() -> threading.BoundedSemaphore:
    """The app's pollForResult wait slots (``SimConfig.poll_waits``): each held wait holds a server thread."""
    slots = current_app.extensions.get("ltx_waits")
    if slots is None:
        slots = current_app.extensions.setdefault(
            "ltx_waits", threading.BoundedSemaphore(max(0, sim().config.poll_waits)))
    return slots


def saturated() -> Response:
    """503 with Retry-After: every wait slot is taken; nothing was created, so a retry is safe."""
    n = sim().config.poll_waits
    resp = json_response({"error": f"Simulator saturated: {n} pollForResult waits are already in progress; "
                                   f"retry after {RETRY_AFTER_S} s, or poll GET /assets/{{jobId}} instead",
                          "code": 503}, 503)
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


def start(operation: str, data: dict[str, Any]) -> Response:
    """200 ``{jobId, generationId}``, or with pollForResult the finished job model with ``code: 200``."""
    s = sim()
    polls = data.get("pollForResult")
    slot = None
    if polls and s.clock.state().paused is False:
        # A wait holds this request's server thread for up to polls x 3 s: take a slot before creating
        # the job, so a refused request changes nothing. (Paused: the wait answers at once, no slot.)
        slot = wait_slots()
        if not slot.acquire(blocking=False):
            return saturated()
    try:
        job = s.jobs.create(tenant(), operation, data, now())
        if polls:
            admission = request.environ.get("ltx.admission")  # the production server's request slot
            with admission.released() if admission is not None else contextlib.nullcontext():
                finished = s.poll_for_result(job, int(polls))  # sleeps: others may run meanwhile
            if finished is not None:
                t = s.now()
                s.settle(t)
                return json_response({**s.jobs.view(finished, t, base_url()), "code": 200})
        return json_response({"jobId": job["jobId"], "generationId": job["generationId"]})
    finally:
        if slot is not None:
            slot.release()
