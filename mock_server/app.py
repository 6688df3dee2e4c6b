"""The Flask application factory: the simulator, Flask's app, and the one request pipeline in front of it.

Every request enters ``pipeline.py`` (``Pipeline``, the app's WSGI callable): routing, Allow/405, the pinned
clock, faults and stubs, authentication (the bearer token, or ``admin/guard.py`` for ``/__admin``), validation,
the view, the strict answer check, the journal and the metrics, each a named step filling one in-flight request
object (``views.InFlight``). The views of both contracts (``api/``, ``admin/``) are plain functions the pipeline
calls; Flask serves what it is good at, as the pipeline's ``view`` step for everything else: the dashboard
(templates, static files), the artifact bucket, and 404s, with error handlers answering ``{"error", "code"}``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from contracts.spec import get_contract
from mock_server import api
from mock_server.admin import admin_contract, admin_routes
from mock_server.admin.guard import AdminGuard
from mock_server.config import SimConfig
from mock_server.errors import ApiError
from mock_server.masking import install_log_filter, mask_text
from mock_server.observe import Observer, observer
from mock_server.pipeline import Pipeline, body_timeout_message, http_error_message, internal_error
from mock_server.scenario import configured
from mock_server.sim import Simulator
from mock_server.store.base import Store

log = logging.getLogger("ltx_mock")


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
    pipeline = Pipeline(app.wsgi_app, sim, config, [contract, admin_contract()], api.api_routes() + admin_routes(),
                        AdminGuard(config), observe)
    app.extensions.update(ltx_sim=sim, ltx_journal=sim.journal, ltx_contract=contract, ltx_observer=observe,
                          ltx_metrics=pipeline.metrics, ltx_pipeline=pipeline)

    api.register(app)
    from mock_server.dashboard import bp as dashboard_bp  # the live page at /__admin/dashboard

    app.register_blueprint(dashboard_bp, url_prefix="/__admin/dashboard")
    errors = FlaskErrors(sim, config, observe)
    app.register_error_handler(ApiError, errors.api_error)
    app.register_error_handler(HTTPException, errors.http_error)
    app.register_error_handler(Exception, errors.crash)
    app.wsgi_app = pipeline  # type: ignore[method-assign]
    if config.background:
        from mock_server.worker import Worker

        app.extensions["ltx_worker"] = Worker(sim, config).start()
    return app


class FlaskErrors:
    """The error handlers of the views Flask serves: every failure in the ``{"error", "code"}`` shape."""

    def __init__(self, sim: Simulator, config: SimConfig, observe: Observer | None = None) -> None:
        self.sim = sim
        self.observe = observe
        self.config = config

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
            response.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
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
