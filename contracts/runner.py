"""Run the contract against a live server: schemathesis (4.x engine API) plus this API's semantic checks.

``run_checks(base_url, token)`` drives schemathesis from Python, not through
its CLI, so that every response also goes through ``contracts.checks`` and the
result is one ``Report``: for each failure, the request that reproduces it as
a curl command, what was expected and what came back.

A run has four parts:

1. a preflight GET /accounts (is the server there, is the token good, which
   account emails exist, so generated requests can name a real account);
2. schemathesis' phases (examples, coverage, fuzzing, stateful along the spec's
   links) with all its response checks, and our checks on every response;
3. a final sweep: every job seen is polled again (status must not go back),
   jobs seen completed are polled until their artifact shows, and the
   scheduler, asset list and accounts are read once more;
4. the report.

Against a host that is not loopback a selection with any operation that spends
credits or changes state (every non-GET) is refused (``UnsafeTarget``) unless
the caller passes ``read_only=True`` (GETs only) or ``allow_spend=True``;
``deleteAccount`` is left out for such a host unless named in ``include``.

Our check and ``before_call`` hook are registered with schemathesis globally
(it has no per-run registry), once, and do nothing outside a ``run_checks``.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import shlex
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from contracts import checks as semantic
from contracts.spec import get_contract, load_spec

#: Examples per operation for the fuzzing and stateful phases. Measured: a full run against the
#: simulator (``ltx-mock serve --speed 1000``) takes well under the two-minute budget with it.
DEFAULT_MAX_EXAMPLES = 100
DEFAULT_ARTIFACT_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 3  # "each attempt waits 3 seconds" (the docs' pollForResult)
POLL_FOR_RESULT_MAX = 20  # openapi.yaml's PollForResult maximum (tests/contracts check the two agree)
REQUEST_TIMEOUT_MARGIN_S = 30.0  # on top of the longest hold: transport and the server's own work


def longest_legitimate_wait_s(spec: str | None = None) -> float:
    """The longest a conforming server may hold one request: ``pollForResult`` at its maximum × 3 s (60 s).

    A simulator holds such a request for at most that many *real* seconds at any speed (slower clocks
    are cut off there), and a paused one answers at once, so this bounds every server we check.
    """
    schema = load_spec(spec).get("components", {}).get("schemas", {}).get("PollForResult", {})
    return float(schema.get("maximum", POLL_FOR_RESULT_MAX)) * POLL_INTERVAL_S


#: Per-request timeout of ``ltx-mock check``: a legitimate pollForResult hold must never look like a hang.
#: A constant (not read from the spec at import): ``ltx-mock`` starts without parsing openapi.yaml.
DEFAULT_REQUEST_TIMEOUT_S = POLL_FOR_RESULT_MAX * POLL_INTERVAL_S + REQUEST_TIMEOUT_MARGIN_S
PHASES = ("examples", "coverage", "fuzzing", "stateful")
READ_ONLY_METHODS = frozenset({"GET"})
SAFE_PROBE_METHODS = ("OPTIONS", "TRACE")
NEVER_REMOTE = frozenset({"deleteAccount"})  # would delete the user's own account configuration
TOKEN_PLACEHOLDER = "$USEAPI_TOKEN"

#: What each schemathesis check expects, for the report's "expected" line.
EXPECTATIONS = {
    "not_a_server_error": "no 5xx: every request, valid or not, gets a documented 2xx or 4xx answer",
    "status_code_conformance": "a status code documented for this operation in openapi.yaml",
    "content_type_conformance": "a Content-Type documented for this status",
    "response_schema_conformance": "a body valid against the documented response schema",
    "response_headers_conformance": "the documented response headers",
    "positive_data_acceptance": "a schema-valid request accepted (2xx; 400 only for an unknown account/asset)",
    "negative_data_rejection": "a request the schema forbids rejected with a 4xx",
    "use_after_free": "404 for a resource after it was deleted",
    "ensure_resource_availability": "a created resource to be retrievable right after",
    "missing_required_header": "a 4xx when a required header is missing",
    "ignored_auth": "401 when the Authorization header is missing or its token is wrong",
    "unsupported_method": "405 with an Allow header for a method the path does not document",
    "allow_header_conformance": "an Allow header listing exactly the documented methods",
    "max_response_time": "an answer within the response time limit",
}


class UnsafeTarget(RuntimeError):
    """The run would spend credits or change state on a host that is not this machine."""


@dataclass
class Failure:
    """One defect found: where, which check, what was expected, what came back, how to reproduce it."""

    operation: str  # "POST /images/create", or "run" for run-level problems
    check: str  # schemathesis check name or contracts.checks function name
    title: str  # what is wrong, e.g. "Server error", "secret leaked"
    message: str
    expected: str
    status: int | None = None
    response: str = ""  # the body that came back (truncated)
    curl: str = ""  # the request(s) that reproduce it
    code: str = ""  # schemathesis failure code (ST101 ...) or LTX for ours

    def format(self) -> str:
        lines = [f"[{self.code or 'LTX'}] {self.operation}: {self.title}  (check: {self.check})"]
        if self.message:
            lines += ["    " + line for line in self.message.strip().splitlines()]
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.status is not None:
            lines.append(f"  got:      {self.status} {self.response}".rstrip())
        if self.curl:
            lines.append("  reproduce:")
            lines += ["    " + line for line in self.curl.strip().splitlines()]
        return "\n".join(lines)


@dataclass
class Report:
    """The outcome of ``run_checks``: ``ok`` is True when nothing failed and nothing went wrong."""

    base_url: str
    seed: int | None
    max_examples: int
    operations: list[str] = field(default_factory=list)  # operation ids selected
    tested: set[str] = field(default_factory=set)  # operation labels that got requests
    cases: int = 0
    duration_s: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the run itself had trouble (network, schema)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        verdict = "PASSED" if self.ok else "FAILED"
        return (f"ltx-mock check {verdict}: {len(self.failures)} failure(s), {len(self.errors)} error(s); "
                f"{self.cases} test cases over {len(self.tested)}/{len(self.operations)} operations in "
                f"{self.duration_s:.1f}s (seed {self.seed}, max-examples {self.max_examples})")

    def format(self) -> str:
        """The readable report: every failure with its reproduction, then a one-line summary."""
        parts = [f"{i}. {f.format()}" for i, f in enumerate(self.failures, 1)]
        parts += [f"error: {e}" for e in self.errors]
        parts.append(self.summary())
        return "\n\n".join(parts)

    def raise_for_failures(self) -> None:
        """``assert``-style use in a test: raise AssertionError with the whole report unless ok."""
        if not self.ok:
            raise AssertionError(self.format())

    def write_junit(self, path: str, *, suite: str = "ltx-mock check") -> None:
        """A JUnit XML file: one test case per selected operation, its failures as <failure> elements."""
        contract = get_contract()
        labels = [f"{contract[op].method} {contract[op].path}" for op in self.operations]
        by_label: dict[str, list[Failure]] = {label: [] for label in labels}
        for f in self.failures:
            by_label.setdefault(f.operation, []).append(f)
        root = ET.Element("testsuite", name=suite, tests=str(len(by_label) + 1),
                          failures=str(sum(1 for v in by_label.values() if v)),
                          errors=str(1 if self.errors else 0), time=f"{self.duration_s:.3f}")
        for label, failures in by_label.items():
            case = ET.SubElement(root, "testcase", classname=suite, name=label)
            if failures:
                node = ET.SubElement(case, "failure", message="; ".join(sorted({f.title for f in failures})))
                node.text = "\n\n".join(f.format() for f in failures)
            elif label not in self.tested and label != "run":
                ET.SubElement(case, "skipped", message="no request reached this operation")
        run_case = ET.SubElement(root, "testcase", classname=suite, name="run")
        if self.errors:
            ET.SubElement(run_case, "error", message=self.errors[0]).text = "\n".join(self.errors)
        tree = ET.ElementTree(root)
        ET.indent(tree)
        tree.write(path, encoding="utf-8", xml_declaration=True)


# -- which operations ------------------------------------------------------
def is_loopback(base_url: str) -> bool:
    """Whether the URL points at this machine (the simulator), where spending is harmless."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_operations(names: Iterable[str]) -> list[str]:
    """Operation ids for ``names`` given as ids (``createImage``) or labels (``POST /images/create``)."""
    contract = get_contract()
    by_label = {f"{op.method} {op.path}".lower(): op_id for op_id, op in contract.operations.items()}
    by_id = {op_id.lower(): op_id for op_id in contract.operations}
    out = []
    for name in names:
        key = " ".join(name.split()).lower()
        op_id = by_id.get(key) or by_label.get(key) or by_label.get(key.rstrip("/") + "/")
        if op_id is None:
            raise ValueError(f"unknown operation {name!r}; known: {', '.join(contract.operations)}")
        out.append(op_id)
    return out


