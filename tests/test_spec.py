"""Checks of the hand-written OpenAPI contract (openapi.yaml) on its own.

Nothing here imports the simulator, the client or the contracts package: the YAML is loaded
directly and checked with openapi-spec-validator, schemathesis 4 and jsonschema_rs (Draft 2020-12,
formats asserted).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

SPEC_PATH = Path(__file__).parents[1] / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
DOCS = "https://useapi.net/docs/api-ltxstudio-v1/"

# (method, path) -> (operationId, documentation page slug)
OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("get", "/accounts"): ("listAccounts", "get-ltxstudio-accounts"),
    ("post", "/accounts"): ("createAccount", "post-ltxstudio-accounts"),
    ("get", "/accounts/{email}"): ("getAccount", "get-ltxstudio-accounts-email"),
    ("delete", "/accounts/{email}"): ("deleteAccount", "del-ltxstudio-accounts-email"),
    ("get", "/assets/"): ("listAssets", "get-ltxstudio-assets"),
    ("post", "/assets/"): ("uploadAsset", "post-ltxstudio-assets"),
    ("get", "/assets/{jobId}"): ("getJob", "get-ltxstudio-assets-jobId"),
    ("post", "/images/create"): ("createImage", "post-ltxstudio-images-flux-create"),
    ("post", "/images/edit"): ("editImage", "post-ltxstudio-images-flux-edit"),
    ("post", "/images/flux-create"): ("createImageFlux", "post-ltxstudio-images-flux-create"),
    ("post", "/images/flux-edit"): ("editImageFlux", "post-ltxstudio-images-flux-edit"),
    ("post", "/images/upscale"): ("upscaleImage", "post-ltxstudio-images-upscale"),
    ("post", "/videos/ltx-create"): ("createLtxVideo", "post-ltxstudio-videos-ltx-create"),
    ("post", "/videos/veo-create"): ("createVeoVideo", "post-ltxstudio-videos-veo-create"),
    ("get", "/scheduler"): ("listRunningJobs", "get-ltxstudio-scheduler"),
    ("get", "/scheduler/available"): ("getSchedulerAvailable", "get-ltxstudio-scheduler-available"),
    ("delete", "/scheduler/{jobId}"): ("cancelJob", "del-ltxstudio-scheduler-jobId"),
}
BY_ID = {op_id: key for key, (op_id, _) in OPERATIONS.items()}

# The documented responses plus the contract's decisions (docs/fidelity.md): 408 on every operation with a body.
EXPECTED_STATUSES: dict[str, set[str]] = {
    "listAccounts": {"200", "401", "404"},
    "createAccount": {"200", "400", "401", "402", "408", "413"},
    "getAccount": {"200", "401", "404"},
    "deleteAccount": {"204", "401", "404"},
    "listAssets": {"200", "400", "401"},
    "uploadAsset": {"200", "400", "401", "408", "413", "507"},
    "getJob": {"200", "400", "401", "404"},
    "createImage": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "editImage": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "createImageFlux": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "editImageFlux": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "upscaleImage": {"200", "400", "401", "402", "404", "408", "413", "429", "503"},
    "createLtxVideo": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "createVeoVideo": {"200", "400", "401", "402", "408", "413", "429", "503"},
    "listRunningJobs": {"200", "401"},
    "getSchedulerAvailable": {"200", "401"},
    "cancelJob": {"204", "400", "401", "404"},
}
GENERATION = ["createImage", "editImage", "createImageFlux", "editImageFlux", "upscaleImage", "createLtxVideo",
              "createVeoVideo"]
# The documented older paths (docs/fidelity.md, "Endpoint names"): alias -> the operation it repeats.
ALIASES = {"createImageFlux": "createImage", "editImageFlux": "editImage"}
REQUEST_SCHEMAS = {
    "createAccount": "CreateAccountRequest",
    "createImage": "CreateImageRequest",
    "editImage": "EditImageRequest",
    "createImageFlux": "CreateImageRequest",
    "editImageFlux": "EditImageRequest",
    "upscaleImage": "UpscaleImageRequest",
    "createLtxVideo": "CreateLtxVideoRequest",
    "createVeoVideo": "CreateVeoVideoRequest",
}
UPLOAD_TYPES = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "audio/mpeg",
    "audio/wav",
    "application/octet-stream",
    "*/*",
]
ERROR_RESPONSES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "402": "PaymentRequired",
    "404": "NotFound",
    "408": "RequestTimeout",  # a body silent past --body-timeout (docs/reliability.md)
    "413": "PayloadTooLarge",
    "429": "TooManyRequests",
    "503": "Saturated",  # the simulator's own pollForResult limit (docs/reliability.md)
    "507": "InsufficientStorage",  # the simulator's upload budget (--upload-budget)
    "5XX": "ServerError",
}
JOB_ID = "email:user@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
FILE_ID = "asset:3b18c0de-5a7f-4e21-9b3c-8d4e6f708192-type:image/png"


# --------------------------------------------------------------------------- helpers


def resolve(obj: Any) -> Any:
    """Follow OpenAPI `$ref`s (local JSON pointers) until a non-reference object."""
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = SPEC
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def validator(schema: Any) -> jsonschema_rs.Validator:
    """A Draft 2020-12 validator (formats asserted) for `schema`; `#/components/schemas/...` refs resolve."""
    root = {"allOf": [schema], "components": {"schemas": SPEC["components"]["schemas"]}}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def component(name: str) -> dict[str, Any]:
    return SPEC["components"]["schemas"][name]


def operation(op_id: str) -> dict[str, Any]:
    method, path = BY_ID[op_id]
    return SPEC["paths"][path][method]


def rule_messages(schema_name: str, body: Any) -> list[str]:
    """The `x-error-message`s of the model rules (`allOf` items) that `body` breaks."""
    messages = []
    for item in component(schema_name).get("allOf", []):
        if "$ref" in item:
            continue
        if "if" in item:
            if validator(item["if"]).is_valid(body) and not validator(item["then"]).is_valid(body):
                messages.append(item["then"]["x-error-message"])
        elif not validator(item).is_valid(body):
            messages.append(item["x-error-message"])
    return messages


def collect_examples() -> list[tuple[str, Any, Any]]:
    """(location, schema, value) of every `example`/`examples` beside a `schema` (outside JSON Schemas)."""
    found: list[tuple[str, Any, Any]] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{where}/{index}")
            return
        if not isinstance(node, dict):
            return
        if "schema" in node:
            if "example" in node:
                found.append((f"{where}/example", node["schema"], node["example"]))
            for name, example in node.get("examples", {}).items():
                found.append((f"{where}/examples/{name}", node["schema"], resolve(example)["value"]))
        for key, value in node.items():
            if key in {"schema", "schemas", "example", "examples"}:
                continue
            walk(value, f"{where}/{str(key).replace('~', '~0').replace('/', '~1')}")

    walk(SPEC, "#")
    return found


EXAMPLES = collect_examples()


# --------------------------------------------------------------------------- the document


def test_spec_validates_as_openapi_31() -> None:
    assert SPEC["openapi"] == "3.1.0"
    validate(SPEC)


def test_servers_and_global_security() -> None:
    urls = [server["url"] for server in SPEC["servers"]]
    assert urls == ["https://api.useapi.net/v1/ltxstudio", "http://127.0.0.1:8787/v1/ltxstudio"]
    assert "ltx-mock serve" in SPEC["servers"][1]["description"]
    assert SPEC["security"] == [{"bearerAuth": []}]
    assert SPEC["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert SPEC["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_exactly_the_fifteen_operations_and_two_older_paths() -> None:
    found = {
        (method, path): op["operationId"]
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
    }
    assert found == {key: op_id for key, (op_id, _) in OPERATIONS.items()}


@pytest.mark.parametrize(("alias", "op_id"), ALIASES.items())
def test_older_paths_are_their_successors_deprecated(alias: str, op_id: str) -> None:
    """images/flux-create and images/flux-edit: the same request, callbacks and answers, marked deprecated; only
    their own operationId, summary and description differ."""
    old, new = operation(alias), operation(op_id)
    assert old["deprecated"] is True and "deprecated" not in new
    same = {"tags", "security", "requestBody", "callbacks", "responses"}
    assert set(old) == same | {"operationId", "summary", "description", "deprecated"}
    assert all(old[key] == new[key] for key in same)
    assert f"`{op_id}`" in old["description"]


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    loaded = {}
    for result in schema.get_all_operations():
        op = result.ok()
        loaded[(op.method.lower(), op.path)] = op.definition.raw["operationId"]
    assert loaded == {key: op_id for key, (op_id, _) in OPERATIONS.items()}


@pytest.mark.parametrize("op_id", list(EXPECTED_STATUSES))
def test_operation_basics(op_id: str) -> None:
    method, path = BY_ID[op_id]
    op = operation(op_id)
    slug = OPERATIONS[(method, path)][1]
    assert op["operationId"] == op_id
    assert op["summary"].strip()
    assert f"{DOCS}{slug})" in op["description"], "the description links the documentation page"
    assert op["tags"] and all(tag in {t["name"] for t in SPEC["tags"]} for tag in op["tags"])
    assert op["security"] == [{"bearerAuth": []}]
    assert set(op["responses"]) == EXPECTED_STATUSES[op_id] | {"5XX"}


@pytest.mark.parametrize("op_id", list(EXPECTED_STATUSES))
def test_responses_have_schemas_and_errors_share_one(op_id: str) -> None:
    for status, response in operation(op_id)["responses"].items():
        response = resolve(response)
        assert response["description"].strip()
        if status == "204":
            assert "content" not in response
            continue
        assert list(response["content"]) == ["application/json"], status
        media = response["content"]["application/json"]
        assert media.get("examples") or media.get("example") is not None, f"{status} has no example"
        if status.startswith(("4", "5")):
            assert media["schema"] == {"$ref": "#/components/schemas/Error"}
            assert response is SPEC["components"]["responses"][ERROR_RESPONSES[status]]


def test_error_schema() -> None:
    error = component("Error")
    assert error["required"] == ["error", "code"]
    check = validator({"$ref": "#/components/schemas/Error"})
    assert check.is_valid({"error": "Unauthorized", "code": 401})
    assert not check.is_valid({"error": "", "code": 401})
    assert not check.is_valid({"error": "Unauthorized"})
    assert not check.is_valid({"error": "Unauthorized", "code": "401"})


@pytest.mark.parametrize(("status", "name"), ERROR_RESPONSES.items())
def test_shared_error_examples_carry_their_status(status: str, name: str) -> None:
    examples = SPEC["components"]["responses"][name]["content"]["application/json"]["examples"]
    assert examples
    for example in examples.values():
        code = example["value"]["code"]
        assert code // 100 == 5 if status == "5XX" else code == int(status)


@pytest.mark.parametrize("op_id", GENERATION)
def test_generation_operations(op_id: str) -> None:
    op = operation(op_id)
    assert {"400", "401", "402", "429"} <= set(op["responses"])
    schema_ref = {"$ref": f"#/components/schemas/{REQUEST_SCHEMAS[op_id]}"}
    content = op["requestBody"]["content"]
    assert op["requestBody"]["required"] is True
    assert set(content) == {"application/json", "multipart/form-data"}
    assert all(media["schema"] == schema_ref for media in content.values())
    ok = resolve(op["responses"]["200"])["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/GenerationResult"}
    assert set(ok["examples"]) == {"jobCreated", "completed"}
    callback = resolve(op["callbacks"]["jobCompleted"])
    assert list(callback) == ["{$request.body#/replyUrl}"]
    post = callback["{$request.body#/replyUrl}"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Job"
    }
    assert "200" in post["responses"]


def test_create_account_body() -> None:
    content = operation("createAccount")["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    for media in content.values():
        assert media["schema"] == {"$ref": "#/components/schemas/CreateAccountRequest"}


def test_upload_asset_body_and_query() -> None:
    op = operation("uploadAsset")
    assert op["requestBody"]["required"] is True
    content = op["requestBody"]["content"]
    assert list(content) == UPLOAD_TYPES
    for media_type, media in content.items():
        if media_type == "*/*":  # any other file (issue 15): no contentMediaType to name
            assert {k: v for k, v in media["schema"].items() if k != "description"} == {"type": "string",
                                                                                      "format": "binary"}
            continue
        assert media["schema"] == {"type": "string", "format": "binary", "contentMediaType": media_type}
    params = {resolve(p)["name"]: resolve(p) for p in op["parameters"]}
    assert set(params) == {"email", "type"}
    assert params["type"]["schema"] == {
        "type": "string",
        "enum": ["image", "reference-image"],
        "default": "image",
    }


def test_list_assets_query() -> None:
    params = {resolve(p)["name"]: resolve(p)["schema"] for p in operation("listAssets")["parameters"]}
    assert params["page"] == {"type": "integer", "minimum": 1, "maximum": 10_000_000, "default": 1}  # stores honour it
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
    assert params["filter"]["enum"] == ["images", "videos", "audio", "other"]
    assert resolve(params["email"])["pattern"] == r"^[^@\s]+@[^@\s]+$"


def test_request_schemas_leave_additional_properties_open() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert node.get("additionalProperties", True) is not False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in REQUEST_SCHEMAS.values():
        assert component(name)["type"] == "object"
        walk(component(name))
    walk(component("GenerationOptions"))
    walk(component("ImageSceneOptions"))


# --------------------------------------------------------------------------- examples


def test_examples_were_found() -> None:
    locations = [location for location, _, _ in EXAMPLES]
    assert len(locations) >= 40
    assert any("/callbacks/" in location for location in locations)
    assert any("/parameters/" in location for location in locations)
    assert sum("/requestBody/" in location for location in locations) >= 10


@pytest.mark.parametrize(("location", "schema", "value"), EXAMPLES, ids=[loc for loc, _, _ in EXAMPLES])
def test_example_validates_against_its_schema(location: str, schema: Any, value: Any) -> None:
    errors = [f"{e.instance_path}: {e.message}" for e in validator(schema).iter_errors(value)]
    assert not errors, f"{location}: {errors}"


def test_generation_result_is_unambiguous() -> None:
    created = {"jobId": JOB_ID, "generationId": "gen_abc123def456"}
    completed = {"status": {"type": "completed", "progress": 100}, "jobId": JOB_ID, "generationId": "g"}
    result = validator({"$ref": "#/components/schemas/GenerationResult"})
    assert result.is_valid(created)
    assert result.is_valid(completed)
    assert not result.is_valid({"jobId": JOB_ID})
    assert not result.is_valid({"status": {"type": "queued"}})
    assert not validator({"$ref": "#/components/schemas/JobCreated"}).is_valid(completed)


# --------------------------------------------------------------------------- model rules

RULE_CASES: list[tuple[str, dict[str, Any], bool, list[str]]] = [
    # createVeoVideo
    ("CreateVeoVideoRequest", {"prompt": "p"}, False, ["startAssetId is required for model veo2"]),
    ("CreateVeoVideoRequest", {"model": "veo2"}, False, ["startAssetId is required for model veo2"]),
    ("CreateVeoVideoRequest", {"startAssetId": "a", "duration": "7", "aspectRatio": "9:16"}, True, []),
    (
        "CreateVeoVideoRequest",
        {"model": "veo2", "startAssetId": "a", "resolution": "1080p"},
        False,
        ["resolution is not supported by model veo2"],
    ),
    (
        "CreateVeoVideoRequest",
        {"startAssetId": "a", "resolution": "720p"},
        False,
        ["resolution is not supported by model veo2"],
    ),
    (
        "CreateVeoVideoRequest",
        {"model": "veo3", "duration": "5"},
        False,
        ["duration must be 8 for model veo3"],
    ),
    (
        "CreateVeoVideoRequest",
        {"model": "veo3", "duration": "8", "aspectRatio": "16:9", "resolution": "720p"},
        True,
        [],
    ),
    ("CreateVeoVideoRequest", {"model": "veo3-fast"}, True, []),
    (
        "CreateVeoVideoRequest",
        {"model": "veo3-fast", "aspectRatio": "9:16", "duration": "6"},
        False,
        ["duration must be 8 for model veo3-fast", "aspectRatio must be 16:9 for model veo3-fast"],
    ),
    ("CreateVeoVideoRequest", {"model": "veo2", "startAssetId": "a", "duration": "9"}, False, []),
    # a number is not a duration (issue 15): the field's type says so, not the veo3 rule
    ("CreateVeoVideoRequest", {"model": "veo3", "duration": 8}, False, []),
    ("CreateVeoVideoRequest", {"model": "veo4", "startAssetId": "a"}, False, []),
    # createLtxVideo
    ("CreateLtxVideoRequest", {"prompt": "p"}, False, ["startAssetId or endAssetId is required"]),
    ("CreateLtxVideoRequest", {"prompt": "p", "endAssetId": "a"}, True, []),
    (
        "CreateLtxVideoRequest",
        {"prompt": "p", "startAssetId": "a", "endAssetId": "b", "model": "ltxv", "duration": "30"},
        True,
        [],
    ),
    ("CreateLtxVideoRequest", {"startAssetId": "a"}, False, []),
    ("CreateLtxVideoRequest", {"prompt": "", "startAssetId": "a"}, False, []),
    ("CreateLtxVideoRequest", {"prompt": "p", "startAssetId": "a", "duration": 3}, False, []),
    # editImage
    (
        "EditImageRequest",
        {"prompt": "p", "referenceAssetId": "a", "referenceAssetId3": "c"},
        False,
        ["referenceAssetId3 is not supported by model flux"],
    ),
    (
        "EditImageRequest",
        {"prompt": "p", "referenceAssetId": "a", "referenceAssetId3": "c", "model": "flux"},
        False,
        ["referenceAssetId3 is not supported by model flux"],
    ),
    (
        "EditImageRequest",
        {
            "prompt": "p",
            "referenceAssetId": "a",
            "referenceAssetId2": "b",
            "referenceAssetId3": "c",
            "model": "flux-premium",
            "aspectRatio": "1:1",
        },
        True,
        [],
    ),
    (
        "EditImageRequest",
        {"prompt": "p", "referenceAssetId": "a", "model": "nano-banana", "aspectRatio": "16:9"},
        False,
        ["aspectRatio is not supported by model nano-banana"],
    ),
    (
        "EditImageRequest",
        {"prompt": "p", "referenceAssetId": "a", "referenceAssetId3": "c", "model": "nano-banana"},
        True,
        [],
    ),
    ("EditImageRequest", {"prompt": "p"}, False, []),
    # createImage
    (
        "CreateImageRequest",
        {"prompt": "p", "model": "flux-premium", "style": "anime"},
        False,
        ["style is not supported by model flux-premium"],
    ),
    (
        "CreateImageRequest",
        {"prompt": "p", "model": "nano-banana", "referenceAssetId": "a", "reference_strength": 5},
        False,
        [
            "referenceAssetId is not supported by model nano-banana",
            "reference_strength is not supported by model nano-banana",
        ],
    ),
    (
        "CreateImageRequest",
        {
            "prompt": "p",
            "referenceAssetId": "a",
            "reference_strength": 100,
            "style": "base",
            "aspectRatio": "1:1",
        },
        True,
        [],
    ),
    (
        "CreateImageRequest",
        {"prompt": "p", "model": "flux", "style": "2d_novel", "reference_strength": 0},
        True,
        [],
    ),
    ("CreateImageRequest", {"prompt": "p", "model": "nano-banana", "aspectRatio": "9:16"}, True, []),
    ("CreateImageRequest", {"prompt": "p", "reference_strength": 101}, False, []),
    ("CreateImageRequest", {"prompt": "x" * 2001}, False, []),
    (
        "CreateImageRequest",
        {"prompt": "p", "location": "x" * 2000, "seed": 0, "shotAngle": "overhead"},
        True,
        [],
    ),
    ("CreateImageRequest", {"prompt": "p", "pollForResult": 21}, False, []),
    ("CreateImageRequest", {"prompt": "p", "maxJobs": 0}, False, []),
    ("CreateImageRequest", {"prompt": "p", "email": "not-an-email"}, False, []),
    (
        "CreateImageRequest",
        {"prompt": "p", "replyUrl": "https://example.com/hook", "replyRef": "r"},
        True,
        [],
    ),
    # upscaleImage, createAccount
    ("UpscaleImageRequest", {"jobId": JOB_ID, "pollForResult": 20}, True, []),
    ("UpscaleImageRequest", {"jobId": JOB_ID.replace("type:image", "type:video")}, False, []),
    ("UpscaleImageRequest", {}, False, []),
    (
        "CreateAccountRequest",
        {"cookie": "lt_id=user123; lt_token=eyJ...; lt_refresh_token=abc123..."},
        True,
        [],
    ),
    ("CreateAccountRequest", {"cookie": "lt_id=user123; lt_token=eyJ..."}, False, []),
    ("CreateAccountRequest", {"cookie": "lt_token=a; lt_refresh_token=b", "maxJobs": 101}, False, []),
]


@pytest.mark.parametrize(
    ("schema_name", "body", "valid", "messages"),
    RULE_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(RULE_CASES)],
)
def test_model_rules(schema_name: str, body: dict[str, Any], valid: bool, messages: list[str]) -> None:
    assert validator({"$ref": f"#/components/schemas/{schema_name}"}).is_valid(body) is valid
    assert rule_messages(schema_name, body) == messages


@pytest.mark.parametrize("schema_name", list(REQUEST_SCHEMAS.values()))
def test_every_rule_has_an_error_message_and_default_model_semantics(schema_name: str) -> None:
    schema = component(schema_name)
    parts = [schema, *(resolve(item) for item in schema.get("allOf", []) if "$ref" in item)]
    models = [resolve(part["properties"]["model"]) for part in parts if "model" in part.get("properties", {})]
    model_schema = models[0] if models else {}
    for item in schema.get("allOf", []):
        if "$ref" in item:
            continue
        if "if" in item:
            message = item["then"].get("x-error-message")
            model = item["if"]["properties"]["model"]["const"]
            assert model in model_schema["enum"]
            # The default model also applies when `model` is absent; any other model only when named.
            if model == model_schema["default"]:
                assert "required" not in item["if"]
            else:
                assert item["if"]["required"] == ["model"]
            assert model in message
        else:
            message = item.get("x-error-message")
        assert isinstance(message, str) and message.strip()


# --------------------------------------------------------------------------- links


EXPECTED_LINKS = {
    ("createAccount", "GetAccount", "getAccount"),
    ("createAccount", "DeleteAccount", "deleteAccount"),
    ("uploadAsset", "CreateImageWithReference", "createImage"),
    ("uploadAsset", "EditImageWithReference", "editImage"),
    ("uploadAsset", "CreateLtxVideoFromStartFrame", "createLtxVideo"),
    ("uploadAsset", "CreateLtxVideoToEndFrame", "createLtxVideo"),
    ("uploadAsset", "CreateVeoVideoFromStartFrame", "createVeoVideo"),
    *((op_id, "GetJob", "getJob") for op_id in GENERATION),
    *((op_id, "CancelJob", "cancelJob") for op_id in GENERATION),
    ("createImage", "UpscaleImage", "upscaleImage"),
    ("editImage", "UpscaleImage", "upscaleImage"),
    ("createImageFlux", "UpscaleImage", "upscaleImage"),  # the older paths answer the same (shared responses)
    ("editImageFlux", "UpscaleImage", "upscaleImage"),
}


def _explicit_links() -> list[Any]:
    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    transitions = schema.as_state_machine()._transitions
    return [
        link for links in transitions.operations.values() for link in links.outgoing if not link.is_inferred
    ]


def test_links_are_declared() -> None:
    declared = set()
    for op_id in EXPECTED_STATUSES:
        ok = resolve(operation(op_id)["responses"].get("200", {}))
        for name, link in ok.get("links", {}).items():
            declared.add((op_id, name, resolve(link)["operationId"]))
    assert declared == EXPECTED_LINKS


def _fake_output(source: Any, body: dict[str, Any]) -> Any:
    from schemathesis.core.transport import Response
    from schemathesis.generation.stateful.state_machine import StepOutput

    raw = requests.Response()
    raw.status_code = 200
    raw._content = json.dumps(body).encode()
    raw.headers["Content-Type"] = "application/json"
    raw.request = requests.Request("POST", "http://127.0.0.1/").prepare()
    raw.url = "http://127.0.0.1/"
    raw.elapsed = datetime.timedelta(0)
    return StepOutput(Response.from_requests(raw, verify=True), source.Case())


def test_schemathesis_follows_links_into_paths_and_bodies() -> None:
    body = {"asset": {"fileId": FILE_ID}, "jobId": JOB_ID, "generationId": "gen", "email": "user@example.com"}
    seen = set()
    for link in _explicit_links():
        source = link.source.definition.raw["operationId"]
        target = link.target.definition.raw["operationId"]
        seen.add((source, link.name, target))
        transition = link.extract(_fake_output(link.source, body))
        params = {name: p.value.ok() for c in transition.parameters.values() for name, p in c.items()}
        request_body = transition.request_body.value.ok() if transition.request_body else None
        if target in {"getJob", "cancelJob"}:
            assert params == {"jobId": JOB_ID}
        elif target in {"getAccount", "deleteAccount"}:
            assert params == {"email": "user@example.com"}
        elif target == "upscaleImage":
            assert request_body == {"jobId": JOB_ID}
        else:
            assert params == {}
            assert FILE_ID in request_body.values()
            # the merged body stays valid for the target's schema
            merged = {"prompt": "p", "referenceAssetId": "r", **request_body}
            assert validator({"$ref": f"#/components/schemas/{REQUEST_SCHEMAS[target]}"}).is_valid(merged)
    assert seen == EXPECTED_LINKS


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("op_id", list(REQUEST_SCHEMAS))
def test_schemathesis_generates_schema_valid_bodies(op_id: str) -> None:
    method, path = BY_ID[op_id]
    op = schemathesis.openapi.from_path(str(SPEC_PATH))[path][method.upper()]
    check = validator({"$ref": f"#/components/schemas/{REQUEST_SCHEMAS[op_id]}"})
    invalid: list[Any] = []
    count = [0]

    @given(op.as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        count[0] += 1
        if case.media_type == "application/json" and not check.is_valid(case.body):
            invalid.append(case.body)

    run()
    assert count[0] > 0
    assert not invalid
