"""The control API under ``/__admin`` (its contract: ``admin-openapi.yaml`` beside this file).

Tests and people drive the simulator through it: reset, fake LTX users, the
clock, queued job outcomes, HTTP faults, per-test answers (stubs), the request journal, webhooks.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app

from contracts.spec import Contract, get_contract
from mock_server.api import base_url, json_response, no_content
from mock_server.api.inputs import operation as _operation
from mock_server.errors import ApiError, not_found
from mock_server.masking import mask_text
from mock_server.sim import Simulator, tenant_id
from mock_server.sim.context import iso
from mock_server.sim.ltx import LtxUser

bp = Blueprint("admin", __name__)
SPEC = Path(__file__).with_name("admin-openapi.yaml")


def admin_contract() -> Contract:
    """The admin API's document, read and compiled by the same engine as ``openapi.yaml`` (once per process)."""
    return get_contract(str(SPEC))


def operation(operation_id: str) -> Any:
    return _operation(operation_id, contract=admin_contract())


def sim() -> Simulator:
    return current_app.extensions["ltx_sim"]


def clock_view(s: Simulator) -> dict[str, Any]:
    st = s.clock.state()
    now = s.now()
    return {"now": now, "nowUTC": iso(now), "paused": st.paused, "speed": st.speed}


def user_view(s: Simulator, user: LtxUser, *, cookie: bool = False, issued: bool = False) -> dict[str, Any]:
    """A fake LTX user as the control API shows it.

    ``cookie``: with the session cookie, its lt_token and lt_refresh_token masked as the API masks them;
    ``issued``: in clear, only in the answer that issues the session (create, ``newSession``), like an API
    key shown once. Secrets then never come back from a read (``GET``, lists, snapshots).
    """
    out = {"email": user.email, "name": user.name, "lt_id": user.lt_id, "credits": user.credits,
           "subscription": user.subscription, "tokenExpire": user.token_expire,
           "refreshTokenExpire": user.refresh_expire, "revoked": bool(user.revoked),
           "latestCreatedAtMs": user.latest_created_ms}
    if cookie or issued:
        out["cookie"] = s.ltx.cookie_of(user) if issued else mask_text(s.ltx.cookie_of(user))
    return out


def state_view(s: Simulator) -> dict[str, Any]:
    out = {"clock": clock_view(s), "counts": s.counts(), "faults": s.faults.list(),
           "outcomes": s.jobs.queued_outcomes(), "stubs": s.stubs.list()}
    recorded = s.jobs.timing()
    if recorded:  # a scenario's recorded run times, and which one each job key used
        out["timing"] = {"recorded": recorded, "applied": s.jobs.timing_applied()}
    return out


@bp.post("/reset")
@operation("adminReset")
def reset(query: dict[str, Any]) -> Response:
    sim().reset()
    current_app.extensions["ltx_journal"].clear()
    return json_response(state_view(sim()))


@bp.get("/state")
@operation("adminState")
def state(query: dict[str, Any]) -> Response:
    return json_response(state_view(sim()))


@bp.post("/tokens")
@operation("adminAddToken")
def add_token(query: dict[str, Any], data: dict[str, Any]) -> Response:
    s = sim()
    tid = s.add_token(data["token"])
    if data.get("demoAccount"):
        from mock_server.config import DEMO_EMAIL

        user = s.ltx.get_user(DEMO_EMAIL) or s.ltx.create_user(s.now(), email=DEMO_EMAIL)
        s.accounts.upsert(tid, s.ltx.cookie_of(user), None, s.now())
    return json_response({"tenant": tid})


@bp.get("/ltx-users")
@operation("adminListLtxUsers")
def list_users(query: dict[str, Any]) -> Response:
    """Every user, or one page of them with ``limit``; X-Total-Count says how many there are (no silent cut)."""
    s = sim()
    users = s.ltx.list_users(query.get("offset", 0), query.get("limit"))
    response = json_response([user_view(s, u) for u in users])
    response.headers["X-Total-Count"] = str(s.ltx.user_count())
    return response


@bp.post("/ltx-users")
@operation("adminCreateLtxUser")
def create_user(query: dict[str, Any], data: dict[str, Any]) -> Response:
    s = sim()
    user = s.ltx.create_user(s.now(), email=data.get("email"), credits=data.get("credits"),
                             subscription=data.get("subscription", True))
    return json_response(user_view(s, user, issued=True))


@bp.get("/ltx-users/<email>")
@operation("adminGetLtxUser")
def get_user(query: dict[str, Any], email: str) -> Response:
    return json_response(user_view(sim(), sim().ltx.require_user(email), cookie=True))


