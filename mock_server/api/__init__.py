"""HTTP only: one blueprint per resource, each view parse -> call the simulation -> serialise.

No rule lives here; a reader looking for why a request got a 429 opens
``mock_server/sim/scheduler.py``, not a view.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from ltxstudio_mock.mock_server.sim import Simulator

API_PREFIX = "/v1/ltxstudio"


def sim() -> Simulator:
    return current_app.extensions["ltx_sim"]


def tenant() -> str:
    return g.tenant


def now() -> int:
    """The simulated instant pinned for this request (settling and views agree on it)."""
    return g.now


def base_url() -> str:
    """The origin of URLs in this answer: the configured public URL, else this request's own Host."""
    public = sim().config.public_url
    return public.rstrip("/") if public else request.host_url.rstrip("/")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


def no_content() -> Response:
    return Response(status=204)


def register(app: Flask) -> None:
    from ltxstudio_mock.mock_server.api import accounts, assets, images, scheduler, storage, videos

    for module in (accounts, assets, images, videos, scheduler):
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)
    app.register_blueprint(storage.bp)


def api_blueprint(name: str) -> Blueprint:
    """A blueprint whose views all require a bearer token (checked once, in ``app.py``)."""
    bp = Blueprint(name, __name__)
    bp.api = True  # type: ignore[attr-defined]
    return bp
