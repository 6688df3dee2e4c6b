"""Judging each proxied exchange with the same functions ``ltx-mock check`` uses.

- the request against ``openapi.yaml`` (query and path parameters, JSON or form body) with the simulator's own
  request validator (``mock_server/api/inputs.py: request_problems``: Prism's shape, one validator whether the
  answer is mocked or forwarded);
- the answer against ``openapi.yaml`` (documented status, media type, body schema) with
  ``contracts.validate.response_problems``, which ``validate_response`` is built on;
- this API's semantic checks from ``contracts.checks``: the stateless ones on every answer (id
  formats, secrets masked, ``executing <= maxJobs``, pagination) and, over the whole sequence,
  ``check_job_status`` with one ``JobHistory`` (a job's status only moves forward).

A request the contract forbids is a violation only when the upstream accepted it: a 4xx means
the upstream agreed it was bad, which is the contract holding. The checks that need extra reads
(``check_refusal_side_effects``, ``check_artifacts_arrived``) are not run: the proxy never
sends a request of its own with the caller's token.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO
from urllib.parse import unquote

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from contracts import checks as semantic
from contracts.spec import Operation, get_contract
from contracts.validate import response_problems
from mock_server.api import inputs
from mock_server.masking import mask_text, mask_url
from mock_server.proxy.forward import Exchange


@dataclass
class Violation:
    """One way one exchange left the contract; its texts already masked (``mock_server/masking.py``)."""

    method: str
    path: str
    status: int
    operation: str  # "GET /accounts" (the contract's label), or the method and path when undocumented
    operation_id: str | None
    check: str  # the check that failed: response_schema_conformance, check_job_status, ...
    problem: str
    json_path: str | None  # where in the body ("available[0].executing"); None when about the status or request
    at: float

    def line(self) -> str:
        """The one line printed on stderr."""
        where = f" at {self.json_path}" if self.json_path else ""
        return (f"ltx-mock proxy: VIOLATION {self.operation} -> {self.status} ({self.check}){where}: "
                f"{self.problem}  [{self.method} {self.path}]")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(op: Operation | None, method: str, path: str) -> str:
    return f"{op.method} {op.path}" if op else f"{method} {mask_url(path)}"


def request_problems(op: Operation, exchange: Exchange) -> list[tuple[str, str]]:
    """(JSON path, message) for each way the request breaks the contract's parameters or body: the simulator's own
    validator (``api/inputs.py: request_problems``, what its ``validate`` step runs) over the request as sent."""
    prefix = get_contract().server_prefix
    path = unquote(exchange.path)
    rel = path[len(prefix):] if path.startswith(prefix) else exchange.path
    m = op.path_regex.match(rel) or op.path_regex.match(rel.rstrip("/") + "/") or op.path_regex.match(rel.rstrip("/"))
    headers = [("Content-Type", exchange.request_headers["content-type"])] \
        if "content-type" in exchange.request_headers else []
    environ = EnvironBuilder(method=exchange.method, query_string=exchange.query, headers=headers,
                             data=exchange.request_body or b"").get_environ()
    return inputs.request_problems(op, Request(environ), m.groupdict() if m else {},
                                   body=exchange.request_body is not None)


class Violations:
    """Every violation seen so far (newest last), the operations seen, and the job history."""

    def __init__(self, *, stream: TextIO | None = sys.stderr, clock: Callable[[], float] = time.time) -> None:
        self.stream = stream
        self.clock = clock
        self.history = semantic.JobHistory()
        self.items: list[Violation] = []
        self.seen: dict[str, int] = {}  # operation label -> exchanges
        self.ids: dict[str, str | None] = {}  # operation label -> operation id
        self.lock = threading.Lock()

    def inspect(self, exchange: Exchange) -> list[Violation]:
        """Judge one exchange of the API (paths under the contract's prefix); record and print what is wrong."""
        contract = get_contract()
        path = unquote(exchange.path)
        if not (path == contract.server_prefix or path.startswith(contract.server_prefix + "/")):
            return []
        op = semantic.operation_for(exchange.method, path)
        label = _label(op, exchange.method, path)
        found: list[tuple[str, str, str | None]] = []  # (check, problem, json path)
        status = exchange.status_code
        if op is None:
            if status < 400:
                found.append(("operation_documented", f"the upstream answered {status} to an operation openapi.yaml "
                                                      "does not document", None))
        else:
            if not 400 <= status < 500:
                for where, message in request_problems(op, exchange):
                    found.append(("request_conformance", f"the request breaks the contract ({where}: {message}) "
                                                         "yet the upstream did not refuse it", None))
            if exchange.content is None:
                body_problems = [p for p in response_problems(op, status, "", b"")
                                 if p.check == "status_code_conformance"]
            else:
                body_problems = response_problems(op, status, exchange.headers.get("Content-Type", ""),
                                                  exchange.content)
            for p in body_problems:
                found.append((p.check, p.message, p.where or None))
        with self.lock:
            self.seen[label] = self.seen.get(label, 0) + 1
            self.ids[label] = op.operation_id if op else None
            if op is not None and exchange.content is not None and exchange.complete:
                view = semantic.ResponseView(exchange, op.operation_id)
                for name, exc in semantic.semantic_failures(view, self.history):
                    found.append((name, f"{exc.defect}: {exc.detail}", getattr(exc, "where", "") or None))
            # Masked once, here: the stderr line, /__proxy/violations and the JUnit report all show this
            shown = mask_url(exchange.path + (f"?{exchange.query}" if exchange.query else ""))
            out = [Violation(method=exchange.method, path=shown, status=status, operation=label,
                             operation_id=op.operation_id if op else None, check=check, problem=mask_text(problem),
                             json_path=mask_text(where) if where else None, at=self.clock())
                   for check, problem, where in found]
            self.items.extend(out)
        for v in out:
            if self.stream is not None:
                print(v.line(), file=self.stream, flush=True)
        return out

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [v.as_dict() for v in self.items]

    def write_junit(self, path: str, *, duration_s: float = 0.0) -> None:
        """A JUnit XML file: one test case per operation seen, its violations as <failure> elements.

        Built with ``contracts.runner.Report.write_junit``, the same writer ``ltx-mock check`` uses.
        """
        from contracts.runner import Failure, Report

        with self.lock:
            seen = dict(self.seen)
            ids = dict(self.ids)
            items = list(self.items)
        report = Report(base_url="", seed=None, max_examples=0)
        report.operations = [op_id for label, op_id in ids.items() if op_id]
        report.tested = set(seen)
        report.cases = sum(seen.values())
        report.duration_s = duration_s
        for v in items:
            report.failures.append(Failure(
                operation=v.operation, check=v.check, title=v.problem.split(":")[0][:120],
                message=f"{v.method} {v.path} -> {v.status}" + (f"\nat {v.json_path}" if v.json_path else "")
                        + f"\n{v.problem}", expected="", status=v.status, code="LTX-PROXY"))
        report.write_junit(path, suite="ltx-mock proxy")
