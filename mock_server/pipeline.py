"""The one request pipeline: every request, for both contracts, through the same named steps.

A WSGI app in front of Flask. :meth:`Pipeline.__call__` routes the request, which creates its one
:class:`~mock_server.views.InFlight` object; each step fills it, in order:

    route           the operation (``openapi.yaml`` below ``/v1/ltxstudio``, ``admin-openapi.yaml`` below
                    ``/__admin``), its view and path arguments; werkzeug's URL map, remembered per path
    allow           the contract's methods for the path: ``OPTIONS`` answers 204 with ``Allow``, another method 405
    pin_clock       the simulated instant for this request, the work due by then settled (``sim.begin_request``)
    inject_fault    an HTTP fault rule matching an API request: sleep, answer now, or carry on
    find_stub       a per-test answer (stub) matching an API request: its answer now, or a patch for the view's
    authenticate    the API: bearer token -> tenant, else 401; ``/__admin``: ``admin/guard.py``
    validate        query and body against the operation's compiled checks (``api/inputs.py``)
    view            ``api/<resource>.py`` or ``admin/__init__.py`` (a plain function of the in-flight request);
                    anything else (the dashboard, static files, the artifact bucket, 404s) is Flask's app
    answer          the answer's bytes and headers; strict mode checks them against the contract
    record          the request journal (``journal.Entry.of``: raw bytes and a few fields, masked when read)
    observe         the metrics and the access log line (``observe.py``), when either is on

A step that answers (a 405, a fault, a stub, a 401 or 400) skips the steps up to the view. After the view,
``sim.end_request()`` (Redis: the request's one commit; refused, the request runs again from ``pin_clock``), then
``answer``, ``record`` and ``observe``, which always run, and only then the status line, so a failed commit still
answers 503.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request

from contracts.spec import Contract, Operation
from contracts.validate import response_problems, violation_message
from mock_server.admin.guard import AdminGuard
from mock_server.api.inputs import check_body, check_params, parse_body, parse_json_body
from mock_server.config import SimConfig
from mock_server.errors import ApiError
from mock_server.faults import apply_before, break_before_sending, shape_body
from mock_server.journal import Entry
from mock_server.masking import mask_text
from mock_server.observe import Observer
from mock_server.sim import Conflict, Simulator
from mock_server.views import InFlight, Reply, Route

log = logging.getLogger("ltx_mock")
ADMIN_PREFIX = "/__admin"
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
JSON = "application/json"
NO_BODY_TYPE = "text/html; charset=utf-8"  # what Flask's Response(status=204) sends, kept for byte-equal answers
RESETS = frozenset({"/__admin/reset", "/__admin/scenario"})  # they rebuild the start-up state
CONFLICT_RETRIES = 8  # a request refused this many times in a row runs once more with the store's lock
UNPINNED = frozenset({"/__admin/health", "/__admin/health/live", "/__admin/metrics"})
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def dump_json(body: Any) -> bytes:
    """A JSON answer's bytes, compact and UTF-8 (as every answer of the service is written)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def http_error_message(status: int, name: str, description: str | None, method: str, path: str,
                       max_upload_bytes: int) -> str:
    """The ``error`` text of an HTTP-level failure (routing, body size, unreadable request)."""
    if status == 404:
        return f"Not found: {method} {path}"
    if status == 413:
        return f"Request body exceeds the {max_upload_bytes} byte limit"
    if status == 400:
        return f"Bad request: {description}"
    return HTTP_MESSAGES.get(status, name)


def body_timeout_message(seconds: float) -> str:
    """The ``error`` of a 408: a request body that sent nothing for ``--body-timeout`` seconds."""
    return f"Request body incomplete: nothing received for {seconds:g} s (--body-timeout); the connection is closed"


