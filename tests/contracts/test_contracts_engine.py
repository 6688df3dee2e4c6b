"""One contract engine: the simulator, the client and the toolkit get the same answers from ``contracts.spec``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from client import ValidationError
from client.options import build_body
from contracts import ContractViolation, validate_response
from contracts.spec import Contract, SchemaCheck, get_contract
from mock_server import SimConfig, create_app
from mock_server.pipeline import strict_problem

JOB_ID = "email:demo@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
CREATED = json.dumps({"jobId": JOB_ID, "generationId": "gen_1"}).encode()
ERROR = json.dumps({"error": "Unauthorized", "code": 401}).encode()

# (operationId, status, content type, body, fits the contract)
RESPONSES: list[tuple[str, int, str, bytes, bool]] = [
    ("createImage", 200, "application/json", CREATED, True),
    ("createImage", 200, "application/json", b'{"jobId": 5}', False),
    ("createImage", 200, "application/json", b"", False),  # a JSON body is documented
    ("createImage", 200, "text/html", CREATED, False),  # not the documented media type
    ("createImage", 200, "application/json", b"<html>", False),  # not JSON
    ("createImage", 401, "application/json", ERROR, True),
    ("createImage", 503, "application/json", b"", False),  # documented through 5XX, with a JSON body
    ("createImage", 503, "application/json", ERROR, True),
    ("createImage", 418, "application/json", ERROR, False),  # undocumented status
    ("cancelJob", 204, "", b"", True),
    ("deleteAccount", 204, "", b"", True),
]


def _requests_response(status: int, content_type: str, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    if content_type:
        response.headers["Content-Type"] = content_type
    return response


@pytest.mark.parametrize(("op_id", "status", "content_type", "body", "fits"), RESPONSES)
def test_strict_mode_and_validate_response_are_one_validator(op_id: str, status: int, content_type: str,
                                                             body: bytes, fits: bool) -> None:
    """Each answer is judged alike by the simulator's strict mode and by ``contracts.validate_response``."""
    op = get_contract()[op_id]
    problem = strict_problem(op, status, content_type, body)  # the pipeline's answer step, in strict mode
    if fits:
        assert problem is None
        validate_response(op_id, _requests_response(status, content_type, body))
    else:
        assert problem is not None
        with pytest.raises(ContractViolation) as info:
            validate_response(op_id, _requests_response(status, content_type, body))
        # the same first reason, worded the same
        assert problem.split(";")[0] == str(info.value).split(";")[0]


@pytest.mark.parametrize(("body", "message"), [
    ({"prompt": "x", "model": "veo3", "duration": "5"}, "duration must be 8 for model veo3"),
    ({"prompt": "x", "model": "veo2"}, "startAssetId is required for model veo2"),
])
def test_client_and_simulator_reject_with_the_same_message(body: dict[str, Any], message: str) -> None:
    app = create_app(SimConfig(seed=1, tokens=["t" * 20]))
    answer = app.test_client().post("/v1/ltxstudio/videos/veo-create", json=body,
                                    headers={"Authorization": "Bearer " + "t" * 20})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == message
    with pytest.raises(ValidationError) as info:
        build_body("createVeoVideo", body)
    assert info.value.errors == [message]


def test_x_error_message_of_an_anyof_branch_is_found() -> None:
    """A failed anyOf whose branches carry the message (not the anyOf's parent): both sides find it."""
    check = SchemaCheck({"anyOf": [{"required": ["a"], "x-error-message": "a or b, please"},
                                   {"required": ["b"], "x-error-message": "a or b, please"}]})
    assert check.errors({}) == ["a or b, please"]
    assert check.errors({"a": 1}) == []


def test_the_admin_document_is_read_by_the_same_engine() -> None:
    from mock_server.admin import SPEC, admin_contract

    contract = admin_contract()
    assert isinstance(contract, Contract)
    assert contract is get_contract(str(SPEC))  # compiled once per process
    assert "adminReset" in contract.operations
    assert contract is not get_contract()


def test_a_remembered_verdict_is_a_fresh_verdict() -> None:
    """``response_problems`` remembers the verdict on a byte-identical JSON answer (a poll loop's): asked again,
    under another operation, status or media type, or after a caller changed its list, it answers what judging
    afresh answers."""
    from contracts.validate import _json_problems, response_problems

    two_types = Contract({"paths": {"/x": {"get": {"operationId": "x", "responses": {"200": {"content": {
        "application/json": {"schema": {"required": ["a"]}},
        "application/problem+json": {"schema": {"required": ["b"]}}}}}}}}})
    ops = {**get_contract().operations, **two_types.operations}
    answers = [(op_id, status, ct, body) for op_id, status, ct, body, _ in RESPONSES if body] + [
        ("getJob", 200, "application/json", CREATED),  # fits createImage, not getJob: the operation is in the key
        ("createImage", 402, "application/json", CREATED),  # nor a 402: the status is in the key
        ("x", 200, "application/json", b'{"a": 1}'),
        ("x", 200, "application/problem+json", b'{"a": 1}'),  # nor another media type: so is the media type
    ]
    fresh = {}
    for answer in answers:
        _json_problems.cache_clear()
        fresh[answer] = response_problems(ops[answer[0]], *answer[1:])
    _json_problems.cache_clear()
    for answer in answers + answers:  # the second time with every verdict remembered
        verdict = response_problems(ops[answer[0]], *answer[1:])
        assert verdict == fresh[answer], answer
        verdict.append(fresh[answer][0] if fresh[answer] else None)  # type: ignore[arg-type]  # the caller's list
    info = _json_problems.cache_info()
    assert info.hits == info.misses > 5, info  # each JSON answer judged once, then remembered
    assert fresh[("getJob", 200, "application/json", CREATED)], "getJob would fit createImage's answer"
    assert fresh[("x", 200, "application/problem+json", b'{"a": 1}')], "the media type would not matter"
