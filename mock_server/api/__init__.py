"""HTTP only: one module per resource, each view a few lines: the validated call -> the simulation -> an answer.

No rule lives here; a reader looking for why a request got a 429 opens
``mock_server/sim/scheduler.py``, not a view. The API's views are plain functions registered with
:func:`route` and served by ``mock_server/pipeline.py`` (the pinned clock, authentication, validation, the
journal), not by Flask's per-request machinery; the Flask helpers below serve what Flask still serves (the
artifact bucket, the dashboard).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request

from mock_server.sim import Simulator
from mock_server.views import Route, Routes

API_PREFIX = "/v1/ltxstudio"


API = Routes(API_PREFIX, api=True)
route = API.route  # @route("GET", "/accounts", "getAccounts"): a view of openapi.yaml, served by pipeline.py


def sim() -> Simulator:
    return current_app.extensions["ltx_sim"]


def now() -> int:
    """The simulated instant the pipeline pinned for this request (settling and views agree on it)."""
    pinned: int = request.environ["ltx.call"].now
    return pinned


def base_url() -> str:
    """The origin of URLs in this answer: the configured public URL, else this request's own Host."""
    public = sim().config.public_url
    return public.rstrip("/") if public else request.host_url.rstrip("/")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


def no_content() -> Response:
    return Response(status=204)


def api_routes() -> list[Route]:
    """Every API operation's route (importing the view modules registers them)."""
    from mock_server.api import accounts, assets, images, scheduler, videos  # noqa: F401

    return list(API.items)


def register(app: Flask) -> None:
    """The artifact storage blueprint (served by Flask: not an API operation, no token)."""
    from mock_server.api import storage

    app.register_blueprint(storage.bp)
