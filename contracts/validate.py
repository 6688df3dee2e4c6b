"""Validate a real ``requests.Response`` against the contract: fast enough for every response of a suite.

``response_problems`` is the one response validator: ``validate_response`` (client tests, the toolkit),
the simulator's strict mode (``mock_server/app.py``) and ``ltx-mock proxy`` all judge an answer with it,
and word a violation with ``violation_message``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contracts.spec import Operation, get_contract


class ContractViolation(AssertionError):
    """A response the contract does not allow."""


@dataclass(frozen=True)
class Problem:
    """One way an answer leaves the contract: which rule, where in the body ("" for none), what is wrong."""

    check: str  # status_code_conformance, content_type_conformance, response_schema_conformance
    where: str  # JSON path in the body, e.g. "demo@example.com.maxJobs"
    message: str


def response_problems(op: Operation, status: int, content_type: str, body: bytes) -> list[Problem]:
    """Everything wrong with an answer of ``op`` (status, media type, body schema); empty when it fits.

    An empty body fits a 204, or a status whose documented answer (itself, else ``4XX``/``5XX``, else
    ``default``) has no content. ``validate_response`` raises on the first; ``ltx-mock proxy`` reports
    them all with their JSON paths.
    """
    key = op.response_key(status)
    if key is None:
        return [Problem("status_code_conformance", "", f"status {status} is not documented for {op.operation_id}")]
    content = op.responses[key]
    if not body:
        if status == 204 or not content:
            return []
        return [Problem("content_type_conformance", "", f"{op.operation_id} {status}: empty body, a JSON body "
                                                          "is documented")]
    mimetype = content_type.split(";")[0].strip()
    if content and mimetype not in content:
        return [Problem("content_type_conformance", "", f"{op.operation_id} {status}: media type "
                                                          f"{mimetype or '(none)'!r} is not documented "
                                                          f"(only {', '.join(content)})")]
    if content and "json" not in mimetype:
        return []  # a documented text answer (Prometheus' text/plain, HTML): its media type is what can be judged
    if type(body) is not bytes or len(body) > VERDICT_BODY_LIMIT:  # unhashable, or too big to keep
        return list(_json_problems.__wrapped__(op, status, mimetype, body))
    return list(_json_problems(op, status, mimetype, body))


#: Largest JSON body whose verdict is remembered (``_json_problems``); 256 of them at most, so at most 4 MiB.
VERDICT_BODY_LIMIT = 16 * 1024


@functools.lru_cache(maxsize=256)
def _json_problems(op: Operation, status: int, mimetype: str, body: bytes) -> tuple[Problem, ...]:
    """The verdict on a JSON body, remembered: a poll loop is sent the same answer again and again.

    A pure function of its arguments (an operation compares by identity and its compiled checks never
    change), so a byte-identical answer gets the verdict it got before without being parsed and validated
    again (a 553-byte getJob answer: 9.3 -> 1.1 us a check). Problems are frozen; callers get a list of their
    own.
    """
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return (Problem("content_type_conformance", "", f"{op.operation_id} {status}: body is not JSON"),)
    check = op.response_check(status, mimetype)
    if check is None or check.is_valid(parsed):  # the common case, without building any message
        return ()
    return tuple(Problem("response_schema_conformance", where, message) for where, message in check.problems(parsed))


def violation_message(op: Operation, status: int, problems: list[Problem]) -> str:
    """One line naming what is wrong (the first problem that is not the body's shape, else every shape error)."""
    first = problems[0]
    if first.check != "response_schema_conformance":
        return first.message
    errors = [f"{p.where}: {p.message}" if p.where else p.message for p in problems]
    return f"{op.operation_id} {status}: {'; '.join(errors)}"


def validate_response(operation_id: str | None, response: Any) -> Any:
    """Raise ContractViolation unless ``response`` (a requests.Response) fits ``operation_id``.

    With ``operation_id=None`` the operation is found from the request's method and URL.
    Returns the parsed body.
    """
    contract = get_contract()
    if operation_id is None:
        path = urlsplit(response.request.url).path
        prefix = contract.server_prefix
        rel = path[len(prefix):] if path.startswith(prefix) else path
        op = contract.match(response.request.method, rel)
        if op is None:
            raise ContractViolation(f"no operation for {response.request.method} {path}")
    else:
        op = contract[operation_id]
    problems = response_problems(op, response.status_code, response.headers.get("Content-Type", ""),
                                 response.content)
    if problems:
        raise ContractViolation(violation_message(op, response.status_code, problems))
    return json.loads(response.content) if response.content else None
