"""Validate a real ``requests.Response`` against the contract: fast enough for every response of a suite."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from ltxstudio_mock.contracts.spec import get_contract


class ContractViolation(AssertionError):
    """A response the contract does not allow."""


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
    status = response.status_code
    if not op.documents_status(status):
        raise ContractViolation(f"{op.operation_id}: status {status} is not documented")
    body = response.content
    if not body:
        if status == 204 or not op.responses.get(str(status)):
            return None
        raise ContractViolation(f"{op.operation_id} {status}: empty body, a JSON body is documented")
    mimetype = response.headers.get("Content-Type", "").split(";")[0].strip()
    check = op.response_check(status, mimetype)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ContractViolation(f"{op.operation_id} {status}: body is not JSON") from None
    errors = check.errors(parsed) if check else []
    if errors:
        raise ContractViolation(f"{op.operation_id} {status}: {'; '.join(errors)}")
    return parsed