def select_operations(base_url: str, *, include: Sequence[str] = (), exclude: Sequence[str] = (),
                      read_only: bool = False, allow_spend: bool = False) -> list[str]:
    """The operation ids a run may use, after filters and the safety rules; UnsafeTarget if refused."""
    contract = get_contract()
    included = resolve_operations(include)
    chosen = included or list(contract.operations)
    excluded = set(resolve_operations(exclude))
    chosen = [op for op in chosen if op not in excluded]
    if read_only:
        chosen = [op for op in chosen if contract[op].method in READ_ONLY_METHODS]
    elif not is_loopback(base_url):
        chosen = [op for op in chosen if op not in NEVER_REMOTE or op in included]
        unsafe = [op for op in chosen if contract[op].method not in READ_ONLY_METHODS]
        if unsafe and not allow_spend:
            raise UnsafeTarget(
                f"{urlsplit(base_url).hostname} is not this machine and {len(unsafe)} selected operation(s) spend "
                f"credits or change state ({', '.join(unsafe)}). Pass --read-only to run only GETs, --exclude them, "
                "or --allow-spend if spending real credits is intended.")
    if not chosen:
        raise ValueError("no operation left to test after --include/--exclude/--read-only")
    return chosen


def links_between(operations: Sequence[str]) -> list[tuple[str, str]]:
    """The spec's links (source, target operation id) whose two ends are both in ``operations``."""
    from contracts.spec import resolve_refs

    contract = get_contract()
    chosen = set(operations)
    out = []
    for op_id in operations:
        responses = resolve_refs(contract[op_id].raw.get("responses", {}), contract.document)
        for response in responses.values():
            for link in (response.get("links") or {}).values():
                if link.get("operationId") in chosen:
                    out.append((op_id, link["operationId"]))
    return out


