"""contracts.strategies: every drawn body is contract-valid, and success bodies obey the semantic checks."""

from __future__ import annotations

import json

import pytest
import requests
from contracts_helpers import fake_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import validate_response
from contracts.checks import ResponseView, semantic_failures
from contracts.spec import get_contract
from contracts.strategies import clean_schema, close_objects, from_schema, request_body, response_body

FAST = settings(max_examples=8, database=None, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
CONTRACT = get_contract()


def _distinct_answers() -> list[tuple[str, int]]:
    """One (operation, status) per distinct response schema: every error shares ``Error``, for one."""
    seen: set[tuple[str, str]] = set()
    out = []
    for op_id, op in CONTRACT.operations.items():
        for status, content in op.responses.items():
            key = (json.dumps(content, sort_keys=True), op_id if status.startswith("2") else "")
            if status.isdigit() and key not in seen:
                seen.add(key)
                out.append((op_id, int(status)))
    return out


DOCUMENTED = _distinct_answers()
WITH_JSON_BODY = [op_id for op_id, op in CONTRACT.operations.items() if "application/json" in op.body_schemas]


def as_response(op_id: str, status: int, body: object) -> requests.Response:
    op = CONTRACT[op_id]
    path = op.path.replace("{email}", "demo@example.com").replace(
        "{jobId}", "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image")
    # No token: Hypothesis draws strings from the constants of loaded modules, "demo-token" among them, and a
    # body that happened to contain the caller's token would rightly count as a leak.
    resp = fake_response(op.method, path, status, body, token=None)
    if body is None:
        resp._content = b""
    return resp


@pytest.mark.parametrize(("op_id", "status"), DOCUMENTED, ids=[f"{o}-{s}" for o, s in DOCUMENTED])
def test_contracts_response_body_is_valid_and_semantic(op_id: str, status: int) -> None:
    @FAST
    @given(response_body(op_id, status))
    def check(body: object) -> None:
        resp = as_response(op_id, status, body)
        validate_response(op_id, resp)
        # the request context (page, limit) is not part of a drawn body: check it as a bare answer
        view = ResponseView(resp, op_id)
        view.url = ""
        assert semantic_failures(view) == [], body

    check()


@pytest.mark.parametrize("op_id", WITH_JSON_BODY)
def test_contracts_request_body_is_accepted_by_the_request_schema(op_id: str) -> None:
    validator = CONTRACT[op_id].body_check("application/json")

    @FAST
    @given(request_body(op_id))
    def check(body: object) -> None:
        assert validator.errors(body) == []

    check()


def test_contracts_closed_objects_have_only_declared_members() -> None:
    op = CONTRACT["createImage"]
    declared = {"prompt", "referenceAssetId", "reference_strength", "style", "email", "pollForResult", "maxJobs",
                "replyUrl", "replyRef", "location", "weather", "lighting", "aspectRatio", "shotType", "shotAngle",
                "seed", "model"}

    @FAST
    @given(request_body("createImage", extra_properties=False), response_body("getJob", extra_properties=False))
    def check(request: dict, job: dict) -> None:
        assert op.body_check("application/json").errors(request) == []
        assert set(request) <= declared
        assert set(job) <= {"status", "jobId", "generationId", "replyRef", "replyUrl", "code"}

    check()


def test_contracts_2020_12_keywords_are_honoured() -> None:
    """if/then, const and type lists: the keywords hypothesis-jsonschema would not read."""
    schema = {"type": "object", "required": ["kind"],
              "properties": {"kind": {"enum": ["a", "b"]}, "n": {"type": ["integer", "null"]}},
              "if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["n"]},
              "x-error-message": "n is required for a", "examples": [{"kind": "a", "n": 1}]}

    @FAST
    @given(from_schema(schema))
    def check(value: dict) -> None:
        if value["kind"] == "a":
            assert "n" in value
        assert value.get("n") is None or isinstance(value["n"], int)

    check()


def test_contracts_clean_schema_strips_extensions_but_keeps_property_names() -> None:
    schema = {"type": "object", "x-error-message": "m", "example": {}, "description": "d",
              "properties": {"description": {"type": "string", "x-foo": 1}, "example": {"type": "integer"}}}
    assert clean_schema(schema) == {"type": "object", "properties": {"description": {"type": "string"},
                                                                     "example": {"type": "integer"}}}
    closed = close_objects(clean_schema(schema))
    assert closed["propertyNames"] == {"enum": ["description", "example"]}


def test_contracts_unknown_operation_or_status_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="unknown operation"):
        response_body("noSuchOperation")
    with pytest.raises(KeyError, match="documents no 418"):
        response_body("getJob", 418)
    with pytest.raises(KeyError, match="takes no application/json body"):
        request_body("getJob")


def test_contracts_upload_bodies_are_raw_bytes() -> None:
    @FAST
    @given(request_body("uploadAsset", "image/png"))
    def check(data: bytes) -> None:
        assert isinstance(data, bytes) and data

    check()


def test_contracts_no_content_answer_is_none() -> None:
    @FAST
    @given(response_body("deleteAccount", 204))
    def check(body: object) -> None:
        assert body is None

    check()


def test_contracts_drawn_bodies_drive_a_client_parser() -> None:
    """What the strategies are for: a client parser fed any contract-valid job."""
    def parse_job(raw: bytes) -> tuple[str, bool]:
        job = json.loads(raw)
        done = job["status"]["type"] == "completed" and bool(job["status"].get("artifact", {}).get("assetUrl"))
        return job["status"]["type"], done

    @FAST
    @given(response_body("getJob"), st.just(None))
    def check(body: dict, _: None) -> None:
        kind, done = parse_job(json.dumps(body).encode())
        assert kind in ("active", "completed", "failed")
        assert not done or kind == "completed"

    check()
