"""Small servers with one defect each, to prove ``ltx-mock check`` notices it.

Each is the real simulator (paused clock, no background thread) with exactly one
thing broken, by a WSGI middleware that rewrites answers or by patching one rule
of its in-process simulation. ``DEFECTS`` lists them with the operations to aim
the check at and the check that must report the defect; the healthy simulator
must pass the very same run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from werkzeug.wrappers import Request, Response

from mock_server import SimConfig, create_app
from mock_server.config import DEMO_EMAIL, DEMO_TOKEN
from mock_server.server import ServerThread
from mock_server.sim import tenant_id

API = "/v1/ltxstudio"
FAKE_JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyMTIzIiwiZXhwIjoxOTAwMDAwMDAwfQ.c2lnbmF0dXJl"


def healthy_app(**config: Any) -> Flask:
    """The simulator as tests use it: paused clock, no worker thread, fixed seed."""
    return create_app(SimConfig(**{"paused": True, "background": False, "seed": 7, **config}))


def rewrite(app: Flask, fn: Callable[[Request, Response], Response | None]) -> Flask:
    """Pass every answer of ``app`` through ``fn(request, response)`` (which may edit it in place)."""
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = Response.from_app(inner, environ)
        response = fn(request, response) or response
        return response(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


def edit_json(response: Response, fn: Callable[[Any], Any]) -> None:
    body = json.loads(response.get_data())
    body = fn(body) or body
    response.set_data(json.dumps(body))


# -- the defects -----------------------------------------------------------------
def wrong_field_type() -> Flask:
    """GET /accounts answers ``maxJobs`` as a string."""
    def fn(request: Request, response: Response) -> None:
        if request.method == "GET" and request.path == f"{API}/accounts" and response.status_code == 200:
            edit_json(response, lambda body: {k: {**v, "maxJobs": str(v.get("maxJobs"))} for k, v in body.items()})

    return rewrite(healthy_app(), fn)


def missing_401() -> Flask:
    """A request without a token is served as the demo tenant instead of being answered 401."""
    app = healthy_app()
    inner = app.wsgi_app

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ.setdefault("HTTP_AUTHORIZATION", f"Bearer {DEMO_TOKEN}")
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]
    return app


def crash_on_bad_input() -> Flask:
    """POST /images/create answers every invalid request with a 500 instead of a 400."""
    def fn(request: Request, response: Response) -> Response | None:
        if request.path == f"{API}/images/create" and response.status_code == 400:
            return Response(json.dumps({"error": "Internal Server Error", "code": 500}), status=500,
                            mimetype="application/json")
        return None

    return rewrite(healthy_app(), fn)


def status_goes_back() -> Flask:
    """A job already reported ``completed`` is reported ``active`` (progress 50) on later reads."""
    completed: set[str] = set()

    def fn(request: Request, response: Response) -> None:
        if response.status_code != 200 or response.mimetype != "application/json":
            return
        body = json.loads(response.get_data())
        if not isinstance(body, dict) or not isinstance(body.get("status"), dict):
            return
        job_id = body.get("jobId")
        if body["status"].get("type") != "completed":
            return
        if request.method == "GET" and job_id in completed:
            body["status"] = {"type": "active", "progress": 50}
            response.set_data(json.dumps(body))
        else:
            completed.add(job_id)

    # A fast clock, so that jobs complete between two reads (a generation is 5-60 simulated seconds).
    return rewrite(healthy_app(paused=False, speed=20000), fn)


def leaked_secret() -> Flask:
    """The account views return the real-looking ``lt_token`` instead of ``…secured…``."""
    def leak(account: dict[str, Any]) -> dict[str, Any]:
        return {**account, "cookie": {**account.get("cookie", {}), "lt_token": FAKE_JWT}}

    def fn(request: Request, response: Response) -> None:
        if request.method != "GET" or response.status_code != 200:
            return
        if request.path == f"{API}/accounts":
            edit_json(response, lambda body: {k: leak(v) for k, v in body.items()})
        elif request.path.startswith(f"{API}/accounts/"):
            edit_json(response, leak)

    return rewrite(healthy_app(), fn)


def _one_slot(app: Flask) -> Any:
    """Give the demo account ``maxJobs`` 1; returns the in-process simulator."""
    sim = app.extensions["ltx_sim"]
    sim.accounts.set_max_jobs(tenant_id(DEMO_TOKEN), DEMO_EMAIL, 1)
    return sim


def over_capacity() -> Flask:
    """The scheduler admits jobs past ``maxJobs`` (1), so GET /scheduler/available shows 2/1 and more."""
    app = healthy_app()
    sim = _one_slot(app)
    choose = sim.scheduler.choose
    sim.scheduler.choose = lambda tenant, email, override, now: choose(tenant, email, 10**6, now)
    return app


def refusal_spends_credits() -> Flask:
    """A generation refused for capacity (429) still takes 10 credits."""
    app = _capacity_limited()
    sim = app.extensions["ltx_sim"]

    def fn(request: Request, response: Response) -> None:
        if request.method == "POST" and response.status_code == 429:
            with sim.store.atomic():
                sim.ltx.charge(DEMO_EMAIL, 10, sim.now())

    return rewrite(app, fn)


def _capacity_limited() -> Flask:
    """Healthy, but with one slot: the second concurrent generation is refused with 429."""
    app = healthy_app()
    _one_slot(app)
    return app


@dataclass
class Defect:
    """A broken server, where to aim the check, and what it must say."""

    name: str
    make: Callable[[], Flask]
    include: list[str]
    check: str  # the check that must fail
    title: str  # a word the failure's title must contain
    healthy: Callable[[], Flask] = healthy_app  # the same server without the defect
    options: dict[str, Any] = field(default_factory=dict)


GENERATE_AND_READ = ["createImage", "getJob", "getSchedulerAvailable"]
DEFECTS = [
    Defect("wrong_field_type", wrong_field_type, ["listAccounts"], "response_schema_conformance", "schema",
           options={"phases": ["examples", "fuzzing"]}),
    Defect("missing_401", missing_401, ["getSchedulerAvailable"], "ignored_auth", "auth",
           options={"phases": ["examples", "fuzzing"]}),
    Defect("crash_on_bad_input", crash_on_bad_input, ["createImage"], "not_a_server_error", "Server error",
           options={"phases": ["coverage"]}),
    Defect("status_goes_back", status_goes_back, ["createImage", "getJob"], "check_job_status", "went back",
           healthy=lambda: healthy_app(paused=False, speed=20000),
           options={"phases": ["examples", "fuzzing", "stateful"]}),
    Defect("leaked_secret", leaked_secret, ["listAccounts", "getAccount"], "check_secrets_masked", "secret",
           options={"phases": ["examples", "fuzzing"]}),
    Defect("over_capacity", over_capacity, GENERATE_AND_READ, "check_scheduler_capacity", "maxJobs",
           healthy=_capacity_limited, options={"phases": ["examples", "fuzzing"]}),
    Defect("refusal_spends_credits", refusal_spends_credits, ["createImage"], "check_refusal_side_effects",
           "spent credits", healthy=_capacity_limited, options={"phases": ["examples", "fuzzing"]}),
]


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its API root URL."""
    server = ServerThread(app).start()
    try:
        yield server.url + API
    finally:
        server.stop()
