"""The Flask application factory.

One request, end to end::

    before_request   pin the simulated instant, settle due work, inject faults,
                     authenticate (bearer token -> tenant), for API blueprints only
    view             mock_server/api/<resource>.py: validate against openapi.yaml,
                     call the simulation, serialise
    after_request    optional strict response check, request journal
    errorhandler     every failure becomes {"error": ..., "code": N}
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from flask import Flask, Response, g, request
from ltxstudio_mock.contracts.spec import Operation, get_contract
from ltxstudio_mock.contracts.validate import response_problems, violation_message
from ltxstudio_mock.mock_server import api
from ltxstudio_mock.mock_server.config import SimConfig
from ltxstudio_mock.mock_server.cookies import install_log_filter, mask_text
from ltxstudio_mock.mock_server.errors import ApiError
from ltxstudio_mock.mock_server.faults import apply_before
from ltxstudio_mock.mock_server.journal import FORM_TYPES, Journal, mask_form, mask_headers, mask_query, raw_body
from ltxstudio_mock.mock_server.sim import Simulator
from ltxstudio_mock.mock_server.store.base import Store
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger("ltx_mock")
API_PREFIX_SLASH = api.API_PREFIX + "/"
API_BLUEPRINTS = {"accounts", "assets", "images", "videos", "scheduler"}
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}


def create_app(config: SimConfig | None = None, *, store: Store | None = None,
               simulator: Simulator | None = None) -> Flask:
    """Build a simulator app. Pass ``simulator`` to share one between apps (tests), else one is made."""
    config = config or (simulator.config if simulator else SimConfig())
    sim = simulator or Simulator(config, store)
    app = Flask(__name__)
    # One byte over the limit so that a chunked body (no Content-Length) that werkzeug cuts at the limit
    # still shows it was too long: the upload rule then answers 413 instead of storing a truncated file.
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes + 1
    app.extensions["ltx_sim"] = sim
    app.extensions["ltx_journal"] = journal = Journal(sim.store, config.journal_limit, config.journal_max_bytes)
    install_log_filter("ltx_mock", "ltx_mock.webhooks", "ltx_mock.worker", "werkzeug", "granian", "waitress")
    from ltxstudio_mock.mock_server.admin.guard import AdminGuard

    guard = AdminGuard(config)
    faults = sim.faults  # the rules are the simulator's; only their HTTP shaping (apply_before) is the app's
    contract = get_contract()  # compile openapi.yaml once, at start-up

    api.register(app)
    from ltxstudio_mock.mock_server.admin import bp as admin_bp

    app.register_blueprint(admin_bp, url_prefix="/__admin")
    from ltxstudio_mock.mock_server.dashboard import bp as dashboard_bp  # the live page at /__admin/dashboard

    app.register_blueprint(dashboard_bp, url_prefix="/__admin/dashboard")

    @functools.lru_cache(maxsize=4096)  # per request otherwise: a regex scan of every operation (~13 us)
    def allowed_methods(path: str) -> list[str]:
        """The methods the contract documents for ``path`` (what Allow headers must list; read-only)."""
        rel = path[len(api.API_PREFIX):] if path.startswith(api.API_PREFIX) else None
        if rel is None:
            return []
        methods = contract.methods(rel)
        if "GET" in methods:
            methods.append("HEAD")
        return [*methods, "OPTIONS"] if methods else []

    @app.before_request
    def begin() -> Response | None:
        # The real objects behind Flask's proxies, once: every proxied read costs a context lookup,
        # and this runs on every request (benchmarks/hotpath_bench.py).
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        path = req.path
        if path.startswith(API_PREFIX_SLASH):
            methods = allowed_methods(path)
            if methods and req.method == "OPTIONS":
                return Response(status=204, headers={"Allow": ", ".join(methods)})
            if methods and req.method not in methods:
                raise MethodNotAllowed(valid_methods=methods)
        elif path.startswith("/__admin"):
            refused = guard.check(req)  # cross-site requests, the admin token, JSON bodies
            if refused is not None:
                return refused
        ctx.t0 = time.perf_counter()
        ctx.now = now = sim.now()
        sim.settle(now)
        if req.blueprint in API_BLUEPRINTS:
            ctx.tenant = None
            fault = faults.match(req.method, path)
            if fault is not None:
                ctx.fault = fault
                early = apply_before(faults, fault)
                if early is not None:
                    return early
            scheme, _, token = req.headers.get("Authorization", "").partition(" ")
            tenant = sim.tenant_for(token.strip()) if scheme.lower() == "bearer" else None
            if tenant is None:
                raise ApiError(401, "Unauthorized")
            ctx.tenant = tenant
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        ctx = g._get_current_object()
        op = ctx.get("operation")
        if config.strict_responses and op is not None:
            response = _strict_check(op, response)
        if config.journal:
            req = request._get_current_object()  # type: ignore[attr-defined]
            if not req.path.startswith("/__admin"):
                _journal(journal, req, ctx, response)
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return api.json_response(exc.body(), exc.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status, exc.name)
        if status == 404:
            message = f"Not found: {request.method} {request.path}"
        elif status == 413:
            message = f"Request body exceeds the {config.max_upload_bytes} byte limit"
        elif status == 400:
            message = f"Bad request: {exc.description}"
        response = api.json_response({"error": message, "code": status}, status)
        if status == 405:
            methods = allowed_methods(request.path) or list(getattr(exc, "valid_methods", None) or [])
            response.headers["Allow"] = ", ".join(methods)
        return response

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, mask_text(request.path[:500]))
        return api.json_response({"error": f"Internal simulator error: {type(exc).__name__}", "code": 500}, 500)

    app.extensions["ltx_contract"] = contract
    if config.background:
        from ltxstudio_mock.mock_server.worker import Worker

        app.extensions["ltx_worker"] = Worker(sim, config).start()
    return app


def _strict_check(op: Operation, response: Response) -> Response:
    """In strict mode a response outside the contract is turned into a 500 naming the violation."""
    problems = response_problems(op, response.status_code, response.content_type or "", response.get_data())
    if not problems:
        return response
    problem = violation_message(op, response.status_code, problems)
    log.error("contract violation: %s", problem)
    return api.json_response({"error": f"Simulator response violates openapi.yaml: {problem}", "code": 500}, 500)


def _journal(journal: Journal, request: Any, g: Any, response: Response) -> None:
    """Record the exchange as raw, masked text; ``Journal.render`` parses bodies when someone reads them."""
    op = g.get("operation")
    fault = g.get("fault")
    mimetype = request.mimetype
    readable = (request.content_length or 0) <= (request.max_content_length or float("inf"))  # else reading: 413
    if mimetype in FORM_TYPES and readable and request.form:
        body: Any = mask_form(request.form.to_dict())
    else:
        small = readable and request.content_length and request.content_length <= 65536
        body = raw_body(request.get_data(cache=True), mimetype) if small else None
        if body is None and request.content_length:
            # a body a view streamed without caching (uploads) or a large one: its size and type
            body = f"<{request.content_length} bytes {mimetype}>"
    entry = {
        "time_ms": int(time.time() * 1000),
        "sim_ms": g.get("now"),
        "method": request.method,
        "path": mask_text(request.path[:2048]),
        "query": mask_query(request.args.to_dict(flat=True)) if request.query_string else {},
        "headers": mask_headers(request.headers),
        "body": body,
        "body_type": mimetype,
        "status": response.status_code,
        "response": raw_body(response.get_data() if not response.direct_passthrough else b"", response.mimetype),
        "response_type": response.mimetype,
        "duration_ms": round((time.perf_counter() - g.get("t0", time.perf_counter())) * 1000, 3),
        "operation": op.operation_id if op is not None else None,
        "tenant": g.get("tenant"),
        "fault": fault.get("id") if fault else None,
    }
    journal.append(entry)
