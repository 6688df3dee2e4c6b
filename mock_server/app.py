"""The Flask application factory.

One API request, end to end (``api/gateway.py``, a WSGI layer in front of Flask, each step a named method)::

    route          the operation and its path arguments
    pin_clock      pin the simulated instant, settle due work
    inject_fault   HTTP fault rules: latency, an error answer, a dropped connection
    authenticate   bearer token -> tenant
    validate       query and body against openapi.yaml (compiled checks, ``api/inputs.py``)
    view           mock_server/api/<resource>.py: call the simulation
    answer         JSON; strict mode checks it against the contract
    record         the request journal (raw, masked when read)
    observe        the metrics and the access log line (``observe.py``), when either is on

Everything else (the control API, the dashboard, artifact storage, 404/405/OPTIONS) is Flask's, with one
before/after pair (:class:`FlaskHooks`): ``begin`` (Allow/405 for API paths, the control API's guard, the
pinned clock) and ``finish`` (strict check, journal, observe); its error handlers answer ``{"error", "code"}``.
``/__admin/health`` and ``/__admin/metrics`` take no pinned view (``UNPINNED``): they read the store themselves and
must answer while it is down.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from contracts.spec import Contract, Operation, get_contract
from mock_server import api
from mock_server.admin.guard import AdminGuard
from mock_server.api.gateway import (
    Gateway,
    allowed_methods,
    body_timeout_message,
    http_error_message,
    internal_error,
    strict_problem,
    violation_error,
)
from mock_server.config import SimConfig
from mock_server.errors import ApiError
from mock_server.journal import Exchange, environ_headers, journal_body
from mock_server.masking import install_log_filter, mask_text
from mock_server.observe import Observer, observer
from mock_server.scenario import configured
from mock_server.sim import Simulator
from mock_server.store.base import Store

log = logging.getLogger("ltx_mock")
API_PREFIX_SLASH = api.API_PREFIX + "/"
RESETS = frozenset({"/__admin/reset", "/__admin/scenario"})  # they rebuild the start-up state
UNPINNED = frozenset({"/__admin/health", "/__admin/health/live", "/__admin/metrics"})


def create_app(config: SimConfig | None = None, *, store: Store | None = None,
               simulator: Simulator | None = None) -> Flask:
    """Build a simulator app. Pass ``simulator`` to share one between apps (tests), else one is made."""
    config = config or (simulator.config if simulator else SimConfig())
    sim = simulator or Simulator(config, store, scenario=configured(config))
    app = Flask(__name__)
    # One byte over the limit so that a chunked body (no Content-Length) that werkzeug cuts at the limit
    # still shows it was too long: the upload rule then answers 413 instead of storing a truncated file.
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes + 1
    install_log_filter("ltx_mock", "ltx_mock.webhooks", "ltx_mock.worker", "werkzeug", "granian", "waitress")
    contract = get_contract()  # compile openapi.yaml once, at start-up
    observe = observer(sim, config)  # metrics and access log (None when both are off)
    app.extensions.update(ltx_sim=sim, ltx_journal=sim.journal, ltx_contract=contract, ltx_observer=observe,
                          ltx_metrics=observe.metrics if observe else None, ltx_started=time.time())

    api.register(app)
    from mock_server.admin import bp as admin_bp

    app.register_blueprint(admin_bp, url_prefix="/__admin")
    from mock_server.dashboard import bp as dashboard_bp  # the live page at /__admin/dashboard

    app.register_blueprint(dashboard_bp, url_prefix="/__admin/dashboard")

    hooks = FlaskHooks(sim, config, contract, AdminGuard(config), observe)
    app.before_request(hooks.begin)
    app.after_request(hooks.finish)
    app.teardown_request(lambda exc: sim.end_request())  # Redis: the request's one commit, before the body is sent
    app.register_error_handler(ApiError, hooks.api_error)
    app.register_error_handler(HTTPException, hooks.http_error)
    app.register_error_handler(Exception, hooks.crash)
    app.wsgi_app = Gateway(app.wsgi_app, sim, config, contract, api.api_routes(),  # type: ignore[method-assign]
                           observe)
    if config.background:
        from mock_server.worker import Worker

        app.extensions["ltx_worker"] = Worker(sim, config).start()
    return app


def _strict_check(op: Operation, response: Response) -> Response:
    """In strict mode a response outside the contract is turned into a 500 naming the violation."""
    problem = strict_problem(op, response.status_code, response.content_type or "", response.get_data())
    if problem is None:
        return response
    return api.json_response(violation_error(problem), 500)


class FlaskHooks:
    """The requests Flask serves (not the API's operations): one before/after pair and the error handlers."""

    def __init__(self, sim: Simulator, config: SimConfig, contract: Contract, guard: AdminGuard,
                 observe: Observer | None = None) -> None:
        self.sim = sim
        self.observe = observe
        self.config = config
        self.contract = contract
        self.guard = guard

    def begin(self) -> Response | None:
        """Allow/405 for API paths no operation matched, the control API's guard, then the pinned clock."""
        req = request._get_current_object()  # type: ignore[attr-defined]  # the real object: proxies cost per read
        path = req.path
        ctx = g._get_current_object()
        ctx.t0 = time.perf_counter()
        if path.startswith(API_PREFIX_SLASH):
            methods = allowed_methods(self.contract, path)
            if methods and req.method == "OPTIONS":
                return Response(status=204, headers={"Allow": ", ".join(methods)})
            if methods and req.method not in methods:
                raise MethodNotAllowed(valid_methods=methods)
        elif path.startswith("/__admin"):
            refused = self.guard.check(req)  # cross-site requests, the admin token, JSON bodies
            if refused is not None:
                return refused
            if path in UNPINNED:
                return None  # health and metrics read the store themselves, and answer while it is down
        writes = req.method not in ("GET", "HEAD")  # the journal's entries are buffered, not written by the request
        resetting = req.method == "POST" and path in RESETS  # a lost shared store answers 503 to all but these
        ctx.now = self.sim.begin_request(writes=writes, resetting=resetting)  # Redis: lock + catch up in one trip
        return None

    def finish(self, response: Response) -> Response:
        """Strict mode's contract check (control API operations), then the journal (anything but /__admin)."""
        ctx = g._get_current_object()
        op = ctx.get("operation")
        if self.config.strict_responses and op is not None:
            response = _strict_check(op, response)
        if self.config.journal:
            req = request._get_current_object()  # type: ignore[attr-defined]
            if not req.path.startswith("/__admin"):
                self.record(req, ctx, response)
        if self.observe is not None:
            req = request._get_current_object()  # type: ignore[attr-defined]
            self.observe(req.environ, req.method, req.path, response.status_code,
                         time.perf_counter() - ctx.get("t0", time.perf_counter()),
                         op.operation_id if op is not None else None, None)
        return response

    def record(self, req: Any, ctx: Any, response: Response) -> None:
        """The journal entry of a request Flask served (the gateway records the API's)."""
        op = ctx.get("operation")
        mimetype = req.mimetype
        self.sim.journal.append(Exchange(
            sim_ms=ctx.get("now"), method=req.method, path=req.path,
            query_string=req.environ.get("QUERY_STRING", ""), headers=environ_headers(req.environ),
            body=journal_body(req, mimetype), body_type=mimetype, status=response.status_code,
            response=response.get_data() if not response.direct_passthrough else b"",
            response_type=response.mimetype,
            duration_ms=round((time.perf_counter() - ctx.get("t0", time.perf_counter())) * 1000, 3),
            operation=op.operation_id if op is not None else None, tenant=None, fault=None))

    def api_error(self, exc: ApiError) -> Response:
        response = api.json_response(exc.body(), exc.status)
        for name, value in exc.headers:
            response.headers[name] = value
        return response

    def http_error(self, exc: HTTPException) -> Response:
        original = getattr(exc, "original_exception", None)  # Flask's 500 for an error raised outside a view
        if isinstance(original, Exception):
            return self.crash(original)
        status = exc.code or 500
        message = http_error_message(status, exc.name, exc.description, request.method, request.path,
                                     self.config.max_upload_bytes)
        response = api.json_response({"error": message, "code": status}, status)
        if status == 405:
            methods = allowed_methods(self.contract, request.path) or list(getattr(exc, "valid_methods", None) or [])
            response.headers["Allow"] = ", ".join(methods)
        return response

    def crash(self, exc: Exception) -> Response:
        if self.observe is not None:
            self.observe.failed(exc)  # the metrics count the store's failures
        failure = self.sim.store_failure(exc)
        if failure is not None:  # the store is down or refuses writes: 503 + Retry-After, never an empty 500
            log.warning("%s %s: %s", request.method, mask_text(request.path[:500]), failure.message)
            return self.api_error(failure)
        if isinstance(exc, TimeoutError):  # --server werkzeug reads bodies in the view: silent past --body-timeout
            return api.json_response({"error": body_timeout_message(self.config.body_timeout_s), "code": 408}, 408)
        log.exception("unhandled error on %s %s", request.method, mask_text(request.path[:500]))
        return api.json_response(internal_error(exc), 500)
