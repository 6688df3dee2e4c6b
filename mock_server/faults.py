"""HTTP fault injection, the HTTP half: a matched fault rule turned into latency, an error or a dropped connection.

The rules and their state (which requests, how many left, hits) belong to the simulator: ``sim/faults.py``,
one ``Faults`` per Simulator (``sim.faults``), shared by the app, the control API and scenarios. This module
only shapes the answer, in ``before_request`` (``app.py``).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.errors import ApiError
from ltxstudio_mock.mock_server.sim.faults import Faults


def apply_before(faults: Faults, rule: dict[str, Any]) -> Response | None:
    """Sleep for latency faults; answer now for status and drop faults (None: carry on)."""
    delay = faults.delay_ms(rule)
    if delay:
        time.sleep(delay / 1000)
    if rule.get("drop"):
        # Promise a body that never comes and close: the client sees the connection drop mid-response.
        resp = Response(b"", status=200, mimetype="application/json")
        resp.headers["Content-Length"] = "1024"
        resp.headers["Connection"] = "close"
        return resp
    if rule.get("status"):
        raise ApiError(int(rule["status"]), faults.message(rule))
    return None
