"""The client reads every response shape the contract allows.

Bodies are generated from the contract's own response schemas (hypothesis) and served through
`responses`: each must parse without error, with the fields landing where they belong, and each
documented error body must map to its exception. No server involved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
import responses
from clients import open_client
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from client import (
    Account,
    AssetList,
    BadRequestError,
    CapacityError,
    Job,
    JobCreated,
    LTXStudioClient,
    NotFoundError,
    PaymentRequiredError,
    RunningJob,
    SchedulerAvailable,
    UploadedAsset,
)
from client.exceptions import APIError, AuthenticationError, ServerError
from client.options import api_name
from contracts.spec import Contract, Operation, get_contract, resolve_refs

BASE = "https://api.test/v1/ltxstudio"
JOB_ID = "email:a@b.c-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16

# client method -> how to call it (the arguments only need to pass the local checks)
CALLS: dict[str, Callable[[LTXStudioClient], Any]] = {
    "list_accounts": lambda c: c.list_accounts(),
    "create_account": lambda c: c.create_account("lt_token=a; lt_refresh_token=b"),
    "get_account": lambda c: c.get_account("a@b.c"),
    "delete_account": lambda c: c.delete_account("a@b.c"),
    "list_assets": lambda c: c.list_assets(),
    "upload_asset": lambda c: c.upload_asset(PNG),
    "get_job": lambda c: c.get_job(JOB_ID),
    "create_image": lambda c: c.create_image("x"),
    "edit_image": lambda c: c.edit_image("x", "asset:1"),
    "upscale_image": lambda c: c.upscale_image(JOB_ID),
    "create_ltx_video": lambda c: c.create_ltx_video("x", start_asset_id="asset:1"),
    "create_veo_video": lambda c: c.create_veo_video(model="veo3-fast"),
    "list_running_jobs": lambda c: c.list_running_jobs(),
    "scheduler_available": lambda c: c.scheduler_available(),
    "cancel_job": lambda c: c.cancel_job(JOB_ID),
}


def _str(value: Any) -> Any:
    return value if isinstance(value, str) else None


def check_job(result: Any, body: Any) -> None:
    assert isinstance(result, Job)
    assert result.raw == body
    assert result.job_id == _str(body.get("jobId"))
    status = body["status"]
    assert result.state == status["type"]
    assert result.progress == status.get("progress")
    artifact = status.get("artifact")
    if isinstance(artifact, dict):
        assert result.artifact is not None
        assert result.artifact.asset_url == _str(artifact.get("assetUrl"))
        assert result.is_done == (status["type"] == "completed" and bool(artifact.get("assetUrl")))
    else:
        assert not result.is_done


def check_generation(result: Any, body: Any) -> None:
    if "status" in body:
        check_job(result, body)
    else:
        assert isinstance(result, JobCreated)
        assert result.job_id == body["jobId"]
        assert result.generation_id == body["generationId"]
        assert set(result.extra) == set(body) - {"jobId", "generationId"}


def check_account(result: Any, body: Any) -> None:
    assert isinstance(result, Account)
    assert result.email == _str(body.get("email"))
    assert result.max_jobs == body.get("maxJobs")
    if isinstance(body.get("balance"), dict):
        assert result.credits == body["balance"].get("LTXStudio_token")


def check_accounts(result: Any, body: Any) -> None:
    assert isinstance(result, dict)
    assert set(result) == set(body)
    for key, value in body.items():
        check_account(result[key], value)


def check_assets(result: Any, body: Any) -> None:
    assert isinstance(result, AssetList)
    assert len(result.items) == len(body.get("items", []))
    for item, raw in zip(result.items, body.get("items", []), strict=True):
        assert item.id == _str(raw.get("id"))
        assert item.job_id == _str(raw.get("jobId"))
        signed = raw.get("signedAsset")
        if isinstance(signed, dict):
            assert item.signed_asset is not None
            assert item.signed_asset.asset_url == signed.get("assetUrl")
        item.thumbnail  # noqa: B018 - must not raise
    meta = body.get("meta")
    if isinstance(meta, dict):
        assert result.meta is not None
        assert result.meta.total_pages == meta.get("totalPages")


def check_upload(result: Any, body: Any) -> None:
    assert isinstance(result, UploadedAsset)
    assert result.asset_url == body.get("assetUrl")
    asset = body.get("asset")
    assert result.file_id == (asset.get("fileId") if isinstance(asset, dict) else None)


def check_running(result: Any, body: Any) -> None:
    assert isinstance(result, list) and len(result) == len(body)
    for job, raw in zip(result, body, strict=True):
        assert isinstance(job, RunningJob)
        assert job.job_id == raw.get("jobId")
        assert job.elapsed == raw.get("elapsed")


def check_available(result: Any, body: Any) -> None:
    assert isinstance(result, SchedulerAvailable)
    assert len(result.executing) == len(body.get("executing", []))
    assert len(result.available) == len(body.get("available", []))
    for slot, raw in zip(result.available, body.get("available", []), strict=True):
        assert slot.available == raw.get("available")
    assert result.total_available >= 0


CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "list_accounts": check_accounts,
    "create_account": check_account,
    "get_account": check_account,
    "list_assets": check_assets,
    "upload_asset": check_upload,
    "get_job": check_job,
    "create_image": check_generation,
    "edit_image": check_generation,
    "upscale_image": check_generation,
    "create_ltx_video": check_generation,
    "create_veo_video": check_generation,
    "list_running_jobs": check_running,
    "scheduler_available": check_available,
}


def _strategy_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """hypothesis-jsonschema when installed, else schemathesis' own JSON Schema generator (2020-12)."""
    try:
        from hypothesis_jsonschema import from_schema  # type: ignore[import-not-found]
    except ImportError:
        from schemathesis.generation.jsonschema.builder import build

        return build(schema, draft=20, formats={})
    return from_schema(schema)


