"""HTTP only: one module per resource, each view a few lines: the validated call -> the simulation -> an answer.

No rule lives here; a reader looking for why a request got a 429 opens
``mock_server/sim/scheduler.py``, not a view. The API's views are plain functions registered with
:func:`route` and served by ``api/gateway.py`` (authentication, the pinned clock, validation, the journal),
not by Flask's per-request machinery; the Flask helpers below serve the control API (``/__admin``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Flask, Response, current_app, g, request

from mock_server.sim import Simulator

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from contracts.spec import Operation

API_PREFIX = "/v1/ltxstudio"


class Reply(NamedTuple):
    """A view's answer when it is not a plain 200 JSON body: a status, a JSON body (None: empty), headers."""

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


NO_CONTENT = Reply(204)


class Call:
    """One API request as a view sees it: the simulation, who asks, when, and the validated input."""

    __slots__ = ("admission", "data", "now", "op", "query", "request", "sim", "tenant", "waits")

    def __init__(self, sim: Simulator, req: Request, op: Operation, tenant: str, now: int, query: dict[str, Any],
                 data: dict[str, Any], admission: Any, waits: Any) -> None:
        self.sim = sim
        self.request = req
        self.op = op
        self.tenant = tenant
        self.now = now  # the simulated instant pinned for this request (settling and views agree on it)
        self.query = query
        self.data = data
        self.admission = admission  # the production server's request slot (server.Admission), or None
        self.waits = waits  # the pollForResult wait slots

    def base_url(self) -> str:
        """The origin of URLs in this answer: the configured public URL, else this request's own Host."""
        public = self.sim.config.public_url
        return public.rstrip("/") if public else self.request.host_url.rstrip("/")


View = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    """One API operation: its method and URL rule (werkzeug syntax), the contract's operationId, its view."""

    method: str
    rule: str
    operation_id: str
    view: View
    body: bool = True  # parse and validate a body (False: the view reads the raw stream itself)
    strict_slashes: bool = True

    @property
    def endpoint(self) -> str:
        return f"api.{self.operation_id}"


ROUTES: list[Route] = []


def route(method: str, rule: str, operation_id: str, *, body: bool = True,
          strict_slashes: bool = True) -> Callable[[View], View]:
    """Register a view for ``method`` ``API_PREFIX + rule``; the gateway validates it as ``operation_id``."""

    def decorate(view: View) -> View:
        ROUTES.append(Route(method, rule, operation_id, view, body, strict_slashes))
        return view

    return decorate


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


def api_routes() -> list[Route]:
    """Every API operation's route (importing the view modules registers them)."""
    from mock_server.api import accounts, assets, images, scheduler, videos  # noqa: F401

    return list(ROUTES)


def register(app: Flask) -> None:
    """The artifact storage blueprint (served by Flask: not an API operation, no token)."""
    from mock_server.api import storage

    app.register_blueprint(storage.bp)
