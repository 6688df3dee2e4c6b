"""The API's request path: one WSGI layer in front of Flask, each step a named method.

An API request (``/v1/ltxstudio/...`` matching an operation) never enters Flask's per-request machinery
(contexts, hooks, blueprint dispatch, ``Response`` objects): that cost ~80 us of a ~190-us request
(docs/performance.md). :meth:`Gateway.__call__` runs, in order:

    route           the operation's view and path arguments (werkzeug's URL map, the API's rules only)
    pin_clock       the simulated instant for this request; settle the work due by then
    inject_fault    an HTTP fault rule matching the request: sleep, answer now, or carry on
    find_stub       a per-test answer (stub) matching the request: its answer now, or a patch for the view's
    authenticate    bearer token -> tenant, else 401
    validate        query and body against the operation's compiled checks (``api/inputs.py``)
    view            ``api/<resource>.py``: the simulation answers
    answer          JSON bytes, status line and headers; strict mode checks them against the contract
    record          the request journal: raw bytes and a few fields (``journal.Exchange``), masked when read
    observe         the metrics and the access log line (``observe.py``), when either is on

Everything else (the control API, the dashboard, artifact storage, 404s, 405s, ``OPTIONS``) goes to the Flask
app behind it, whose one before/after pair (``app.py``) does the same clock, guard and journal steps.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from contracts.spec import Contract, Operation
from contracts.validate import response_problems, violation_message
from mock_server.api import API_PREFIX, Call, Reply, Route
from mock_server.api.inputs import check_body, check_params, parse_body, parse_json_body
from mock_server.config import SimConfig
from mock_server.errors import ApiError
from mock_server.faults import apply_before, shape_body
from mock_server.journal import Exchange, environ_headers, journal_body
from mock_server.masking import mask_text
from mock_server.observe import Observer
from mock_server.sim import Simulator

log = logging.getLogger("ltx_mock")
API_PREFIX_SLASH = API_PREFIX + "/"
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
JSON = "application/json"
NO_BODY_TYPE = "text/html; charset=utf-8"  # what Flask's Response(status=204) sends, kept for byte-equal answers
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
    if not path.startswith(API_PREFIX):
        return []
    methods = contract.methods(path[len(API_PREFIX):])
    if "GET" in methods:
        methods.append("HEAD")
    return [*methods, "OPTIONS"] if methods else []


def status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"  # as werkzeug writes it


class Gateway:
    """WSGI app serving the API's operations; anything else goes to ``fallback`` (the Flask app)."""

    def __init__(self, fallback: WsgiApp, sim: Simulator, config: SimConfig, contract: Contract,
                 routes: list[Route], observe: Observer | None = None) -> None:
        self.fallback = fallback
        self.observe = observe
        self.sim = sim
        self.faults = sim.faults  # the rules are the simulator's; their HTTP shaping (apply_before) is faults.py's
        self.stubs = sim.stubs  # likewise: which stub answers is sim/stubs.py's; its bytes are sent here
        self.journal = sim.journal
        self.config = config
        self.max_body = config.max_upload_bytes + 1  # one byte over: a cut chunked body still shows it was long
        self.waits = threading.BoundedSemaphore(max(0, config.poll_waits))
        self.contract = contract
        self.routes = {r.endpoint: (r, contract[r.operation_id]) for r in routes}
        rules = [Rule(API_PREFIX + r.rule, endpoint=r.endpoint, methods=[r.method], strict_slashes=r.strict_slashes)
                 for r in routes]
        self.urls = Map(rules).bind("localhost")  # matching reads only the path and method: one adapter for all

    # -- the request path, step by step ---------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        found = self.route(environ)
        if found is None:
            return self.guarded(self.fallback, environ, start_response)
        req, (route, op), args = found
        t0 = time.perf_counter()
        environ["ltx.operation"] = op.operation_id  # what the metrics and the access log name, even for a 401
        started, later = deferred_start()

        try:
            try:
                now = self.pin_clock(req.method not in ("GET", "HEAD"))  # the journal is not written here
                result = self.serve(environ, later, req, route, op, args, now, t0)
            finally:
                self.sim.end_request()  # Redis: the request's one commit, before the server writes the body
        except Exception as exc:  # the store failed where no view could answer (start, journal, commit)
            return self.failed(exc, req.method, req.path, start_response)
        start_response(*started)  # only now: a failed commit above still answers 503, not the view's 200
        return result

    def guarded(self, app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Flask's requests: a store failure that escapes its handlers (its teardown's commit) still answers
        in the error shape."""
        started, later = deferred_start()

        try:
            result = app(environ, later)
        except Exception as exc:
            return self.failed(exc, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), start_response)
        start_response(*started)
        return result

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
        if self.observe is not None:
            self.observe.failed(exc)  # the metrics count the store's failures
        failure = self.sim.store_failure(exc)
        if failure is not None:
            log.warning("%s %s: %s", method, mask_text(path[:500]), failure.message)
            return failure.status, failure.body(), failure.headers
        log.exception("unhandled error on %s %s", method, mask_text(path[:500]))
        return 500, internal_error(exc), ()

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any], req: Request, route: Route,
              op: Operation, args: dict[str, Any], now: int, t0: float) -> Iterable[bytes]:
        """Fault, authentication, validation, the view, the answer and its journal entry."""
        tenant: str | None = None
        fault: dict[str, Any] | None = None
        stub: dict[str, Any] | None = None
        reached: Operation | None = None  # set once authenticated: what strict mode and the journal name
        try:
            fault = self.faults.match(req.method, req.path)
            early = self.inject_fault(fault, environ, now) if fault is not None else None
            if early is not None:
                return self.send_response(environ, start_response, req, early, now, t0, tenant, fault)
            stub = self.find_stub(req, op)
            if stub is not None and "patch" not in stub["answer"]:
                return self.answer(environ, start_response, req, op, 200, None, (), now, t0, tenant, fault, stub)
            tenant = self.authenticate(req)
            reached = op
            query, data = self.validate(req, route, op)
            result = route.view(Call(self.sim, req, op, tenant, now, query, data, environ.get("ltx.admission"),
                                     self.waits), **args)
            status, body, headers = (result.status, result.body, result.headers) if type(result) is Reply \
                else (200, result, ())
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except HTTPException as exc:
            status, body, headers = self.http_error(req, exc)
        except TimeoutError:  # --server werkzeug reads the body here: it went silent past --body-timeout
            environ["ltx.body"] = b""
            status, body, headers = 408, {"error": body_timeout_message(self.config.body_timeout_s), "code": 408}, ()
        except Exception as exc:
            status, body, headers = self.error_answer(exc, req.method, req.path)
        if stub is not None:
            reached = op
        return self.answer(environ, start_response, req, reached, status, body, headers, now, t0, tenant, fault,
                           stub)

    def route(self, environ: dict[str, Any]) -> tuple[Request, tuple[Route, Operation], dict[str, Any]] | None:
        """The request, its operation and path arguments; None for anything that is not an API operation."""
        if not environ.get("PATH_INFO", "").startswith(API_PREFIX_SLASH) or environ["REQUEST_METHOD"] == "OPTIONS":
            return None
        req = Request(environ)
        req.max_content_length = self.max_body
        path, method = req.path, req.method
        methods = allowed_methods(self.contract, path)
        if methods and method not in methods:
            return None  # 405 with the contract's Allow header, even where a rule would match (DELETE .../available)
        try:
            endpoint, args = self._match(path, method)
        except HTTPException:  # 404, 405 and redirects: Flask's answers, as before
            return None
        return req, self.routes[endpoint], dict(args)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one gateway per app; a client polls the same job's URL
    def _match(self, path: str, method: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """werkzeug's matching (its rules, slashes and converters), remembered per path: ~10 us saved per hit."""
        endpoint, args = self.urls.match(path, method)
        return endpoint, tuple(args.items())

    def pin_clock(self, writes: bool) -> int:
        """The simulated instant the whole request sees; work due by then is applied first. One consistent view
        of the store for the request (Redis: the lock and catching up in one round trip when it ``writes``)."""
        return self.sim.begin_request(writes=writes)

    def inject_fault(self, fault: dict[str, Any], environ: dict[str, Any], now: int) -> Response | None:
        """Apply a matching fault rule: latency sleeps here; a status raises; a broken connection answers now."""
        return apply_before(self.faults, fault, environ, now)

    def find_stub(self, req: Request, op: Operation) -> dict[str, Any] | None:
        """The stub that answers this request (sim/stubs.py decides; its count is taken), else None.

        Matched before authentication, so a stub can answer what the simulator would refuse; a stub naming a
        tenant matches only that token's requests. The body is parsed only if a candidate matches on it."""
        candidates = self.stubs.candidates(op.operation_id, req.method)
        if not candidates:
            return None  # no stub could answer: one small meta read, nothing else
        environ = req.environ

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

        return self.stubs.match(op.operation_id, req.method, req.path, tenant, body, candidates)

    def stub_answer(self, stub: dict[str, Any], status: int, body: Any, headers: tuple[tuple[str, str], ...]
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

    def bearer_tenant(self, environ: dict[str, Any]) -> str | None:
        """The tenant of the request's bearer token, else None (authentication's and a stub's tenant match)."""
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        return self.sim.tenant_for(token.strip()) if scheme.lower() == "bearer" else None

    def authenticate(self, req: Request) -> str:
        """The tenant of the bearer token, else 401."""
        tenant = self.bearer_tenant(req.environ)
        if tenant is None:
            raise ApiError(401, "Unauthorized")
        return tenant

    def validate(self, req: Request, route: Route, op: Operation) -> tuple[dict[str, Any], dict[str, Any]]:
        """The query and (unless the view reads the body itself) the body, checked against the contract."""
        environ = req.environ
        query = check_params(op, "query", req.args if environ.get("QUERY_STRING") else {})
        data: dict[str, Any] = {}
        if route.body and op.body_schemas:
            raw = self.json_body(environ)
            data = parse_json_body(raw) if raw is not None else parse_body(op, req)
            check_body(op, data)
        return query, data

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

    def http_error(self, req: Request, exc: HTTPException) -> tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]:
        if isinstance(exc, ClientDisconnected) and timed_out(exc):  # werkzeug's stream: a silent chunked body
            req.environ["ltx.body"] = b""
            return 408, {"error": body_timeout_message(self.config.body_timeout_s), "code": 408}, ()
        status = exc.code or 500
        message = http_error_message(status, exc.name, exc.description, req.method, req.path,
                                     self.config.max_upload_bytes)
        return status, {"error": message, "code": status}, ()

    def answer(self, environ: dict[str, Any], start_response: Callable[..., Any], req: Request,
               op: Operation | None, status: int, body: Any, headers: tuple[tuple[str, str], ...], now: int,
               t0: float, tenant: str | None, fault: dict[str, Any] | None,
               stub: dict[str, Any] | None = None) -> Iterable[bytes]:
        """Send the JSON answer (strict mode: checked against the contract first) and record it.

        A stub's answer is sent as the stub says even outside the contract (that is what it is for): strict
        mode then logs the violation as the stub's and the journal entry carries it (``stub_violation``)."""
        violation: str | None = None
        if stub is not None:
            status, payload, content_type, headers = self.stub_answer(stub, status, body, headers)
            violation = self.stub_violation(stub, op, status, content_type, payload)
        else:
            payload = dump_json(body) if body is not None else b""
            content_type = JSON if body is not None else NO_BODY_TYPE
        if op is not None and self.config.strict_responses and stub is None:
            problem = strict_problem(op, status, content_type, payload)
            if problem is not None:
                status, headers, content_type = 500, (), JSON
                payload = dump_json(violation_error(problem))
        if payload:
            out = [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers]
        else:
            out = [("Content-Type", content_type), *headers]
        if self.config.journal:
            self.record(req, op, status, payload, content_type, now, t0, tenant, fault, stub, violation)
        if self.observe is not None:
            self.observe(environ, req.method, req.path, status, time.perf_counter() - t0, environ["ltx.operation"],
                         tenant)
        spoiled = shape_body(fault, out, payload) if fault is not None and req.method != "HEAD" else None
        if spoiled is not None:  # a truncated_body or dribble fault: the answer's bytes, spoiled on the way out
            start_response(status_line(status), spoiled[0])
            return spoiled[1]
        start_response(status_line(status), out)
        return [] if req.method == "HEAD" else [payload]

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

    def send_response(self, environ: dict[str, Any], start_response: Callable[..., Any], req: Request,
                      response: Response, now: int, t0: float, tenant: str | None,
                      fault: dict[str, Any] | None) -> Iterable[bytes]:
        """Send a ready-made response (a fault's dropped connection) and record it."""
        if self.config.journal:
            data = response.get_data() if not response.direct_passthrough else b""
            self.record(req, None, response.status_code, data, response.mimetype, now, t0, tenant, fault)
        if self.observe is not None:
            self.observe(environ, req.method, req.path, response.status_code, time.perf_counter() - t0,
                         environ["ltx.operation"], tenant)
        return response(environ, start_response)

    def record(self, req: Request, op: Operation | None, status: int, payload: bytes, content_type: str | None,
               now: int, t0: float, tenant: str | None, fault: dict[str, Any] | None,
               stub: dict[str, Any] | None = None, stub_violation: str | None = None) -> None:
        """Append this exchange to the journal: raw parts only; masking and parsing wait for a reader."""
        environ = req.environ
        body: bytes | str | dict[str, str] | None = environ.get("ltx.body")  # read by json_body
        if body is not None:
            mimetype = JSON
            body = body or None
        elif environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
            mimetype = req.mimetype
            body = journal_body(req, mimetype)
        else:
            mimetype = req.mimetype if environ.get("CONTENT_TYPE") else ""
        self.journal.append(Exchange(
            sim_ms=now, method=req.method, path=req.path, query_string=environ.get("QUERY_STRING", ""),
            headers=environ_headers(environ), body=body, body_type=mimetype, status=status, response=payload,
            response_type=content_type, duration_ms=round((time.perf_counter() - t0) * 1000, 3),
            operation=op.operation_id if op else None, tenant=tenant, fault=fault.get("id") if fault else None,
            stub=stub["id"] if stub else None, stub_violation=stub_violation))