@bp.patch("/ltx-users/<email>")
@operation("adminPatchLtxUser")
def patch_user(query: dict[str, Any], data: dict[str, Any], email: str) -> Response:
    s = sim()
    now = s.now()
    user = s.ltx.patch_user(now, email, credits=data.get("credits"), subscription=data.get("subscription"),
                            token_expired=data.get("tokenExpired"), new_session=bool(data.get("newSession")))
    if data.get("tokenExpired"):
        s.jobs.fail_running(None, email, "LTX Studio session expired: the job could not be completed", now)
    issued = bool(data.get("newSession")) or data.get("tokenExpired") is False  # a fresh session was issued
    return json_response(user_view(s, user, cookie=True, issued=issued))


@bp.patch("/accounts/<email>")
@operation("adminPatchAccount")
def patch_account(query: dict[str, Any], data: dict[str, Any], email: str) -> Response:
    s = sim()
    account = s.accounts.set_max_jobs(tenant_id(data["token"]), email, data["maxJobs"])
    return json_response(s.accounts.view(account, s.now()))


@bp.get("/clock")
@operation("adminGetClock")
def get_clock(query: dict[str, Any]) -> Response:
    return json_response(clock_view(sim()))


@bp.post("/clock")
@operation("adminSetClock")
def set_clock(query: dict[str, Any], data: dict[str, Any]) -> Response:
    s = sim()
    s.clock.set(paused=data.get("paused"), speed=data.get("speed"), advance_s=float(data.get("advance") or 0))
    s.settle(s.now())
    return json_response(clock_view(s))


@bp.get("/next-outcome")
@operation("adminListOutcomes")
def list_outcomes(query: dict[str, Any]) -> Response:
    return json_response(sim().jobs.queued_outcomes())


@bp.post("/next-outcome")
@operation("adminQueueOutcome")
def queue_outcome(query: dict[str, Any], data: dict[str, Any]) -> Response:
    spec = {k: v for k, v in data.items() if k != "webhook"}
    spec.update(data.get("webhook") or {})
    return json_response(sim().jobs.queue_outcome(spec))


@bp.delete("/next-outcome")
@operation("adminClearOutcomes")
def clear_outcomes(query: dict[str, Any]) -> Response:
    sim().jobs.clear_outcomes()
    return no_content()


@bp.get("/jobs")
@operation("adminListJobs")
def list_jobs(query: dict[str, Any]) -> Response:
    s = sim()
    now = s.now()
    offset, limit = query.get("offset", 0), query.get("limit", 50)
    total, jobs = s.jobs.page(offset, limit)
    items = [{**s.jobs.view(job, now, base_url()), "email": job.email, "tenant": job.tenant,
              "model": job.model, "operation": job.operation, "credits": job.credits,
              "created": job.created_ms, "doneBy": job.done_by(), "cancelled": bool(job.cancelled_ms)}
             for job in jobs]
    return json_response({"total": total, "items": items})


@bp.post("/jobs/<path:job_id>/release")
@operation("adminReleaseJob")
def release_job(query: dict[str, Any], job_id: str) -> Response:
    s = sim()
    job = s.jobs.release(job_id, s.now())
    return json_response(s.jobs.view(job, s.now(), base_url()))


@bp.get("/faults")
@operation("adminListFaults")
def list_faults(query: dict[str, Any]) -> Response:
    return json_response(sim().faults.list())