# -- the run's shared state (the schemathesis check and hook read it) ------------
class _Run:
    """State of the one run in progress: our history, observations and HTTP session."""

    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.history = semantic.JobHistory()
        self.before: dict[str, semantic.Observation] = {}
        self.labels = {f"{op.method} {op.path}": op_id for op_id, op in get_contract().operations.items()}
        self.seen_responses: set[int] = set()
        self.keep: list[Any] = []  # responses seen, kept alive so that their ids stay unique
        self.lock = threading.Lock()
        self.emails: list[str] | None = None  # configured accounts; None: read them again

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=self.timeout)

    def observe(self) -> semantic.Observation:
        if self.emails is None:
            self.emails = _account_emails(self)
        return semantic.observe(lambda p: self.get(quote(p, safe="/@")), self.emails)


_ACTIVE: _Run | None = None
_ACTIVE_LOCK = threading.Lock()


def _register_with_schemathesis() -> None:
    """Register our check and hook with schemathesis once; both do nothing outside a run."""
    import schemathesis
    from schemathesis.core.failures import CustomFailure, FailureGroup

    @schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: Any) -> None:
        run = _ACTIVE
        if run is None or run.labels.get(case.operation.label) not in semantic.GENERATION_OPERATIONS:
            return
        meta = case.meta
        if meta is not None and meta.generation.mode.is_negative:
            return  # a request the schema forbids gets a 400 before any credit or slot is looked at
        try:
            run.before[case.id] = run.observe()
        except Exception:  # an unreadable observation must not break the request it precedes
            run.before.pop(case.id, None)

    @schemathesis.check
    class ltx_semantics:  # schemathesis names a check after its class
        """This API's semantic checks (contracts.checks) on every response of an ``ltx-mock check`` run."""

        def after_response(self, ctx: Any, response: Any, case: Any) -> bool | None:
            run = _ACTIVE
            if run is None:
                return True  # not ours: skip
            op_id = run.labels.get(case.operation.label)
            view = semantic.ResponseView(response, op_id)
            if op_id in ("createAccount", "deleteAccount") and view.status < 300:
                run.emails = None  # the set of accounts changed
            with run.lock:
                fresh = id(response) not in run.seen_responses
                if fresh:
                    run.seen_responses.add(id(response))
                    run.keep.append(response)
                found = semantic.semantic_failures(view, run.history if fresh else None)
                before = run.before.pop(case.id, None)
            if before is not None and view.status in (402, 429):
                try:
                    semantic.check_refusal_side_effects(view, before, run.observe())
                except semantic.CheckFailure as exc:
                    found.append(("check_refusal_side_effects", exc))
                except Exception:  # no "after" observation, no verdict
                    pass
            if not found:
                return None
            failures = []
            for name, failure in found:
                failure.check = name
                failures.append(CustomFailure(operation=case.operation.label, title=failure.defect,
                                              message=failure.detail, exception=failure))
            if len(failures) == 1:
                raise failures[0]
            raise FailureGroup(failures)