def _operation(contract: Contract, name: str) -> Operation:
    """The operation behind a client method (its operationId is the camelCase name, but for one)."""
    return contract["getSchedulerAvailable" if name == "scheduler_available" else api_name(name)]


def _response_schema(contract: Contract, name: str, status: str) -> dict[str, Any] | None:
    return _operation(contract, name).responses.get(status, {}).get("application/json")


def _contract() -> Contract:
    return get_contract()


def _serve(mock: responses.RequestsMock, api: LTXStudioClient, name: str, status: int, body: Any) -> None:
    op = _operation(api.contract, name)
    url = api._url(op.path, {k: v for k, v in {"email": "a@b.c", "jobId": JOB_ID}.items()
                             if "{" + k + "}" in op.path})
    mock.add(op.method, url, body=json.dumps(body), status=status, content_type="application/json")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_contract_valid_200_body_parses(name: str, client_kind: str) -> None:
    contract = _contract()
    schema = _response_schema(contract, name, "200")
    assert schema is not None, f"{name}: the contract documents no JSON 200 response"
    validator = jsonschema_rs.Draft202012Validator(schema)

    # Parsing is the shared core's: the async client's run shows its transport carries the same bodies, in fewer.
    @settings(max_examples=30 if client_kind == "sync" else 6, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(body=_strategy_for(schema))
    def run(body: Any) -> None:
        assume(validator.is_valid(body))
        with responses.RequestsMock() as mock, open_client(client_kind, "t", BASE, retries=0) as api:
            _serve(mock, api, name, 200, body)
            result = CALLS[name](api)
        CHECKS[name](result, body)

    run()


ERRORS = {400: BadRequestError, 401: AuthenticationError, 402: PaymentRequiredError, 404: NotFoundError,
          429: CapacityError, 503: ServerError, 507: ServerError}


def _documented_errors() -> list[tuple[str, int]]:
    contract = get_contract()
    found = []
    for name in sorted(CALLS):
        for status in _operation(contract, name).responses:
            if str(status).isdigit() and int(status) >= 400:
                found.append((name, int(status)))
    return found


@pytest.mark.parametrize(("name", "status"), _documented_errors())
def test_every_documented_error_body_maps_to_its_exception(name: str, status: int, client_kind: str) -> None:
    contract = _contract()
    schema = _response_schema(contract, name, str(status))
    assert schema is not None
    validator = jsonschema_rs.Draft202012Validator(schema)

    @settings(max_examples=10 if client_kind == "sync" else 3, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(body=_strategy_for(schema))
    def run(body: Any) -> None:
        assume(validator.is_valid(body))
        with responses.RequestsMock() as mock, open_client(client_kind, "t", BASE, retries=0) as api:
            _serve(mock, api, name, status, body)
            with pytest.raises(APIError) as info:
                CALLS[name](api)
        assert type(info.value) is ERRORS.get(status, APIError)
        assert info.value.status == status
        assert info.value.error == body["error"]

    run()


def test_204_operations_tolerate_an_empty_body(client_kind: str) -> None:
    _contract()
    with responses.RequestsMock() as mock, open_client(client_kind, "t", BASE) as api:
        for name in ("delete_account", "cancel_job"):
            op = _operation(api.contract, name)
            assert "204" in op.responses
            _serve(mock, api, name, 204, None)
            mock.replace(op.method, mock.registered()[-1].url, body=b"", status=204)
            assert CALLS[name](api) is None


def test_documentation_examples_parse(client_kind: str) -> None:
    """Every `examples` value the contract attaches to a 200 response goes through the client."""
    contract = _contract()
    count = 0
    for name in sorted(CHECKS):
        op = _operation(contract, name)
        response = resolve_refs(op.raw.get("responses", {}).get("200"), contract.document)
        media = (response or {}).get("content", {}).get("application/json", {})
        for example in (media.get("examples") or {}).values():
            body = example.get("value")
            with responses.RequestsMock() as mock, open_client(client_kind, "t", BASE) as api:
                _serve(mock, api, name, 200, body)
                CHECKS[name](CALLS[name](api), body)
            count += 1
    assert count >= len(CHECKS)
