"""The control API under ``/__admin`` (its contract: ``admin-openapi.yaml`` beside this file).

Tests and people drive the simulator through it: reset, fake LTX users, the
clock, queued job outcomes, HTTP faults, per-test answers (stubs), the request journal, webhooks.
Each view is a plain function of the in-flight request (``views.InFlight``), registered with :func:`route` and
served by ``mock_server/pipeline.py`` like the API's (the guard, the pinned clock, validation, strict answers);
a ``ValueError`` from the rules is a 400. The dashboard's operations are Flask's (``dashboard/``: templates,
static files), through the same pipeline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from contracts.spec import Contract, get_contract
from mock_server.errors import ApiError, not_found
from mock_server.masking import mask_text
from mock_server.sim import Simulator, tenant_id
from mock_server.sim.context import iso
from mock_server.sim.ltx import LtxUser
from mock_server.views import NO_CONTENT, InFlight, Reply, Route, Routes

SPEC = Path(__file__).with_name("admin-openapi.yaml")
ADMIN = Routes("/__admin", api=False)
route = ADMIN.route


def admin_contract() -> Contract:
    """The admin API's document, read and compiled by the same engine as ``openapi.yaml`` (once per process)."""
    return get_contract(str(SPEC))


def admin_routes() -> list[Route]:
    """Every control API operation's route (the views below)."""
    return list(ADMIN.items)


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


@route("POST", "/reset", "adminReset")
def reset(call: InFlight) -> Any:
    call.sim.reset()
    call.sim.journal.clear()
    return state_view(call.sim)


@route("GET", "/state", "adminState")
def state(call: InFlight) -> Any:
    return state_view(call.sim)


@route("POST", "/tokens", "adminAddToken")
def add_token(call: InFlight) -> Any:
    s = call.sim
    tid = s.add_token(call.data["token"])
    if call.data.get("demoAccount"):
        from mock_server.config import DEMO_EMAIL

        user = s.ltx.get_user(DEMO_EMAIL) or s.ltx.create_user(s.now(), email=DEMO_EMAIL)
        s.accounts.upsert(tid, s.ltx.cookie_of(user), None, s.now())
    return {"tenant": tid}


@route("GET", "/ltx-users", "adminListLtxUsers")
def list_users(call: InFlight) -> Any:
    """Every user, or one page of them with ``limit``; X-Total-Count says how many there are (no silent cut)."""
    s = call.sim
    users = s.ltx.list_users(call.query.get("offset", 0), call.query.get("limit"))
    return Reply(200, [user_view(s, u) for u in users], (("X-Total-Count", str(s.ltx.user_count())),))


@route("POST", "/ltx-users", "adminCreateLtxUser")
def create_user(call: InFlight) -> Any:
    s = call.sim
    user = s.ltx.create_user(s.now(), email=call.data.get("email"), credits=call.data.get("credits"),
                             subscription=call.data.get("subscription", True))
    return user_view(s, user, issued=True)


@route("GET", "/ltx-users/<email>", "adminGetLtxUser")
def get_user(call: InFlight, email: str) -> Any:
    return user_view(call.sim, call.sim.ltx.require_user(email), cookie=True)


@route("PATCH", "/ltx-users/<email>", "adminPatchLtxUser")
def patch_user(call: InFlight, email: str) -> Any:
    s = call.sim
    now = s.now()
    user = s.ltx.patch_user(now, email, credits=call.data.get("credits"), subscription=call.data.get("subscription"),
                            token_expired=call.data.get("tokenExpired"), new_session=bool(call.data.get("newSession")))
    if call.data.get("tokenExpired"):
        s.jobs.fail_running(None, email, "LTX Studio session expired: the job could not be completed", now)
    issued = bool(call.data.get("newSession")) or call.data.get("tokenExpired") is False  # a fresh session was issued
    return user_view(s, user, cookie=True, issued=issued)


@route("PATCH", "/accounts/<email>", "adminPatchAccount")
def patch_account(call: InFlight, email: str) -> Any:
    s = call.sim
    account = s.accounts.set_max_jobs(tenant_id(call.data["token"]), email, call.data["maxJobs"])
    return s.accounts.view(account, s.now())