_REGISTERED = False


def _ensure_registered() -> None:
    global _REGISTERED
    if not _REGISTERED:
        _register_with_schemathesis()
        _REGISTERED = True


# -- the run ---------------------------------------------------------------
def _config(base_url: str, token: str, *, seed: int | None, max_examples: int, phases: Sequence[str],
            emails: list[str], request_timeout: float, max_steps: int | None, read_only: bool = False) -> Any:
    import schemathesis

    data: dict[str, Any] = {
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"},
        "workers": 1,  # our job history needs responses in the order the server produced them
        "request-timeout": request_timeout,
        "warnings": False,
        "output": {"sanitization": {"enabled": False}},  # we mask the token ourselves, keeping curl runnable
        "generation": {"max-examples": max_examples, "database": "none"},
        "phases": {name: {"enabled": name in phases} for name in PHASES},
        "checks": {
            # A schema-valid request may still name an account or asset that does not exist: the
            # contract documents 400 for that (see the BadRequest response).
            "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "402", "403", "404",
                                                               "409", "429", "5xx"]},
        },
    }
    if read_only:
        # The coverage phase probes each path with undocumented methods (PUT, PATCH, DELETE...);
        # only harmless ones when nothing may change.
        data["phases"]["coverage"]["unexpected-methods"] = list(SAFE_PROBE_METHODS)
    if max_steps:
        data["phases"]["stateful"]["max-steps"] = max_steps
    if seed is not None:
        data["seed"] = seed
    if emails:
        # Most generated requests name a configured account, so they get past "unknown account".
        data["dictionaries"] = {"ltx_accounts": {"values": emails}}
        binding = {"dictionary": "ltx_accounts", "probability": 0.8}
        data["parameters"] = {"query.email": binding, "body.email": binding}
        data["operations"] = [{"include-operation-id": "getAccount", "parameters": {"path.email": binding}}]
    return schemathesis.Config.from_dict(data)


def _account_emails(run: _Run) -> list[str]:
    resp = run.get("/accounts")
    if resp.status_code == 401:
        raise RuntimeError(f"{run.base_url} refused the token (401): check --token")
    try:
        body = resp.json() if resp.status_code == 200 else None
    except ValueError:
        body = None
    return sorted(body) if isinstance(body, dict) else []


def _preflight(run: _Run) -> list[str]:
    """The configured account emails; raise RuntimeError with a readable reason if the server is unusable."""
    try:
        run.emails = _account_emails(run)
    except requests.RequestException as exc:
        raise RuntimeError(f"cannot reach {run.base_url}: {exc}") from None
    return run.emails


