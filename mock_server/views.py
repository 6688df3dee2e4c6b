"""What a view is, for both contracts: the in-flight request it receives, what it returns, how it is registered.

A view (``api/<resource>.py`` for ``openapi.yaml``, ``admin/__init__.py`` for ``admin-openapi.yaml``) is a plain
function registered with its ``Routes``' ``route(method, rule, operationId)``; ``pipeline.py`` serves it. It
receives the one :class:`InFlight` object of its request (created when the request is routed, filled by each
step: the pinned instant, the tenant, the validated query and body) and returns a JSON-able body (a 200) or a
:class:`Reply`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from contracts.spec import Operation
    from mock_server.sim import Simulator


def slot_released(admission: Any) -> AbstractContextManager[Any]:
    """The request's server slot (``environ["ltx.admission"]``: granian's RSGI front, waitress's admission) given
    back while the request only sleeps (a pollForResult wait, a latency fault, a dribbled answer) and taken again
    after; under any other server (werkzeug, in-process) there is none to give back."""
    return admission.released() if admission is not None else contextlib.nullcontext()


class Reply(NamedTuple):
    """A view's answer when it is not a plain 200 JSON body: a status, a body, headers.

    ``body`` is JSON-able (None: empty), or ``bytes`` sent as they are with ``content_type``."""

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None


NO_CONTENT = Reply(204)


_EMPTY: dict[str, Any] = cast("dict[str, Any]", MappingProxyType({}))


class InFlight:
    """One request on its way through the pipeline: created by ``route``, filled by each step, recorded last.

    ``steps``: the pipeline's steps it went through, in order, when they are traced (``tests/test_pipeline.py``
    walks every operation of both contracts and asserts each ran once; untraced, the hot path pays nothing).
    ``reached``: the answer is the operation's (authenticated, or a stub's):
    strict mode checks it and the journal names the operation. ``ready``: an answer made below HTTP (a fault's
    broken connection), sent as it is; ``whole``: Flask's answer (its bytes and headers as Flask made them)."""

    # What a request has until a step says otherwise: class attributes, so making one sets only what it knows
    # (the hot path; no empty dicts made per request: the empty inputs are one read-only mapping).
    route: Route | None = None  # None: not an operation (Flask serves it) or only its path matched (405)
    op: Operation | None = None
    args: dict[str, Any] = _EMPTY  # the path arguments of the view
    query: dict[str, Any] = _EMPTY  # validated
    data: dict[str, Any] = _EMPTY  # validated
    now = 0  # the simulated instant pinned for this request (0: none, e.g. a 405)
    tenant = ""  # the caller's tenant once authenticated (API operations)
    reached = False
    fault: dict[str, Any] | None = None
    stub: dict[str, Any] | None = None
    admission: Any = None  # the production server's request slot (server.Admission), or None
    waits: Any = None  # the pollForResult wait slots
    status = 200
    body: Any = None  # the view's answer: JSON-able, or bytes sent as they are
    payload = b""
    content_type = ""
    headers: Sequence[tuple[str, str]] = ()
    violation: str | None = None  # a stub's answer outside the contract (the stub's doing)
    ready: Any = None
    whole = False
    steps: tuple[str, ...] = ()  # the steps it went through, when traced (tests/test_pipeline.py: the walk)
    exclusive = False  # run with the store's lock (Redis: this request's writes were refused too often)

    def __init__(self, pipeline: Any, request: Request, t0: float) -> None:
        self.pipeline = pipeline  # what a control view may need beyond the simulation (metrics, start time)
        self.sim: Simulator = pipeline.sim
        self.request = request
        self.environ: dict[str, Any] = request.environ
        self.method: str = request.method
        self.path: str = request.path
        self.t0 = t0

    KEPT = ("pipeline", "sim", "request", "environ", "method", "path", "t0", "route", "op", "args", "steps")

    def again(self, *, exclusive: bool = False) -> None:
        """Run again from ``pin_clock`` (the store refused this request's writes): forget what the steps set."""
        kept = {k: v for k, v in self.__dict__.items() if k in self.KEPT}
        self.__dict__.clear()
        self.__dict__.update(kept)
        self.exclusive = exclusive

    def base_url(self) -> str:
        """The origin of URLs in this answer: the configured public URL, else this request's own Host."""
        public = self.sim.config.public_url
        return public.rstrip("/") if public else self.request.host_url.rstrip("/")


View = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    """One operation: its method and URL rule (werkzeug syntax, below ``prefix``), the operationId, its view."""

    method: str
    rule: str
    operation_id: str
    view: View
    prefix: str
    body: bool = True  # parse and validate a body (False: the view reads the raw stream itself)
    strict_slashes: bool = True
    api: bool = True  # an operation of openapi.yaml (bearer token, faults, stubs); False: the control API's

    @property
    def endpoint(self) -> str:
        return f"{self.prefix}:{self.operation_id}"


class Routes:
    """The registered views of one contract, served below ``prefix``."""

    def __init__(self, prefix: str, *, api: bool) -> None:
        self.prefix = prefix
        self.api = api
        self.items: list[Route] = []

    def route(self, method: str, rule: str, operation_id: str, *, body: bool = True,
              strict_slashes: bool = True) -> Callable[[View], View]:
        """Register a view for ``method`` ``prefix + rule``; the pipeline validates it as ``operation_id``."""

        def decorate(view: View) -> View:
            self.items.append(Route(method, rule, operation_id, view, self.prefix, body, strict_slashes, self.api))
            return view

        return decorate