@route("GET", "/clock", "adminGetClock")
def get_clock(call: InFlight) -> Any:
    return clock_view(call.sim)


@route("POST", "/clock", "adminSetClock")
def set_clock(call: InFlight) -> Any:
    s = call.sim
    data = call.data
    s.clock.set(paused=data.get("paused"), speed=data.get("speed"), advance_s=float(data.get("advance") or 0))
    s.settle(s.now())
    return clock_view(s)


@route("GET", "/next-outcome", "adminListOutcomes")
def list_outcomes(call: InFlight) -> Any:
    return call.sim.jobs.queued_outcomes()


@route("POST", "/next-outcome", "adminQueueOutcome")
def queue_outcome(call: InFlight) -> Any:
    spec = {k: v for k, v in call.data.items() if k != "webhook"}
    spec.update(call.data.get("webhook") or {})
    return call.sim.jobs.queue_outcome(spec)


@route("DELETE", "/next-outcome", "adminClearOutcomes")
def clear_outcomes(call: InFlight) -> Any:
    call.sim.jobs.clear_outcomes()
    return NO_CONTENT


@route("GET", "/jobs", "adminListJobs")
def list_jobs(call: InFlight) -> Any:
    s = call.sim
    now = s.now()
    offset, limit = call.query.get("offset", 0), call.query.get("limit", 50)
    total, jobs = s.jobs.page(offset, limit)
    items = [{**s.jobs.view(job, now, call.base_url()), "email": job.email, "tenant": job.tenant,
              "model": job.model, "operation": job.operation, "credits": job.credits,
              "created": job.created_ms, "doneBy": job.done_by(), "cancelled": bool(job.cancelled_ms)}
             for job in jobs]
    return {"total": total, "items": items}


@route("POST", "/jobs/<path:job_id>/release", "adminReleaseJob")
def release_job(call: InFlight, job_id: str) -> Any:
    s = call.sim
    job = s.jobs.release(job_id, s.now())
    return s.jobs.view(job, s.now(), call.base_url())


@route("GET", "/faults", "adminListFaults")
def list_faults(call: InFlight) -> Any:
    return call.sim.faults.list()


@route("POST", "/faults", "adminAddFault")
def add_fault(call: InFlight) -> Any:
    return call.sim.faults.add(call.data)


@route("DELETE", "/faults", "adminClearFaults")
def clear_faults(call: InFlight) -> Any:
    call.sim.faults.clear()
    return NO_CONTENT


@route("DELETE", "/faults/<fault_id>", "adminDeleteFault")
def delete_fault(call: InFlight, fault_id: str) -> Any:
    if not call.sim.faults.clear(fault_id):
        raise not_found(f"No fault {fault_id}")
    return NO_CONTENT


@route("GET", "/stubs", "adminListStubs")
def list_stubs(call: InFlight) -> Any:
    return call.sim.stubs.list()


@route("POST", "/stubs", "adminAddStub")
def add_stub(call: InFlight) -> Any:
    token = (call.data.get("match") or {}).get("token")
    operation_id = (call.data.get("match") or {}).get("operationId")
    if operation_id and operation_id not in get_contract().operations:
        raise ApiError(400, f"match.operationId: {operation_id!r} is not an operation of openapi.yaml")
    return call.sim.stubs.add(call.data, tenant_id(token) if token else None)


@route("DELETE", "/stubs", "adminClearStubs")
def clear_stubs(call: InFlight) -> Any:
    call.sim.stubs.remove()
    return NO_CONTENT


@route("DELETE", "/stubs/<stubId>", "adminDeleteStub")
def delete_stub(call: InFlight, stubId: str) -> Any:
    if not call.sim.stubs.remove(stubId):
        raise not_found(f"No stub {stubId}")
    return NO_CONTENT