def timed_out(exc: BaseException) -> bool:
    """Whether a socket read timed out somewhere behind ``exc`` (werkzeug wraps it as a disconnect)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def deferred_start() -> tuple[list[Any], Callable[..., None]]:
    """A ``start_response`` that only remembers (status, headers), and where it puts them: the real one is called
    once the store has committed, so a failed commit can still answer 503 instead of the view's status."""
    started: list[Any] = []

    def later(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started[:] = (status, headers)

    return started, later


def internal_error(exc: Exception) -> dict[str, Any]:
    """The 500 body of an unhandled error: its type, never its text (which may quote the request)."""
    return {"error": f"Internal simulator error: {type(exc).__name__}", "code": 500}


def violation_error(problem: str) -> dict[str, Any]:
    """The 500 body strict mode answers instead of a response outside the contract."""
    return {"error": f"Simulator response violates openapi.yaml: {problem}", "code": 500}


def strict_problem(op: Operation, status: int, content_type: str, body: bytes) -> str | None:
    """In strict mode: why this answer violates the contract (None: it conforms)."""
    problems = response_problems(op, status, content_type, body)
    if not problems:
        return None
    problem = violation_message(op, status, problems)
    log.error("contract violation: %s", problem)
    return problem


@functools.lru_cache(maxsize=4096)  # per request otherwise: a regex scan of every operation (~13 us)
def allowed_methods(contract: Contract, path: str) -> list[str]:
    """The methods the contract documents for ``path`` (what Allow headers must list; read-only)."""
    prefix = contract.server_prefix
    if not path.startswith(prefix + "/"):
        return []
    methods = contract.methods(path[len(prefix):])
    if "GET" in methods:
        methods.append("HEAD")
    return [*methods, "OPTIONS"] if methods else []


@functools.lru_cache(maxsize=4096)
def operation_at(contract: Contract, method: str, path: str) -> Operation | None:
    """The contract's operation for ``method path`` (a full path): what a request Flask serves is named."""
    prefix = contract.server_prefix
    return contract.match(method, path[len(prefix):]) if path.startswith(prefix + "/") else None


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"  # as werkzeug writes it


BEHIND = "ltx.behind"  # environ: the server finishes a Deferred answer itself (granian's RSGI front, rsgi.py)


class Deferred:
    """What the pipeline returns instead of an answer when the request's commit went ahead of its reply
    (``environ["ltx.behind"]``): the server calls :meth:`complete` later, in the same thread, in the order the
    requests ended, and gets the WSGI answer (``start_response`` called then). A refused commit makes
    :meth:`complete` return None: the server runs the request again with :meth:`again` (any thread)."""

    __slots__ = ("call", "later", "pending", "pipeline", "start_response", "started")

    def __init__(self, pipeline: Pipeline, call: InFlight, later: Callable[..., Any], pending: Any) -> None:
        self.pipeline = pipeline
        self.call = call
        self.later = later  # the pipeline's own start_response (``deferred_start``), which fills ``started``
        self.pending = pending
        self.started: list[Any] = []
        self.start_response: Callable[..., Any] = _no_start

    def __iter__(self) -> Iterator[bytes]:  # a WSGI answer's type, for whoever holds one
        return iter(())

    def complete(self) -> Iterable[bytes] | None:
        """(The thread that ran it) the answer, once the commit is durable; None: refused, run it :meth:`again`."""
        pipeline, call = self.pipeline, self.call
        try:
            pipeline.sim.finish_request(self.pending)
            result = pipeline.finish(call, self.later)
        except Conflict:
            return None
        except Exception as exc:  # the store failed (unreachable): the 503 a commit's failure answers
            break_before_sending(call.environ)
            return pipeline.failed(exc, call.method, call.path, self.start_response)
        self.start_response(*self.started)
        return result

    def again(self) -> Iterable[bytes]:
        """(Any thread) run the refused request again, waiting for its commit this time."""
        pipeline, call = self.pipeline, self.call
        call.again()
        try:
            try:
                result = pipeline.run(call, self.later, attempt=1)
            finally:
                pipeline.sim.end_request()
        except Exception as exc:
            break_before_sending(call.environ)
            return pipeline.failed(exc, call.method, call.path, self.start_response)
        self.start_response(*self.started)
        return result


def _no_start(*args: Any) -> None:
    raise RuntimeError("a Deferred answer was completed before the pipeline handed it over")


class Pipeline:
    """WSGI app running every request through the steps above; ``fallback`` (the Flask app) is the view of
    whatever no registered view serves."""

    def __init__(self, fallback: WsgiApp, sim: Simulator, config: SimConfig, contracts: list[Contract],
                 routes: list[Route], guard: AdminGuard, observe: Observer | None = None) -> None:
        self.fallback = fallback
        self.observer = observe
        self.metrics = observe.metrics if observe is not None else None  # what GET /__admin/metrics renders
        self.sim = sim
        self.faults = sim.faults  # the rules are the simulator's; their HTTP shaping (apply_before) is faults.py's
        self.stubs = sim.stubs  # likewise: which stub answers is sim/stubs.py's; its bytes are sent here
        self.journal = sim.journal
        self.config = config
        self.guard = guard
        self.started = time.time()
        self.max_body = config.max_upload_bytes + 1  # one byte over: a cut chunked body still shows it was long
        self.waits = threading.BoundedSemaphore(max(0, config.poll_waits))
        self.api, self.admin = contracts
        by_prefix = {c.server_prefix: c for c in contracts}
        self.routes = {r.endpoint: (r, by_prefix[r.prefix][r.operation_id]) for r in routes}
        rules = [Rule(r.prefix + r.rule, endpoint=r.endpoint, methods=[r.method], strict_slashes=r.strict_slashes)
                 for r in routes]
        self.urls = Map(rules).bind("localhost")  # matching reads only the path and method: one adapter for all
        self.api_prefix = self.api.server_prefix + "/"
        self.admin_prefix = ADMIN_PREFIX + "/"

    # -- the request path, step by step ---------------------------------------------------------
    STEPS = ("route", "allow", "pin_clock", "inject_fault", "find_stub", "authenticate", "validate", "view", "answer",
             "record", "observe")  # the methods below, in the order every request runs them

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        call = self.route(environ)
        started, later = deferred_start()
        try:
            try:
                result = self.run(call, later, behind=environ.get(BEHIND, False))
            finally:
                self.sim.end_request()  # ends a transaction ``run`` did not (an error after the view): no-op else
        except Exception as exc:  # the store failed where no view could answer (start, journal, commit)
            break_before_sending(call.environ)  # a connection fault's, if one matched: it breaks all the same
            return self.failed(exc, call.method, call.path, start_response)
        if type(result) is Deferred:
            result.started, result.start_response = started, start_response
            return result
        start_response(*started)  # only now: a failed commit above still answers 503, not the view's 200
        return result

    def run(self, call: InFlight, start_response: Callable[..., Any], *, behind: bool = False,
            attempt: int = 0) -> Iterable[bytes]:
        """Every step after ``route``; then the request's writes are made durable (``sim.end_request``). Redis may
        refuse them (``Conflict``: another request changed what this one read, nothing was written): the request is
        run again from ``pin_clock`` on fresh data, its last attempt with the store's lock (it cannot conflict).

        ``behind`` (the server can finish the request later, ``Deferred``): a plain API write whose commit the
        store sent without waiting for its reply returns a ``Deferred``; the answer is made once it is durable."""
        while True:
            try:
                self.run_steps(call)
                if behind and attempt == 0 and self.can_defer(call):
                    pending = self.sim.end_request(behind=True)
                    if pending is not None:
                        return Deferred(self, call, start_response, pending)
                self.sim.end_request()  # Redis: the request's one commit, before the answer is made
                break
            except Conflict:
                attempt += 1
                with contextlib.suppress(Conflict):
                    self.sim.end_request()  # refused mid-view: its transaction is discarded (nothing sent)
                if not self.can_repeat(call):
                    call.status, call.body, call.headers = 503, {
                        "error": "The store refused this request's writes (another request changed the same "
                                 "state at the same time); nothing was changed: retry", "code": 503}, (
                        ("Retry-After", "1"),)
                    break
                call.again(exclusive=attempt >= CONFLICT_RETRIES)
        return self.finish(call, start_response)

    def finish(self, call: InFlight, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The steps after the commit: ``answer``, ``record``, ``observe``, then the status line and bytes."""
        self.answer(call)
        self.record(call)
        self.observe(call)
        return self.send(call, start_response)

    @staticmethod
    def can_defer(call: InFlight) -> bool:
        """Whether the commit may go ahead of its reply: an API write the view answered plainly (no fault, no stub,
        not the store's lock), whose body is in memory (it can run again, in another thread, if refused)."""
        environ = call.environ
        return (call.route is not None and call.route.api and call.fault is None and call.stub is None
                and call.ready is None and not call.exclusive
                and ("ltx.body" in environ or environ.get("CONTENT_LENGTH") in (None, "", "0")))

    @staticmethod
    def can_repeat(call: InFlight) -> bool:
        """Whether the request can run again: its body was read into memory (ours), it has none (Flask's views are
        all GETs), or Flask refused it (a 404 or 405 for a path of no operation: refused again the same way)."""
        return call.route is not None or call.method in ("GET", "HEAD") or call.status >= 400

    def run_steps(self, call: InFlight) -> None:
        """``allow`` to ``view``: the first four return False when they have made the answer; an error becomes the
        answer (a ``Conflict`` goes up to ``run``)."""
        try:
            if self.allow(call) and self.pin_clock(call) and self.inject_fault(call) and self.find_stub(call):
                self.authenticate(call)
                self.validate(call)
                self.view(call)
        except Conflict:
            raise
        except ApiError as exc:
            call.status, call.body, call.headers = exc.status, exc.body(), exc.headers
        except HTTPException as exc:
            call.status, call.body, call.headers = self.http_error(call, exc)
        except TimeoutError:  # --server werkzeug reads the body here: it went silent past --body-timeout
            call.environ["ltx.body"] = b""
            call.status, call.body, call.headers = 408, {"error": body_timeout_message(self.config.body_timeout_s),
                                                         "code": 408}, ()
        except ValueError as exc:
            if call.route is None or call.route.api:
                call.status, call.body, call.headers = self.error_answer(exc, call.method, call.path)
            else:  # the control API's rules refuse a bad value (a fault rule, a scenario) with a ValueError
                call.status, call.body, call.headers = 400, ApiError(400, str(exc)).body(), ()
        except Exception as exc:
            call.status, call.body, call.headers = self.error_answer(exc, call.method, call.path)

    def route(self, environ: dict[str, Any]) -> InFlight:
        """The in-flight request: its operation, view and path arguments (``route`` None: Flask's to serve)."""
        t0 = time.perf_counter()
        req = Request(environ)
        req.max_content_length = self.max_body
        call = InFlight(self, req, t0)
        path, method = call.path, call.method
        contract = self.api if path.startswith(self.api_prefix) else \
            self.admin if path.startswith(self.admin_prefix) else None
        if contract is None:
            return call
        if method != "OPTIONS":
            try:
                endpoint, args = self._match(path, method)
                call.route, call.op = self.routes[endpoint]
                call.args = dict(args)
                return call
            except HTTPException:  # 404, 405 and redirects: Flask's answers, or the contract's 405 (``allow``)
                pass
        call.op = operation_at(contract, method, path)  # an operation Flask serves (the dashboard's)
        return call

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one pipeline per app; a client polls the same job's URL
    def _match(self, path: str, method: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """werkzeug's matching (its rules, slashes and converters), remembered per path: ~10 us saved per hit."""
        endpoint, args = self.urls.match(path, method)
        return endpoint, tuple(args.items())

    def allow(self, call: InFlight) -> bool:
        """The contract's methods for the path: ``OPTIONS`` answers 204 with them, another method 405 (even where
        a rule would match: DELETE .../available); the operation's Allow header lists them."""
        if call.request is None:
            return True
        path = call.path
        methods = allowed_methods(self.api if path.startswith(self.api_prefix) else self.admin, path)
        if not methods or (call.method in methods and call.method != "OPTIONS"):
            return True
        call.route = call.op = None
        if call.method == "OPTIONS":
            call.status, call.body, call.headers = 204, None, (("Allow", ", ".join(methods)),)
        else:
            call.status, call.body, call.headers = 405, {"error": HTTP_MESSAGES[405], "code": 405}, (
                ("Allow", ", ".join(methods)),)
        return False

    def pin_clock(self, call: InFlight) -> bool:
        """The simulated instant the whole request sees; work due by then is applied first. One consistent view
        of the store for the request (Redis: catching up in one round trip, and a transaction, sent at the end;
        the journal's entries are buffered, not written by the request).
        ``/__admin/health`` and ``/__admin/metrics`` take none: they read the store themselves, and answer while
        it is down."""
        route = call.route
        current = call.environ.pop("ltx.current", False)  # the front's event loop caught up for this read (once)
        if route is not None and route.api:  # the hot path: an API operation
            call.now = self.sim.begin_request(writes=call.method not in ("GET", "HEAD"),  # the journal: buffered
                                              exclusive=call.exclusive, current=current)
            return True
        path = call.path
        if path in UNPINNED:
            return True
        resetting = call.method == "POST" and path in RESETS  # a lost shared store answers 503 to all but these
        call.now = self.sim.begin_request(writes=call.method not in ("GET", "HEAD"), resetting=resetting,
                                          exclusive=call.exclusive, current=current)
        return True

    def inject_fault(self, call: InFlight) -> bool:
        """An API request matching a fault rule: latency sleeps here; a status raises; a broken connection is
        answered now (``faults.apply_before``)."""
        if call.route is None or not call.route.api:
            return True
        fault = call.fault = self.faults.match(call.method, call.path)
        if fault is None:
            return True
        call.ready = apply_before(self.faults, fault, call.environ, call.now)
        return call.ready is None

    def find_stub(self, call: InFlight) -> bool:
        """The stub that answers this API request (sim/stubs.py decides; its count is taken): a fixed answer is
        sent now, a patch waits for the view's answer.

        Matched before authentication, so a stub can answer what the simulator would refuse; a stub naming a
        tenant matches only that token's requests. The body is parsed only if a candidate matches on it."""
        route, op = call.route, call.op
        if route is None or op is None or not route.api:
            return True
        candidates = self.stubs.candidates(op.operation_id, call.method)
        if not candidates:
            return True  # no stub could answer: one small meta read, nothing else
        environ = call.environ

        def tenant() -> str | None:
            if "ltx.stub_tenant" not in environ:
                environ["ltx.stub_tenant"] = self.bearer_tenant(environ)
            return environ["ltx.stub_tenant"]

        def body() -> Any:
            if "ltx.stub_body" not in environ:
                raw = self.json_body(environ)
                try:
                    environ["ltx.stub_body"] = parse_json_body(raw) if raw else None
                except ApiError:
                    environ["ltx.stub_body"] = None  # not JSON: no body field matches (validate answers 400)
            return environ["ltx.stub_body"]

        stub = call.stub = self.stubs.match(op.operation_id, call.method, call.path, tenant, body, candidates)
        if stub is None:
            return True
        call.reached = True  # the stub answers as the operation
        if "patch" in stub["answer"]:
            return True
        call.status, call.body, call.headers = 200, None, ()
        return False

    def bearer_tenant(self, environ: dict[str, Any]) -> str | None:
        """The tenant of the request's bearer token, else None (authentication's and a stub's tenant match)."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        return self.sim.tenant_for(token.strip()) if scheme.lower() == "bearer" else None

    def authenticate(self, call: InFlight) -> None:
        """The API: the tenant of the bearer token, else 401. ``/__admin``: the guard (cross-site requests, the
        admin token, JSON bodies)."""
        route = call.route
        if route is not None and route.api:
            tenant = self.bearer_tenant(call.environ)
            if tenant is None:
                raise ApiError(401, "Unauthorized")
            call.tenant = tenant
        elif call.path.startswith(ADMIN_PREFIX):
            refused = self.guard.check(call.request)
            if refused is not None:
                raise refused
        call.reached = call.op is not None

    def validate(self, call: InFlight) -> None:
        """The query and (unless the view reads the body itself) the body, checked against the contract."""
        route, op, req = call.route, call.op, call.request
        if route is None or op is None:
            return  # Flask's views read their own input
        environ = call.environ
        call.query = check_params(op, "query", req.args if environ.get("QUERY_STRING") else {})
        if route.body and op.body_schemas:
            raw = self.json_body(environ)
            data = parse_json_body(raw) if raw is not None else parse_body(op, req)
            check_body(op, data)
            call.data = data

    def json_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body of a plain ``application/json`` request with a Content-Length within the limit, read directly
        (werkzeug's stream wrapper and header parsing cost more than the read); None: any other request, which
        ``parse_body`` reads through werkzeug. The bytes are kept for the journal."""
        if "ltx.body" in environ:
            return environ["ltx.body"]  # read already (a stub matched on it)
        length = environ.get("CONTENT_LENGTH", "")
        if environ.get("CONTENT_TYPE") != JSON or not length.isdigit() or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        n = int(length)
        if n > self.max_body:
            return None  # werkzeug answers 413
        raw: bytes = environ["wsgi.input"].read(n) if n else b""
        if len(raw) < n:
            raise ClientDisconnected()  # as werkzeug's stream does: the client went away mid-body
        environ["ltx.body"] = raw
        return raw

    def view(self, call: InFlight) -> None:
        """The operation's view (a plain function of the in-flight request), else Flask's app, whose answer is
        taken whole (its error handlers answer in the ``{error, code}`` shape)."""
        route = call.route
        if route is None:
            self.flask_view(call)
            return
        call.admission = call.environ.get("ltx.admission")  # the production server's slot (server.Admission)
        call.waits = self.waits
        result = route.view(call, **call.args)
        if type(result) is Reply:
            call.status, call.body, call.headers = result.status, result.body, result.headers
            if result.content_type is not None:
                call.content_type = result.content_type
        else:
            call.body = result

    def flask_view(self, call: InFlight) -> None:
        """Flask's answer, taken whole (a small page, a JSON document, an artifact already in memory)."""
        environ = call.environ
        environ["ltx.call"] = call  # what Flask's views read the pinned instant from (``api.now``)
        started, later = deferred_start()
        try:
            result = self.fallback(environ, later)
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        finally:
            del environ["ltx.call"]  # no cycle left behind (the in-flight request holds the environ)
        call.status = int(started[0][:3])
        call.headers = started[1]
        call.payload = payload
        call.content_type = next((v for k, v in call.headers if k.lower() == "content-type"), "")
        call.whole = True

    def http_error(self, call: InFlight, exc: HTTPException) -> tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]:
        if isinstance(exc, ClientDisconnected) and timed_out(exc):  # werkzeug's stream: a silent chunked body
            call.environ["ltx.body"] = b""
            return 408, {"error": body_timeout_message(self.config.body_timeout_s), "code": 408}, ()
        status = exc.code or 500
        message = http_error_message(status, exc.name, exc.description, call.method, call.path,
                                     self.config.max_upload_bytes)
        return status, {"error": message, "code": status}, ()

    def answer(self, call: InFlight) -> None:
        """The answer's bytes, content type and headers; strict mode checks it against the contract first.

        A stub's answer is sent as the stub says even outside the contract (that is what it is for): strict
        mode then logs the violation as the stub's and the journal entry carries it (``stub_violation``)."""
        ready = call.ready
        if ready is not None:  # a fault's broken connection: sent as it is
            call.payload = ready.get_data() if not ready.direct_passthrough else b""
            call.status, call.content_type = ready.status_code, ready.mimetype
            return
        op = call.op if call.reached else None
        stub = call.stub
        if call.whole:  # Flask's answer: its bytes and headers as they are
            if op is not None and self.config.strict_responses:
                problem = strict_problem(op, call.status, call.content_type, call.payload)
                if problem is not None:
                    call.whole, call.status, call.body, call.headers = False, 500, violation_error(problem), ()
                    call.payload, call.content_type = dump_json(call.body), JSON
                    call.headers = [("Content-Type", JSON), ("Content-Length", str(len(call.payload)))]
            return
        if stub is not None:
            call.status, call.payload, call.content_type, call.headers = self.stub_answer(
                stub, call.status, call.body, call.headers)
            call.violation = self.stub_violation(stub, op, call.status, call.content_type, call.payload)
        elif call.body is None:
            call.payload, call.content_type = b"", NO_BODY_TYPE
        elif type(call.body) is bytes:
            call.payload, call.content_type = call.body, call.content_type or JSON
        else:
            call.payload, call.content_type = dump_json(call.body), JSON
        if op is not None and self.config.strict_responses and stub is None:
            problem = strict_problem(op, call.status, call.content_type, call.payload)
            if problem is not None:
                call.status, call.headers, call.content_type = 500, (), JSON
                call.payload = dump_json(violation_error(problem))
        payload = call.payload  # the headers of an answer of ours: its type and length first, then the view's
        if payload:
            call.headers = [("Content-Type", call.content_type), ("Content-Length", str(len(payload))),
                            *call.headers]
        else:
            call.headers = [("Content-Type", call.content_type), *call.headers]

    def stub_answer(self, stub: dict[str, Any], status: int, body: Any, headers: Any
                    ) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
        """A stub's answer as (status, bytes, content type, headers): its fixed answer, or the simulator's with
        the stub's patch applied; the stub's status and headers win."""
        answer = stub["answer"]
        extra = {k: str(v) for k, v in (answer.get("headers") or {}).items()}
        content_type = next((v for k, v in extra.items() if k.lower() == "content-type"), None)
        if "patch" in answer:
            if body is not None:
                body = self.stubs.patched(stub, body)
            payload = dump_json(body) if body is not None else b""
        elif "text" in answer:
            payload = str(answer["text"]).encode()
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            payload = dump_json(answer["body"]) if answer.get("body") is not None else b""
            status = 200
        status = int(answer.get("status") or status)
        if status in (204, 304):
            payload = b""  # no body on these, whatever the stub says
        content_type = content_type or (JSON if payload else NO_BODY_TYPE)
        kept = tuple((k, v) for k, v in headers if k.lower() not in {n.lower() for n in extra})
        out = kept + tuple((k, v) for k, v in extra.items() if k.lower() not in ("content-type", "content-length"))
        return status, payload, content_type, out

    def stub_violation(self, stub: dict[str, Any], op: Operation | None, status: int, content_type: str,
                       payload: bytes) -> str | None:
        """How a stub's answer breaks the contract (None: it conforms); strict mode logs it as the stub's doing."""
        if op is None:
            return None
        problems = response_problems(op, status, content_type, payload)
        if not problems:
            return None
        problem = f"stub {stub['id']} answered outside openapi.yaml (the stub's doing, not the simulator's): " \
                  f"{violation_message(op, status, problems)}"
        if self.config.strict_responses:
            log.warning("%s", problem)
        return problem

    def record(self, call: InFlight) -> None:
        """Append this exchange to the journal (not the control API's own): raw parts only; masking and parsing
        wait for a reader."""
        if self.config.journal and not call.path.startswith(ADMIN_PREFIX):
            self.journal.append(Entry.of(call))

    def observe(self, call: InFlight) -> None:
        """The metrics and the access log line, when either is on."""
        if self.observer is not None:
            op = call.op
            self.observer(call.environ, call.method, call.path, call.status, time.perf_counter() - call.t0,
                          op.operation_id if op is not None else None, call.tenant or None)

    def send(self, call: InFlight, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The status line and headers, then the bytes (a fault may spoil them on the way out)."""
        break_before_sending(call.environ)  # a connection fault's, if one matched: journalled first, then broken
        ready = call.ready
        if ready is not None:
            answer: Iterable[bytes] = ready(call.environ, start_response)
            return answer
        fault = call.fault
        if fault is not None and call.method != "HEAD":
            spoiled = shape_body(fault, list(call.headers), call.payload, call.environ)
            if spoiled is not None:  # a truncated_body or dribble fault: the answer's bytes, spoiled on the way out
                start_response(status_line(call.status), spoiled[0])
                return spoiled[1]
        start_response(status_line(call.status), call.headers)
        return [] if call.method == "HEAD" else [call.payload]

    # -- failures no step answered -----------------------------------------------------------------------------
    def failed(self, exc: Exception, method: str, path: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """503 ``{error, code}`` with Retry-After for a store failure, else the 500 of an unhandled error."""
        status, body, headers = self.error_answer(exc, method, path)
        payload = dump_json(body)
        start_response(status_line(status), [("Content-Type", JSON), ("Content-Length", str(len(payload))),
                                             *headers])
        return [] if method == "HEAD" else [payload]

    def error_answer(self, exc: Exception, method: str,
                     path: str) -> tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]:
        """(status, body, headers) for an exception no rule answered: the store's 503, else a 500."""
        if self.observer is not None:
            self.observer.failed(exc)  # the metrics count the store's failures
        failure = self.sim.store_failure(exc)
        if failure is not None:
            log.warning("%s %s: %s", method, mask_text(path[:500]), failure.message)
            return failure.status, failure.body(), failure.headers
        log.exception("unhandled error on %s %s", method, mask_text(path[:500]))
        return 500, internal_error(exc), ()
