"""A live dashboard served by the simulator itself at ``/__admin/dashboard``.

Plain HTML, CSS and one script (``static/``): nothing to build, no node toolchain.
The page polls one JSON document, ``GET /__admin/dashboard/data``, which tests
read too, and drives the simulator through the existing control API
(``/__admin/clock``, ``/__admin/next-outcome``, ...), so the dashboard adds no
second way to change state. Polling rather than server-sent events keeps every
request short: an open tab never pins one of the production server's threads.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from mock_server.bounds import MAX_OFFSET
from mock_server.dashboard.data import POLL_MS, DashboardData, scrub
from mock_server.errors import ApiError, not_found
from mock_server.sim import Simulator
from mock_server.sim.assets import BUCKET

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

INT_PARAMS = ("jobs_offset", "jobs_limit", "running_limit", "requests_offset", "requests_limit",
              "webhooks_offset", "webhooks_limit", "users_offset", "users_limit", "timeline_limit")
TEXT_PARAMS = ("requests_method", "requests_status", "requests_path")
TENANT_SCAN = 1000  # tenants whose tokens the scrubber recognises (hash lookups, no secrets kept)
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _sim() -> Simulator:
    return current_app.extensions["ltx_sim"]


def _data() -> DashboardData:
    return DashboardData(_sim(), request.host_url.rstrip("/"))


def _send(body: Any, status: int = 200) -> Response:
    """JSON, scrubbed of secrets, never cached (the page polls it)."""
    s = _sim()
    tenants = frozenset(s.tenant_ids(TENANT_SCAN))
    clean = scrub(body, tuple(s.config.tokens), tenants)
    resp = Response(json.dumps(clean, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _query() -> dict[str, Any]:
    q: dict[str, Any] = {}
    for name in INT_PARAMS:
        raw = request.args.get(name)
        if raw in (None, ""):
            continue
        try:
            q[name] = int(raw)
        except ValueError:
            raise ApiError(400, f"Query parameter {name} must be an integer, got {raw!r}") from None
        if name.endswith("_offset") and not 0 <= q[name] <= MAX_OFFSET:  # refused, never an int64 overflow
            raise ApiError(400, f"Query parameter {name} must be between 0 and {MAX_OFFSET}, got {raw!r}")
        if name.endswith("_limit"):
            q[name] = max(1, min(q[name], MAX_OFFSET))  # DashboardData clamps it to its own page size
    for name in TEXT_PARAMS:
        raw = request.args.get(name)
        if raw:
            q[name] = raw[:500]
    return q


@bp.get("", strict_slashes=False)
def page() -> Response:
    """The HTML page; everything live comes from :func:`data`."""
    html = render_template("ltx_dashboard.html", poll_ms=POLL_MS)
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/data")
def data() -> Response:
    """The whole dashboard as one JSON document (paginated sections; the page and the tests share it)."""
    return _send(_data().document(_query()))


@bp.get("/jobs/<path:job_id>")
def job(job_id: str) -> Response:
    """One job: its documented model (as GET /assets/{jobId} answers) and the simulator's plan for it."""
    detail = _data().job_detail(job_id)
    if detail is None:
        raise not_found(f"Job {job_id} not found")
    return _send(detail)


@bp.get(f"/storage/{BUCKET}/<path:path>")
def storage(path: str) -> Response:
    """An artifact or thumbnail for the page, checked against the same signature as ``/storage/...``.

    Previews load through here so that looking at the dashboard never adds entries to the
    request journal that a running test suite may be counting.
    """
    from mock_server.api.storage import fetch

    resp = fetch(path)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


@bp.get("/requests/<int:entry_id>")
def request_entry(entry_id: int) -> Response:
    """One journal entry with its (masked) headers and bodies."""
    entry = _data().request_detail(str(entry_id))
    if entry is None:
        raise not_found(f"No request {entry_id} in the journal")
    return _send(entry)
