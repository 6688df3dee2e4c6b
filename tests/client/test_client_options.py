"""Local option checks and Python -> API name mapping: no server; a rejected call sends nothing."""

from __future__ import annotations

import copy
import json
import re

import pytest
import responses

from client import LTXStudioClient, LTXStudioError, ValidationError
from client.options import api_name, build_body, python_name
from contracts.spec import Contract, get_contract

JOB_ID = "email:demo@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
CREATED = {"jobId": JOB_ID, "generationId": "gen_1"}


@pytest.mark.parametrize(
    ("python", "api"),
    [
        ("aspect_ratio", "aspectRatio"),
        ("reference_strength", "reference_strength"),
        ("shot_type", "shotType"),
        ("shot_angle", "shotAngle"),
        ("poll_for_result", "pollForResult"),
        ("max_jobs", "maxJobs"),
        ("reply_url", "replyUrl"),
        ("reply_ref", "replyRef"),
        ("start_asset_id", "startAssetId"),
        ("end_asset_id", "endAssetId"),
        ("audio_sfx", "audioSFX"),
        ("reference_asset_id", "referenceAssetId"),
        ("reference_asset_id2", "referenceAssetId2"),
        ("reference_asset_id3", "referenceAssetId3"),
        ("job_id", "jobId"),
        ("prompt", "prompt"),
    ],
)
def test_names_map_both_ways(python: str, api: str) -> None:
    assert api_name(python) == api
    assert python_name(api) == python
    assert api_name(api) == api  # API names are accepted as they are