def run_checks(base_url: str, token: str, *, max_examples: int = DEFAULT_MAX_EXAMPLES, seed: int | None = None,
               read_only: bool = False, allow_spend: bool = False, include: Sequence[str] = (),
               exclude: Sequence[str] = (), phases: Sequence[str] = PHASES, spec: str | None = None,
               artifact_timeout_s: float = DEFAULT_ARTIFACT_TIMEOUT_S,
               request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
               max_steps: int | None = None, progress: Callable[[str], None] | None = None) -> Report:
    """Check the server at ``base_url`` (the API root, e.g. http://127.0.0.1:8787/v1/ltxstudio) against the contract.

    Runs schemathesis stateless over the selected operations and stateful along the spec's links,
    with all its checks plus ``contracts.checks``; returns a Report (``.ok``, ``.failures``).
    Raises UnsafeTarget when the selection would spend credits on a non-loopback host without
    ``allow_spend``, ValueError for unknown operation names.
    """
    import schemathesis
    from schemathesis.engine import events, from_schema
    from schemathesis.engine.statistic import Statistic
    from schemathesis.schemas import BaseSchema

    global _ACTIVE
    started = time.monotonic()
    base_url = base_url.rstrip("/")
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        raise ValueError(f"unknown phase(s) {unknown}; known: {', '.join(PHASES)}")
    operations = select_operations(base_url, include=include, exclude=exclude, read_only=read_only,
                                   allow_spend=allow_spend)
    report = Report(base_url=base_url, seed=seed, max_examples=max_examples, operations=operations)
    say = progress or (lambda _msg: None)
    with _ACTIVE_LOCK:
        _ensure_registered()
        run = _Run(base_url, token, request_timeout)
        try:
            emails = _preflight(run)
        except RuntimeError as exc:
            report.errors.append(str(exc))
            report.duration_s = time.monotonic() - started
            return report
        if "stateful" in phases and not links_between(operations):
            phases = [p for p in phases if p != "stateful"]  # nothing to chain: schemathesis would complain
        config = _config(base_url, token, seed=seed, max_examples=max_examples, phases=phases, emails=emails,
                         request_timeout=request_timeout, max_steps=max_steps,
                         read_only=all(get_contract()[op].method in READ_ONLY_METHODS for op in operations))
        # The parsed spec is cached by contracts.spec; a deep copy spares parsing the YAML again.
        schema: BaseSchema = schemathesis.openapi.from_dict(copy.deepcopy(load_spec(spec)), config=config)
        # Exclude the rest rather than include these: config-level [[operations]] entries already
        # install an include-everything filter that an include() would only add to.
        skipped = [op for op in get_contract().operations if op not in operations]
        if skipped:
            schema = schema.exclude(operation_id=skipped)
        report.seed = schema.config.seed
        statistic = Statistic()
        _ACTIVE = run
        try:
            for event in from_schema(schema).execute():
                if isinstance(event, events.PhaseStarted):
                    say(f"phase {event.phase.name.value} ...")
                elif isinstance(event, events.ScenarioFinished):
                    statistic.on_scenario_finished(event.recorder)
                elif isinstance(event, events.NonFatalError):
                    report.errors.append(_redact(f"{event.label}: {event.info.format()}", token))
                elif isinstance(event, events.FatalError):
                    report.errors.append(f"schemathesis stopped: {event.exception}")
                elif isinstance(event, events.EngineFinished):
                    for failure in event.failures:
                        report.failures.append(_from_schemathesis("run", failure, None, None, token))
        finally:
            _ACTIVE = None
        report.cases = statistic.total_cases
        report.tested = set(statistic.tested_operations)
        for label, groups in sorted(statistic.failures.items()):
            for group in groups.values():
                for failure in group.failures:
                    report.failures.append(_from_schemathesis(label, failure, group.response, group.code_sample,
                                                              token))
        say("final sweep ...")
        _final_sweep(run, report, artifact_timeout_s)
    report.duration_s = time.monotonic() - started
    return report


def _from_schemathesis(label: str, failure: Any, response: Any, code_sample: str | None, token: str) -> Failure:
    exc = getattr(failure, "exception", None)
    if isinstance(exc, semantic.CheckFailure):
        check, title, message, expected = exc.check or "ltx_semantics", exc.defect, exc.detail, exc.expected
        code = "LTX"
    else:
        check = failure.checks[0] if failure.checks else "custom"
        title, message = failure.title, failure.message or ""
        expected = EXPECTATIONS.get(check, "")
        code = failure.code
    status = response.status_code if response is not None else None
    body = _clip_body(response.content) if response is not None else ""
    return Failure(operation=label, check=check, title=title, message=message, expected=expected, status=status,
                   response=body, curl=_redact(code_sample or "", token), code=code)


