"""Every operation of both contracts goes through the one request pipeline (``mock_server/pipeline.py``), each of
its steps exactly once, in order, filling one in-flight request object (``views.InFlight``).

One valid request per operationId of ``openapi.yaml`` and ``admin-openapi.yaml`` (the dashboard's too, which
Flask serves as the pipeline's view), in-process through the app's WSGI callable; the in-flight object of each
is taken at its last step and its ``steps`` compared. Strict responses are on, so each answer was also checked
against its contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helpers import png_bytes

from contracts.spec import get_contract
from mock_server import SimConfig, create_app
from mock_server.admin import admin_contract
from mock_server.pipeline import Pipeline
from mock_server.views import InFlight

STEPS = ("route", "allow", "pin_clock", "inject_fault", "find_stub", "authenticate", "validate", "view", "answer",
         "record", "observe")
API = "/v1/ltxstudio"
AUTH = {"Authorization": "Bearer demo-token"}
DEMO = "demo@example.com"
WALKER = "walker@example.com"


def _walk(app: Any, seen: list[InFlight]) -> dict[str, InFlight]:
    """One valid request for each operation, in an order the state allows; operationId -> its in-flight request."""
    client = app.test_client()
    calls: dict[str, InFlight] = {}

    def send(method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        before = len(seen)
        resp = client.open(path, method=method, **kw)
        assert resp.status_code == expect, (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
        assert len(seen) == before + 1, (method, path, "the pipeline's last step ran", len(seen) - before, "times")
        call = seen[-1]
        assert call.op is not None, (method, path, "routed to no operation")
        calls[call.op.operation_id] = call
        return resp.get_json(silent=True)

    def api(method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        return send(method, API + path, expect, headers=AUTH, **kw)

    def admin(method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        return send(method, "/__admin" + path, expect, **kw)

    admin("POST", "/reset")
    admin("GET", "/state")
    admin("POST", "/tokens", json={"token": "walker-token"})
    admin("GET", "/ltx-users")
    cookie = admin("POST", "/ltx-users", json={"email": WALKER, "credits": 10**6})["cookie"]
    admin("GET", f"/ltx-users/{WALKER}")
    admin("PATCH", f"/ltx-users/{DEMO}", json={"credits": 10**6})
    admin("PATCH", f"/accounts/{DEMO}", json={"token": "demo-token", "maxJobs": 50})
    admin("GET", "/clock")
    api("GET", "/accounts")
    api("POST", "/accounts", json={"cookie": cookie, "maxJobs": 2})
    api("GET", f"/accounts/{DEMO}")
    api("DELETE", f"/accounts/{WALKER}", 204)  # one account again: no request below needs to name it
    api("GET", "/assets/")
    asset = api("POST", "/assets/", data=png_bytes(), content_type="image/png")["asset"]["fileId"]
    image = api("POST", "/images/create", json={"prompt": "a lake"})["jobId"]
    api("GET", f"/assets/{image}")
    api("POST", "/images/edit", json={"prompt": "a lake", "referenceAssetId": asset})
    api("POST", "/images/flux-create", json={"prompt": "a lake"})
    api("POST", "/images/flux-edit", json={"prompt": "a lake", "referenceAssetId": asset})
    api("POST", "/videos/ltx-create", json={"prompt": "a lake", "startAssetId": asset})
    api("POST", "/videos/veo-create", json={"prompt": "a lake", "startAssetId": asset})
    api("GET", "/scheduler")
    api("GET", "/scheduler/available")
    running = api("POST", "/images/create", json={"prompt": "a boat"})["jobId"]
    admin("POST", f"/jobs/{running}/release")
    api("DELETE", f"/scheduler/{running}", 204)
    admin("POST", "/clock", json={"advance": 3600})
    api("POST", "/images/upscale", json={"jobId": image})
    admin("GET", "/jobs")
    admin("GET", "/next-outcome")
    admin("POST", "/next-outcome", json={"outcome": "failed"})
    admin("DELETE", "/next-outcome", 204)
    admin("GET", "/faults")
    fault = admin("POST", "/faults", json={"path": f"{API}/nowhere", "status": 500})["id"]
    admin("DELETE", f"/faults/{fault}", 204)
    admin("DELETE", "/faults", 204)
    admin("GET", "/stubs")
    stub = admin("POST", "/stubs", json={"match": {"operationId": "getAccount"}, "answer": {"body": {}}})["id"]
    admin("DELETE", f"/stubs/{stub}", 204)
    admin("DELETE", "/stubs", 204)
    entry = admin("GET", "/requests")["items"][0]["id"]
    admin("GET", "/requests/count")
    admin("GET", "/requests.har")
    admin("GET", "/webhooks")
    admin("GET", "/snapshot")
    admin("GET", "/dashboard")
    admin("GET", "/dashboard/data")
    admin("GET", f"/dashboard/jobs/{image}")
    admin("GET", f"/dashboard/requests/{entry}")
    admin("GET", "/health")
    admin("GET", "/health/live")
    admin("GET", "/metrics")
    admin("DELETE", "/requests", 204)
    admin("POST", "/scenario", json={})
    return calls


def trace(pipeline: Pipeline) -> None:
    """Record on each in-flight request every step the pipeline runs on it (each step method, wrapped)."""
    for name in Pipeline.STEPS:
        real = getattr(pipeline, name)
        if name == "route":  # the step that makes the in-flight request

            def traced(environ: dict[str, Any], real: Any = real, name: str = name) -> Any:
                call = real(environ)
                call.steps = (*call.steps, name)
                return call
        else:

            def traced(call: InFlight, real: Any = real, name: str = name) -> Any:
                call.steps = (*call.steps, name)
                return real(call)

        setattr(pipeline, name, traced)


def _app() -> tuple[Any, Pipeline, list[InFlight]]:
    """The app, its pipeline (traced), and the in-flight request of every request it has answered (taken at the
    last step)."""
    app = create_app(SimConfig(background=False, strict_responses=True, speed=1000))
    pipeline: Pipeline = app.extensions["ltx_pipeline"]
    trace(pipeline)
    seen: list[InFlight] = []
    last = pipeline.observe

    def observe(call: InFlight) -> None:
        last(call)
        seen.append(call)

    pipeline.observe = observe  # type: ignore[method-assign]
    return app, pipeline, seen


def wrong_steps(calls: dict[str, InFlight]) -> dict[str, list[str]]:
    """The operations whose request did not run each step once, in order."""
    return {op: list(call.steps) for op, call in calls.items() if call.steps != STEPS}


@pytest.fixture(scope="module")
def walked() -> dict[str, InFlight]:
    app, _, seen = _app()
    return _walk(app, seen)


def test_every_operation_of_both_contracts_is_walked(walked: dict[str, InFlight]) -> None:
    documented = set(get_contract().operations) | set(admin_contract().operations)
    assert len(documented) == 17 + 37
    assert set(walked) == documented


def test_every_operation_runs_each_step_once_in_order(walked: dict[str, InFlight]) -> None:
    assert Pipeline.STEPS == STEPS  # what is traced: every step method
    assert wrong_steps(walked) == {}


def test_the_in_flight_request_carries_what_the_steps_found(walked: dict[str, InFlight]) -> None:
    created = walked["createImage"]
    assert created.tenant and created.now > 0 and created.data == {"prompt": "a boat"} and created.reached
    assert created.status == 200 and b"jobId" in created.payload
    assert walked["adminGetClock"].tenant == "" and walked["adminHealth"].now == 0  # no token; no pinned view


def _skipped(pipeline: Pipeline, name: str) -> None:
    setattr(pipeline, name, lambda call: True)  # the step's work gone, and its trace: a step left out of ``run``


def _doubled(pipeline: Pipeline, name: str) -> None:
    real = getattr(pipeline, name)

    def twice(call: InFlight) -> Any:
        real(call)
        return real(call)

    setattr(pipeline, name, twice)


@pytest.mark.parametrize(("breaks", "step"), [(_skipped, "pin_clock"), (_skipped, "validate"), (_doubled, "record"),
                                              (_doubled, "authenticate")])
def test_the_check_fails_on_a_step_skipped_or_run_twice(breaks: Callable[[Pipeline, str], None], step: str) -> None:
    """The check itself can fail: a pipeline that leaves a step out or runs one twice is caught, on an API
    operation and on a control one."""
    app, pipeline, seen = _app()
    breaks(pipeline, step)
    client = app.test_client()
    client.get(f"{API}/scheduler/available", headers=AUTH)
    client.get("/__admin/clock")
    calls = {call.op.operation_id: call for call in seen if call.op is not None}
    assert set(calls) == {"getSchedulerAvailable", "adminGetClock"}
    assert set(wrong_steps(calls)) == {"getSchedulerAvailable", "adminGetClock"}
    assert all(call.steps.count(step) != 1 for call in calls.values())