def test_every_python_keyword_of_every_method_is_a_contract_field() -> None:
    """The explicit keywords of the generation methods all exist in the request schemas."""
    import inspect

    contract = get_contract()
    for method in ("create_image", "edit_image", "upscale_image", "create_ltx_video", "create_veo_video",
                   "create_account"):
        props = contract[api_name(method)].body_properties
        params = [p for p in inspect.signature(getattr(LTXStudioClient, method)).parameters.values()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"]
        for param in params:
            assert api_name(param.name) in props, (method, param.name)


def _sent(mocked: responses.RequestsMock) -> dict:
    assert len(mocked.calls) == 1
    return json.loads(mocked.calls[0].request.body)


def test_create_image_maps_python_names_and_drops_nones(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/images/create", json=CREATED)
    result = api.create_image("a cat", aspect_ratio="9:16", reference_asset_id="asset:x",
                              reference_strength=70, style="anime", shot_type="close-up",
                              shot_angle="low-angle", seed=7, poll_for_result=3, max_jobs=5,
                              reply_url="https://hook.test/x", reply_ref="r1")
    assert result.job_id == JOB_ID
    assert _sent(mocked) == {
        "prompt": "a cat", "aspectRatio": "9:16", "referenceAssetId": "asset:x", "reference_strength": 70,
        "style": "anime", "shotType": "close-up", "shotAngle": "low-angle", "seed": 7, "pollForResult": 3,
        "maxJobs": 5, "replyUrl": "https://hook.test/x", "replyRef": "r1",
    }
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer test-token"


def test_ltx_video_duration_int_becomes_the_documented_string(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/videos/ltx-create", json=CREATED)
    api.create_ltx_video("waves", start_asset_id="asset:a", end_asset_id="asset:b", duration=5,
                         audio_sfx=True, intensity="high", model="ltxv")
    assert _sent(mocked) == {"prompt": "waves", "startAssetId": "asset:a", "endAssetId": "asset:b",
                             "duration": "5", "audioSFX": True, "intensity": "high", "model": "ltxv"}


def test_extra_options_accept_api_and_python_names(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/videos/veo-create", json=CREATED)
    api.create_veo_video(model="veo3", startAssetId="asset:a", **{"resolution": "720p"})
    assert _sent(mocked) == {"model": "veo3", "startAssetId": "asset:a", "resolution": "720p"}


def test_edit_and_upscale_bodies(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/images/edit", json=CREATED)
    mocked.post(f"{api.base_url}/images/upscale", json=CREATED)
    api.edit_image("brighter", "asset:1", reference_asset_id2="asset:2", reference_asset_id3="asset:3",
                   model="flux-premium")
    api.upscale_image(JOB_ID, poll_for_result=20)
    assert json.loads(mocked.calls[0].request.body) == {
        "prompt": "brighter", "referenceAssetId": "asset:1", "referenceAssetId2": "asset:2",
        "referenceAssetId3": "asset:3", "model": "flux-premium"}
    assert json.loads(mocked.calls[1].request.body) == {"jobId": JOB_ID, "pollForResult": 20}


def test_create_account_cookie_mapping(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/accounts", json={"email": "a@b.c", "maxJobs": 3})
    account = api.create_account({"lt_id": "1", "lt_token": "t", "lt_refresh_token": "r"}, max_jobs=3)
    assert account.email == "a@b.c"
    assert _sent(mocked) == {"cookie": "lt_id=1; lt_token=t; lt_refresh_token=r", "maxJobs": 3}


# -- rejected before sending ---------------------------------------------------------------------
REJECTED = [
    # images/create: enums, ranges, lengths
    ("create_image", ("x",), {"aspect_ratio": "4:3"}, "aspect_ratio (aspectRatio)"),
    ("create_image", ("x",), {"model": "dall-e"}, "model"),
    ("create_image", ("x",), {"style": "baroque"}, "style"),
    ("create_image", ("x",), {"shot_angle": "dutch"}, "shot_angle (shotAngle)"),
    ("create_image", ("x",), {"reference_strength": 101}, "maximum of 100"),
    ("create_image", ("x",), {"reference_strength": -1}, "minimum of 0"),
    ("create_image", ("x",), {"poll_for_result": 0}, "minimum of 1"),
    ("create_image", ("x",), {"poll_for_result": 21}, "maximum of 20"),
    ("create_image", ("x",), {"max_jobs": 0}, "minimum of 1"),
    ("create_image", ("x",), {"max_jobs": 101}, "maximum of 100"),
    ("create_image", ("x" * 2001,), {}, "longer than 2000"),
    ("create_image", ("x",), {"location": "y" * 2001}, "longer than 2000"),
    ("create_image", ("x",), {"weather": "y" * 2001}, "longer than 2000"),
    ("create_image", ("x",), {"lighting": "y" * 2001}, "longer than 2000"),
    ("create_image", ("",), {}, "prompt"),
    # images/create: only flux takes referenceAssetId, reference_strength, style
    ("create_image", ("x",), {"model": "flux-premium", "reference_asset_id": "asset:1"},
     "referenceAssetId is not supported by model flux-premium"),
    ("create_image", ("x",), {"model": "nano-banana", "reference_strength": 10},
     "reference_strength is not supported by model nano-banana"),
    ("create_image", ("x",), {"model": "nano-banana", "style": "anime"},
     "style is not supported by model nano-banana"),
    # images/edit: no referenceAssetId3 with flux (the default), no aspectRatio with nano-banana
    ("edit_image", ("x", "asset:1"), {"reference_asset_id3": "asset:3"},
     "referenceAssetId3 is not supported by model flux"),
    ("edit_image", ("x", "asset:1"), {"model": "flux", "reference_asset_id3": "asset:3"},
     "referenceAssetId3 is not supported by model flux"),
    ("edit_image", ("x", "asset:1"), {"model": "nano-banana", "aspect_ratio": "1:1"},
     "aspectRatio is not supported by model nano-banana"),
    # images/upscale: an image job id
    ("upscale_image", ("not-a-job",), {}, "job_id (jobId)"),
    # ltx-create: a frame is required; enums
    ("create_ltx_video", ("x",), {}, "startAssetId or endAssetId is required"),
    ("create_ltx_video", ("x",), {"start_asset_id": "a", "duration": 4}, "duration"),
    ("create_ltx_video", ("x",), {"start_asset_id": "a", "intensity": "extreme"}, "intensity"),
    ("create_ltx_video", ("x",), {"start_asset_id": "a", "model": "veo2"}, "model"),
    ("create_ltx_video", ("x",), {"start_asset_id": "a", "audio_sfx": "yes"}, "audio_sfx (audioSFX)"),
    # veo-create: veo2 (default) needs startAssetId, 5-8 s, 16:9/9:16, no resolution
    ("create_veo_video", (), {}, "startAssetId is required for model veo2"),
    ("create_veo_video", (), {"model": "veo2"}, "startAssetId is required for model veo2"),
    ("create_veo_video", (), {"start_asset_id": "a", "duration": 9}, "duration"),
    ("create_veo_video", (), {"start_asset_id": "a", "duration": 4}, "duration"),
    ("create_veo_video", (), {"start_asset_id": "a", "aspect_ratio": "1:1"}, "aspect_ratio (aspectRatio)"),
    ("create_veo_video", (), {"start_asset_id": "a", "resolution": "720p"},
     "resolution is not supported by model veo2"),
    # veo3 / veo3-fast: 8 s and 16:9 only, resolution 720p/1080p
    ("create_veo_video", (), {"model": "veo3", "duration": 5}, "duration must be 8 for model veo3"),
    ("create_veo_video", (), {"model": "veo3", "aspect_ratio": "9:16"},
     "aspectRatio must be 16:9 for model veo3"),
    ("create_veo_video", (), {"model": "veo3-fast", "duration": "7"},
     "duration must be 8 for model veo3-fast"),
    ("create_veo_video", (), {"model": "veo3-fast", "aspect_ratio": "9:16"},
     "aspectRatio must be 16:9 for model veo3-fast"),
    ("create_veo_video", (), {"model": "veo3", "resolution": "4k"}, "resolution"),
    ("create_veo_video", (), {"model": "veo3", "prompt": "p" * 2001}, "longer than 2000"),
    # accounts
    ("create_account", ("lt_token=a; lt_refresh_token=b",), {"max_jobs": 101}, "maximum of 100"),
    ("create_account", ("lt_token=a; lt_refresh_token=b",), {"max_jobs": 0}, "minimum of 1"),
    ("create_account", ("lt_id=only",), {}, "cookie"),
    # typos are caught, not sent and ignored
    ("create_image", ("x",), {"aspect_ration": "16:9"}, "unknown option"),
    ("create_veo_video", (), {"model": "veo3", "style": "anime"}, "unknown option"),
    ("create_image", ("x",), {"aspect_ratio": "1:1", "aspectRatio": "1:1"}, "given twice"),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "expected"), REJECTED,
                         ids=[f"{m}-{i}" for i, (m, *_rest) in enumerate(REJECTED)])
def test_rejected_locally_without_a_request(api: LTXStudioClient, mocked, method, args, kwargs,
                                            expected) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(api, method)(*args, **kwargs)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, LTXStudioError)
    assert info.value.errors
    assert len(mocked.calls) == 0


def test_cookie_secrets_never_appear_in_errors(api: LTXStudioClient, mocked) -> None:
    with pytest.raises(ValidationError) as info:
        api.create_account("lt_id=1; lt_token=SECRET-TOKEN")
    assert "SECRET" not in str(info.value) and "SECRET" not in " ".join(info.value.errors)
    assert "lt_refresh_token" in str(info.value)
    assert len(mocked.calls) == 0


def test_all_problems_reported_at_once(api: LTXStudioClient) -> None:
    with pytest.raises(ValidationError) as info:
        api.create_veo_video(model="veo3", duration=5, aspect_ratio="9:16", poll_for_result=99)
    assert len(info.value.errors) == 3


ACCEPTED = [
    ("create_image", ("x",), {"model": "flux", "reference_asset_id": "a", "reference_strength": 0,
                              "style": "base"}),
    ("create_image", ("x" * 2000,), {"model": "nano-banana", "aspect_ratio": "1:1", "poll_for_result": 20}),
    ("create_image", ("x",), {"model": "flux-premium", "max_jobs": 100, "seed": 0}),
    ("edit_image", ("x", "a"), {"model": "nano-banana", "reference_asset_id2": "b",
                                "reference_asset_id3": "c"}),
    ("edit_image", ("x", "a"), {"model": "flux", "reference_asset_id2": "b", "aspect_ratio": "9:16"}),
    ("create_ltx_video", ("x",), {"end_asset_id": "a", "duration": "30", "aspect_ratio": "1:1"}),
    ("create_veo_video", (), {"start_asset_id": "a", "duration": 8, "aspect_ratio": "9:16"}),
    ("create_veo_video", (), {"model": "veo3", "duration": 8, "resolution": "720p"}),
    ("create_veo_video", (), {"model": "veo3-fast", "resolution": "1080p", "aspect_ratio": "16:9"}),
    ("create_veo_video", (), {"model": "veo3-fast", "prompt": "text only"}),
    ("upscale_image", (JOB_ID,), {"poll_for_result": 1}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), ACCEPTED)
def test_accepted_and_sent(api: LTXStudioClient, mocked, method, args, kwargs) -> None:
    mocked.add(responses.POST, re.compile(r".*"), json=CREATED)
    result = getattr(api, method)(*args, **kwargs)
    assert result.job_id == JOB_ID
    assert len(mocked.calls) == 1


def test_validate_false_sends_anything(make_client, fake_clock, mocked) -> None:
    raw = make_client("t", "https://api.test/v1/ltxstudio", validate=False)
    mocked.post("https://api.test/v1/ltxstudio/videos/veo-create", json=CREATED)
    raw.create_veo_video(model="veo3", duration=5)
    assert json.loads(mocked.calls[0].request.body) == {"model": "veo3", "duration": 5}


# -- query parameters and uploads ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [({"filter": "pictures"}, "filter"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
     ({"page": 0}, "page"), ({"email": "not-an-email"}, "email")],
)
def test_list_assets_params_checked(api: LTXStudioClient, mocked, kwargs, expected) -> None:
    with pytest.raises(ValidationError, match=expected):
        api.list_assets(**kwargs)
    assert len(mocked.calls) == 0


def test_upload_type_and_content_type_checked(api: LTXStudioClient, mocked) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    with pytest.raises(ValidationError, match="type"):
        api.upload_asset(png, type="video")
    for not_a_type in ("image/*", "*/*", "png", "image/png/x", "image/ png"):
        with pytest.raises(ValidationError, match="content type"):
            api.upload_asset(png, content_type=not_a_type)
    with pytest.raises(ValidationError, match="content type"):
        api.upload_asset(b"no magic here")
    with pytest.raises(ValidationError, match="empty"):
        api.upload_asset(b"", content_type="image/png")
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("mime", ["application/pdf", "text/plain", "audio/ogg", "image/avif", "video/x-matroska",
                                  "Application/PDF; charset=binary"])
def test_upload_takes_any_media_type(api: LTXStudioClient, mocked, mime: str) -> None:
    """The contract's */* entry: any concrete type/subtype goes out as given (issue 15)."""
    mocked.post(f"{api.base_url}/assets/", json={"asset": {"fileId": "asset:3"}})
    assert api.upload_asset(b"%PDF-1.4 ...", content_type=mime).file_id == "asset:3"
    assert mocked.calls[0].request.headers["Content-Type"] == mime


# -- the rules come from openapi.yaml ------------------------------------------------------------
def test_rules_follow_the_spec_not_the_code(make_client, fake_clock, mocked) -> None:
    """Edit the contract (a copy) and the client's checks change with it: nothing is hard-coded."""
    spec = copy.deepcopy(get_contract().document)
    schemas = spec["components"]["schemas"]
    schemas["ImageAspectRatio"]["enum"].append("4:3")
    schemas["MaxJobs"]["maximum"] = 5
    contract = Contract(spec)
    mocked.post("https://api.test/v1/ltxstudio/images/create", json=CREATED)
    custom = make_client("t", "https://api.test/v1/ltxstudio", contract=contract)
    custom.create_image("x", aspect_ratio="4:3")
    with pytest.raises(ValidationError, match="maximum of 5"):
        custom.create_image("x", max_jobs=6)
    assert len(mocked.calls) == 1


def test_x_error_message_found_on_nested_anyof() -> None:
    spec = {"paths": {"/images/create": {"post": {"operationId": "createImage", "requestBody": {"content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/R"}}}}}}},
        "components": {"schemas": {"R": {"type": "object", "properties": {"a": {}, "b": {}}, "allOf": [
            {"anyOf": [{"required": ["a"]}, {"required": ["b"]}], "x-error-message": "a or b, please"}]}}}}
    with pytest.raises(ValidationError) as info:
        build_body("create_image", {}, contract=Contract(spec))
    assert info.value.errors == ["a or b, please"]


def test_without_validation_nothing_is_checked_locally() -> None:
    assert build_body("createVeoVideo", {"model": "veo3", "duration": 5}, validate=False) == {
        "model": "veo3", "duration": 5}
    with pytest.raises(ValidationError, match="duration must be 8 for model veo3"):
        build_body("createVeoVideo", {"model": "veo3", "duration": 5})