def _journal_query(call: InFlight, query: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    items, total = call.sim.journal.query(
        method=query.get("method"), path=query.get("path"), status=query.get("status"),
        since=query.get("since"), operation=query.get("operation"), contains=query.get("contains"),
        limit=query.get("limit", 100), offset=query.get("offset", 0))
    return items, total


@route("GET", "/requests", "adminListRequests")
def list_requests(call: InFlight) -> Any:
    items, total = _journal_query(call, call.query)
    return {"total": total, "items": items}


@route("GET", "/requests/count", "adminCountRequests")
def count_requests(call: InFlight) -> Any:
    _, total = _journal_query(call, {**call.query, "limit": 0})
    return {"count": total}


@route("DELETE", "/requests", "adminClearRequests")
def clear_requests(call: InFlight) -> Any:
    call.sim.journal.clear()
    return NO_CONTENT


@route("GET", "/webhooks", "adminListWebhooks")
def list_webhooks(call: InFlight) -> Any:
    return call.sim.deliveries.log(0, 500)


@route("GET", "/snapshot", "adminSnapshot")
def snapshot(call: InFlight) -> Any:
    from mock_server.scenario import snapshot as take

    return take(call.sim)


@route("POST", "/scenario", "adminLoadScenario")
def load_scenario(call: InFlight) -> Any:
    """Reset to the start-up state with this scenario in place of the configured one (until the next reset)."""
    from mock_server.scenario import check

    check(call.data, "<posted scenario>")  # a ScenarioError is a ValueError: 400 naming the field
    try:
        call.sim.reset(scenario=call.data)
    except ValueError:
        call.sim.reset()  # never leave a half-loaded scenario behind
        raise
    return state_view(call.sim)


# -- running it like a service: health, metrics, traffic as HAR -----------------------------------------------
@route("GET", "/health", "adminHealth")
def health(call: InFlight) -> Any:
    """Liveness and readiness in one answer: 200 when the store takes a write and the clock reads, else 503.

    Open without the admin token (``guard.OPEN_PATHS``) and outside the pinned store view (``app.UNPINNED``), so a
    container's ``curl -f`` probe works and the answer comes even while the store is down.
    """
    from contracts.version import __version__

    report = call.sim.health()
    ready = report["ready"]
    for part in ("store", "clock"):
        if "error" in report[part]:
            report[part]["error"] = mask_text(report[part]["error"])
    counted = call.pipeline.metrics
    if not report["store"]["ok"] and counted is not None:
        counted.store_error()
    body = {"status": "ok" if ready else "unavailable", "live": True, **report, "version": __version__,
            "uptimeSeconds": round(time.time() - call.pipeline.started, 3), "pid": os.getpid()}
    return Reply(200 if ready else 503, body)


@route("GET", "/health/live", "adminLive")
def live(call: InFlight) -> Any:
    """Liveness only: 200 while this process serves, the store untouched (a Kubernetes livenessProbe: a store
    outage makes the server unready, it is no reason to restart it)."""
    from contracts.version import __version__

    return {"status": "ok", "live": True, "version": __version__,
            "uptimeSeconds": round(time.time() - call.pipeline.started, 3)}


@route("GET", "/metrics", "adminMetrics")
def metrics(call: InFlight) -> Any:
    """Prometheus text format (``mock_server/metrics.py``); 404 when the server runs with ``--no-metrics``."""
    from mock_server.metrics import CONTENT_TYPE

    collected = call.pipeline.metrics
    if collected is None:
        raise not_found("Metrics are off on this server (ltx-mock serve --no-metrics)")
    return Reply(200, collected.render(), (("Cache-Control", "no-store"),), CONTENT_TYPE)


@route("GET", "/requests.har", "adminRequestsHar")
def requests_har(call: InFlight) -> Any:
    """The journal (same filters as ``GET /requests``) as a HAR 1.2 document, oldest first, secrets masked."""
    from mock_server.har import journal_har

    items, _ = call.sim.journal.query(
        method=call.query.get("method"), path=call.query.get("path"), status=call.query.get("status"),
        since=call.query.get("since"), operation=call.query.get("operation"), contains=call.query.get("contains"),
        limit=call.query.get("limit", 10000), offset=call.query.get("offset", 0), stored=True)
    return Reply(200, journal_har(items, call.base_url()).encode(), (
        ("Content-Disposition", 'attachment; filename="ltx-mock-requests.har"'), ("Cache-Control", "no-store")),
        "application/json")