def _clip_body(content: bytes | None, limit: int = 600) -> str:
    text = (content or b"").decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def _redact(text: str, token: str) -> str:
    """Keep the API token out of reports: curl commands read it from $USEAPI_TOKEN instead."""
    if not token:
        return text
    text = text.replace(f"'Authorization: Bearer {token}'", f'"Authorization: Bearer {TOKEN_PLACEHOLDER}"')
    return text.replace(token, TOKEN_PLACEHOLDER) if len(token) >= 4 else text


def _curl(method: str, url: str) -> str:
    return f'curl -X {method} -H "Authorization: Bearer {TOKEN_PLACEHOLDER}" {shlex.quote(url)}'


# -- after schemathesis ------------------------------------------------------
def _waiter(base_url: str, session: requests.Session) -> Callable[[float], None]:
    """How to let ``s`` seconds pass on the server: advance a paused simulator, else sleep (scaled by its speed)."""
    if is_loopback(base_url):
        parts = urlsplit(base_url)
        admin = f"{parts.scheme}://{parts.netloc}/__admin/clock"
        token = os.environ.get("LTX_MOCK_ADMIN_TOKEN")  # a simulator serving with --admin-token
        auth = {"X-Admin-Token": token} if token else {}
        try:
            clock = session.get(admin, headers=auth, timeout=5).json()
        except (requests.RequestException, ValueError):
            clock = None
        if isinstance(clock, dict) and "paused" in clock:
            if clock.get("paused"):
                def advance(s: float) -> None:
                    session.post(admin, json={"advance": s}, headers=auth, timeout=5)

                return advance
            speed = float(clock.get("speed") or 1.0)
            return lambda s: time.sleep(min(s / max(speed, 1e-9), 5.0))
    return time.sleep


def _final_sweep(run: _Run, report: Report, artifact_timeout_s: float) -> None:
    """Read back what the run created, through the same checks; failures carry their own curl."""
    selected = set(report.operations)

    reported = {(f.operation, f.check, f.title) for f in report.failures}

    def record(check: str, exc: semantic.CheckFailure, resp: requests.Response | None, label: str) -> None:
        if (label, check, exc.defect) in reported:
            return  # one example of each defect is enough
        reported.add((label, check, exc.defect))
        report.failures.append(Failure(
            operation=label, check=check, title=exc.defect, message=exc.detail, expected=exc.expected,
            status=resp.status_code if resp is not None else None,
            response=_clip_body(resp.content) if resp is not None else "",
            curl=_curl("GET", resp.request.url) if resp is not None and resp.request.url else "", code="LTX"))

    def sweep(path: str, label: str) -> requests.Response | None:
        try:
            resp = run.get(path)
        except requests.RequestException as exc:
            report.errors.append(f"final sweep GET {path}: {exc}")
            return None
        for name, failure in semantic.semantic_failures(resp, run.history):
            record(name, failure, resp, label)
        return resp

    try:
        if "getJob" in selected:
            for job_id in run.history.job_ids()[:50]:
                sweep("/assets/" + quote(job_id, safe=""), "GET /assets/{jobId}")
            last: dict[str, requests.Response] = {}

            def fetch(job_id: str) -> requests.Response:
                resp = run.get("/assets/" + quote(job_id, safe=""))
                last[job_id] = resp
                return resp

            pending = run.history.pending_artifacts()
            try:
                semantic.check_artifacts_arrived(run.history, fetch, timeout_s=artifact_timeout_s,
                                                 wait=_waiter(run.base_url, run.session))
            except semantic.CheckFailure as exc:
                still = [j for j in pending if j in run.history.pending_artifacts()]
                record("check_artifacts_arrived", exc, last.get(still[0]) if still else None, "GET /assets/{jobId}")
        for op_id, path in (("getSchedulerAvailable", "/scheduler/available"), ("listRunningJobs", "/scheduler"),
                            ("listAssets", "/assets/"), ("listAccounts", "/accounts")):
            if op_id in selected:
                sweep(path, f"GET {get_contract()[op_id].path}")
    except requests.RequestException as exc:
        report.errors.append(f"final sweep: {exc}")


__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "Failure",
    "Report",
    "UnsafeTarget",
    "is_loopback",
    "links_between",
    "resolve_operations",
    "run_checks",
    "select_operations",
]