@bp.post("/faults")
@operation("adminAddFault")
def add_fault(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return json_response(sim().faults.add(data))


@bp.delete("/faults")
@operation("adminClearFaults")
def clear_faults(query: dict[str, Any]) -> Response:
    sim().faults.clear()
    return no_content()


@bp.delete("/faults/<fault_id>")
@operation("adminDeleteFault")
def delete_fault(query: dict[str, Any], fault_id: str) -> Response:
    if not sim().faults.clear(fault_id):
        raise not_found(f"No fault {fault_id}")
    return no_content()


@bp.get("/stubs")
@operation("adminListStubs")
def list_stubs(query: dict[str, Any]) -> Response:
    return json_response(sim().stubs.list())


@bp.post("/stubs")
@operation("adminAddStub")
def add_stub(query: dict[str, Any], data: dict[str, Any]) -> Response:
    token = (data.get("match") or {}).get("token")
    operation_id = (data.get("match") or {}).get("operationId")
    if operation_id and operation_id not in get_contract().operations:
        raise ApiError(400, f"match.operationId: {operation_id!r} is not an operation of openapi.yaml")
    return json_response(sim().stubs.add(data, tenant_id(token) if token else None))


@bp.delete("/stubs")
@operation("adminClearStubs")
def clear_stubs(query: dict[str, Any]) -> Response:
    sim().stubs.remove()
    return no_content()


@bp.delete("/stubs/<stubId>")
@operation("adminDeleteStub")
def delete_stub(query: dict[str, Any], stubId: str) -> Response:
    if not sim().stubs.remove(stubId):
        raise not_found(f"No stub {stubId}")
    return no_content()


def _journal_query(query: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    items, total = current_app.extensions["ltx_journal"].query(
        method=query.get("method"), path=query.get("path"), status=query.get("status"),
        since=query.get("since"), operation=query.get("operation"), contains=query.get("contains"),
        limit=query.get("limit", 100), offset=query.get("offset", 0))
    return items, total


@bp.get("/requests")
@operation("adminListRequests")
def list_requests(query: dict[str, Any]) -> Response:
    items, total = _journal_query(query)
    return json_response({"total": total, "items": items})


@bp.get("/requests/count")
@operation("adminCountRequests")
def count_requests(query: dict[str, Any]) -> Response:
    _, total = _journal_query({**query, "limit": 0})
    return json_response({"count": total})


@bp.delete("/requests")
@operation("adminClearRequests")
def clear_requests(query: dict[str, Any]) -> Response:
    current_app.extensions["ltx_journal"].clear()
    return no_content()


@bp.get("/webhooks")
@operation("adminListWebhooks")
def list_webhooks(query: dict[str, Any]) -> Response:
    return json_response(sim().deliveries.log(0, 500))


@bp.get("/snapshot")
@operation("adminSnapshot")
def snapshot(query: dict[str, Any]) -> Response:
    from mock_server.scenario import snapshot as take

    return json_response(take(sim()))


@bp.post("/scenario")
@operation("adminLoadScenario")
def load_scenario(query: dict[str, Any], data: dict[str, Any]) -> Response:
    """Reset to the start-up state with this scenario in place of the configured one (until the next reset)."""
    from mock_server.scenario import check

    check(data, "<posted scenario>")  # a ScenarioError is a ValueError: 400 naming the field
    try:
        sim().reset(scenario=data)
    except ValueError:
        sim().reset()  # never leave a half-loaded scenario behind
        raise
    return json_response(state_view(sim()))


@bp.errorhandler(ValueError)
def value_error(exc: ValueError) -> Response:
    return json_response(ApiError(400, str(exc)).body(), 400)


# -- running it like a service: health, metrics, traffic as HAR -----------------------------------------------
@bp.get("/health")
@operation("adminHealth")
def health(query: dict[str, Any]) -> Response:
    """Liveness and readiness in one answer: 200 when the store takes a write and the clock reads, else 503.

    Open without the admin token (``guard.OPEN_PATHS``) and outside the pinned store view (``app.UNPINNED``), so a
    container's ``curl -f`` probe works and the answer comes even while the store is down.
    """
    from contracts.version import __version__

    report = sim().health()
    ready = report["ready"]
    for part in ("store", "clock"):
        if "error" in report[part]:
            report[part]["error"] = mask_text(report[part]["error"])
    counted = current_app.extensions.get("ltx_metrics")
    if not report["store"]["ok"] and counted is not None:
        counted.store_error()
    body = {"status": "ok" if ready else "unavailable", "live": True, **report, "version": __version__,
            "uptimeSeconds": round(time.time() - current_app.extensions["ltx_started"], 3), "pid": os.getpid()}
    return json_response(body, 200 if ready else 503)


@bp.get("/health/live")
@operation("adminLive")
def live(query: dict[str, Any]) -> Response:
    """Liveness only: 200 while this process serves, the store untouched (a Kubernetes livenessProbe: a store
    outage makes the server unready, it is no reason to restart it)."""
    from contracts.version import __version__

    return json_response({"status": "ok", "live": True, "version": __version__,
                          "uptimeSeconds": round(time.time() - current_app.extensions["ltx_started"], 3)})


@bp.get("/metrics")
@operation("adminMetrics")
def metrics(query: dict[str, Any]) -> Response:
    """Prometheus text format (``mock_server/metrics.py``); 404 when the server runs with ``--no-metrics``."""
    from mock_server.metrics import CONTENT_TYPE

    collected = current_app.extensions.get("ltx_metrics")
    if collected is None:
        raise not_found("Metrics are off on this server (ltx-mock serve --no-metrics)")
    return Response(collected.render(), 200, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


@bp.get("/requests.har")
@operation("adminRequestsHar")
def requests_har(query: dict[str, Any]) -> Response:
    """The journal (same filters as ``GET /requests``) as a HAR 1.2 document, oldest first, secrets masked."""
    from mock_server.har import journal_har

    items, _ = current_app.extensions["ltx_journal"].query(
        method=query.get("method"), path=query.get("path"), status=query.get("status"),
        since=query.get("since"), operation=query.get("operation"), contains=query.get("contains"),
        limit=query.get("limit", 10000), offset=query.get("offset", 0), stored=True)
    return Response(journal_har(items, base_url()), 200, content_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="ltx-mock-requests.har"',
                             "Cache-Control": "no-store"})
