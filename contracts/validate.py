"""Validate a real ``requests.Response`` against the contract: fast enough for every response of a suite."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ltxstudio_mock.contracts.spec import Operation, get_contract


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

    ``validate_response`` raises on the first; ``ltx-mock proxy`` reports them all with their JSON paths.
    """
    if not op.documents_status(status):
        return [Problem("status_code_conformance", "", f"status {status} is not documented for {op.operation_id}")]
    if not body:
        if status == 204 or not op.responses.get(str(status)):
            return []
        return [Problem("content_type_conformance", "", f"{op.operation_id} {status}: empty body, a JSON body "
                                                          "is documented")]
    mimetype = content_type.split(";")[0].strip()
    check = op.response_check(status, mimetype)
    try:
        parsed = json.loads(body)
    except ValueError:
        return [Problem("content_type_conformance", "", f"{op.operation_id} {status}: body is not JSON")]
    if check is None:
        return []
    return [Problem("response_schema_conformance", where, message) for where, message in check.problems(parsed)]


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
        first = problems[0]
        if first.check != "response_schema_conformance":
            raise ContractViolation(first.message)
        errors = [f"{p.where}: {p.message}" if p.where else p.message for p in problems]
        raise ContractViolation(f"{op.operation_id} {response.status_code}: {'; '.join(errors)}")
    return json.loads(response.content) if response.content else None
