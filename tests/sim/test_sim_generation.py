"""The five generation operations: every documented parameter, enum, length, range and per-model rule.

Bodies are tables; ``$IMG`` / ``$VID`` / ``$REF`` stand for ids of assets uploaded by the test
(an image, a video, a reference image).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import png_bytes
from sim_helpers import DEMO_EMAIL, Api

JOB_ID = re.compile(r"^email:(?P<email>[^\s]+)-job:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                    r"-type:(?P<type>image|video)$")
LONG = "x" * 2000
TOO_LONG = "x" * 2001
MEDIA = {"images/create": "image", "images/edit": "image", "videos/ltx-create": "video",
         "videos/veo-create": "video"}


def fill(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the table's placeholders with real asset ids of this simulator."""
    cache: dict[str, str] = {}

    def asset(tag: str) -> str:
        if tag not in cache:
            if tag == "$VID":
                cache[tag] = api.upload(b"\0\0\0\x18ftypmp42", "video/mp4")["asset"]["fileId"]
            else:
                cache[tag] = api.upload(png_bytes(), "image/png",
                                        type="reference-image" if tag == "$REF" else "image")["asset"]["fileId"]
        return cache[tag]

    out = {}
    for key, value in body.items():
        if isinstance(value, str) and value in ("$IMG", "$VID", "$REF"):
            value = asset(value)
        out[key] = value
    return out


VALID: list[tuple[str, dict[str, Any]]] = [
    ("images/create", {"prompt": "A serene mountain landscape at sunset"}),
    ("images/create", {"prompt": LONG}),
    ("images/create", {"prompt": "p", "location": LONG, "weather": "rain", "lighting": "golden hour",
                       "aspectRatio": "9:16", "style": "cinematic", "shotType": "wide shot",
                       "shotAngle": "eye-level", "seed": 123456, "model": "flux", "referenceAssetId": "$REF",
                       "reference_strength": 0, "email": DEMO_EMAIL, "maxJobs": 100,
                       "replyUrl": "http://127.0.0.1:9/hook", "replyRef": "ref-1"}),
    ("images/create", {"prompt": "p", "aspectRatio": "1:1", "reference_strength": 100, "style": "base"}),
    ("images/create", {"prompt": "p", "aspectRatio": "16:9", "style": "3d_cartoon", "seed": 0, "maxJobs": 1}),
    *[("images/create", {"prompt": "p", "shotAngle": a}) for a in
      ("low-angle", "over-the-shoulder", "overhead", "birds-eye-view")],
    *[("images/create", {"prompt": "p", "style": s}) for s in
      ("vintage", "low_key", "indy", "y2k", "pop", "grunge", "dreamy", "hand_drawn", "2d_novel", "boost",
       "scribble", "film_noir", "anime", "colored")],
    ("images/create", {"prompt": "p", "model": "flux-premium", "aspectRatio": "9:16", "seed": 7}),
    ("images/create", {"prompt": "p", "model": "nano-banana", "location": "Paris"}),
    ("images/edit", {"prompt": "Add golden light", "referenceAssetId": "$REF"}),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$IMG", "referenceAssetId2": "$REF", "model": "flux",
                     "aspectRatio": "1:1", "shotType": "close-up", "shotAngle": "overhead", "seed": 1,
                     "location": "x", "weather": "y", "lighting": "z"}),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "referenceAssetId2": "$IMG",
                     "referenceAssetId3": "$REF", "model": "flux-premium"}),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "referenceAssetId3": "$IMG", "model": "nano-banana"}),
    ("videos/ltx-create", {"prompt": "Flowing water", "startAssetId": "$IMG"}),
    ("videos/ltx-create", {"prompt": "p", "endAssetId": "$IMG"}),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "endAssetId": "$REF", "model": "ltxv",
                           "duration": "30", "aspectRatio": "9:16", "intensity": "high", "audioSFX": True,
                           "seed": 5}),
    *[("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "duration": d}) for d in ("3", "5", "7", "9",
                                                                                             "15")],
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "aspectRatio": "1:1", "intensity": "low",
                           "audioSFX": False, "model": "ltxv-turbo"}),
    ("videos/veo-create", {"startAssetId": "$REF"}),
    ("videos/veo-create", {"prompt": "p", "startAssetId": "$REF", "model": "veo2", "duration": "8",
                           "aspectRatio": "9:16", "audioSFX": True, "seed": 123456}),
    *[("videos/veo-create", {"startAssetId": "$REF", "model": "veo2", "duration": d}) for d in ("5", "6", "7")],
    ("videos/veo-create", {"prompt": "p", "model": "veo3"}),
    ("videos/veo-create", {"prompt": "p", "model": "veo3", "startAssetId": "$REF", "duration": "8",
                           "aspectRatio": "16:9", "resolution": "720p", "audioSFX": True}),
    ("videos/veo-create", {"prompt": LONG, "model": "veo3-fast", "resolution": "1080p"}),
    ("videos/veo-create", {"model": "veo3-fast", "duration": "8"}),
]

# issue 15: the docs write durations as strings; a number, like a value off the list, names the accepted strings
LTX_DURATION = 'duration must be one of "3", "5", "7", "9", "15", "30" (a string)'
VEO_DURATION = 'duration must be one of "5", "6", "7", "8" (a string)'

INVALID: list[tuple[str, dict[str, Any], str | None]] = [
    # images/create: fields
    ("images/create", {}, None),
    ("images/create", {"prompt": ""}, None),
    ("images/create", {"prompt": TOO_LONG}, None),
    ("images/create", {"prompt": 5}, None),
    ("images/create", {"prompt": "p", "location": TOO_LONG}, None),
    ("images/create", {"prompt": "p", "weather": TOO_LONG}, None),
    ("images/create", {"prompt": "p", "lighting": TOO_LONG}, None),
    ("images/create", {"prompt": "p", "aspectRatio": "4:3"}, None),
    ("images/create", {"prompt": "p", "style": "watercolor"}, None),
    ("images/create", {"prompt": "p", "shotAngle": "dutch"}, None),
    ("images/create", {"prompt": "p", "model": "sdxl"}, None),
    ("images/create", {"prompt": "p", "seed": -1}, None),
    ("images/create", {"prompt": "p", "seed": "12"}, None),
    ("images/create", {"prompt": "p", "reference_strength": -1}, None),
    ("images/create", {"prompt": "p", "reference_strength": 101}, None),
    ("images/create", {"prompt": "p", "pollForResult": 0}, None),
    ("images/create", {"prompt": "p", "pollForResult": 21}, None),
    ("images/create", {"prompt": "p", "maxJobs": 0}, None),
    ("images/create", {"prompt": "p", "maxJobs": 101}, None),
    ("images/create", {"prompt": "p", "email": "not-an-email"}, None),
    ("images/create", {"prompt": "p", "email": "stranger@example.com"}, None),
    ("images/create", {"prompt": "p", "replyRef": "r" * 1025}, None),
    # images/create: model rules (referenceAssetId / reference_strength / style only with flux)
    *[("images/create", {"prompt": "p", "model": m, f: v}, f"{f} is not supported by model {m}")
      for m in ("flux-premium", "nano-banana")
      for f, v in (("referenceAssetId", "$REF"), ("reference_strength", 50), ("style", "cinematic"))],
    # images/create: assets
    ("images/create", {"prompt": "p", "referenceAssetId": "asset:00000000-0000-4000-8000-000000000000-type:image/png"},
     None),
    ("images/create", {"prompt": "p", "referenceAssetId": "$VID"}, None),
    # images/edit
    ("images/edit", {"prompt": "p"}, None),
    ("images/edit", {"referenceAssetId": "$REF"}, None),
    ("images/edit", {"prompt": TOO_LONG, "referenceAssetId": "$REF"}, None),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "referenceAssetId3": "$IMG"},
     "referenceAssetId3 is not supported by model flux"),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "referenceAssetId3": "$IMG", "model": "flux"},
     "referenceAssetId3 is not supported by model flux"),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "aspectRatio": "16:9", "model": "nano-banana"},
     "aspectRatio is not supported by model nano-banana"),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "model": "flux-kontext"}, None),
    ("images/edit", {"prompt": "p", "referenceAssetId": "asset:bogus"}, None),
    ("images/edit", {"prompt": "p", "referenceAssetId": "$REF", "referenceAssetId2": "$VID"}, None),
    # videos/ltx-create
    ("videos/ltx-create", {"prompt": "p"}, "startAssetId or endAssetId is required"),
    ("videos/ltx-create", {"startAssetId": "$IMG"}, None),
    ("videos/ltx-create", {"prompt": "", "startAssetId": "$IMG"}, None),
    ("videos/ltx-create", {"prompt": TOO_LONG, "startAssetId": "$IMG"}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "duration": "4"}, LTX_DURATION),
    # issue 15: the docs write durations as strings ("3"); a number is a 400 that says so
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "duration": 3}, LTX_DURATION),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "model": "veo2"}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "aspectRatio": "4:3"}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "intensity": "extreme"}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "audioSFX": "yes"}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "$IMG", "pollForResult": 21}, None),
    ("videos/ltx-create", {"prompt": "p", "startAssetId": "asset:00000000-0000-4000-8000-000000000000-type:image/png"},
     None),
    ("videos/ltx-create", {"prompt": "p", "endAssetId": "$VID"}, None),
    # videos/veo-create
    ("videos/veo-create", {"prompt": "p"}, "startAssetId is required for model veo2"),
    ("videos/veo-create", {"prompt": "p", "model": "veo2"}, "startAssetId is required for model veo2"),
    ("videos/veo-create", {"startAssetId": "$REF", "resolution": "720p"}, "resolution is not supported by model veo2"),
    ("videos/veo-create", {"startAssetId": "$REF", "model": "veo2", "resolution": "1080p"},
     "resolution is not supported by model veo2"),
    ("videos/veo-create", {"startAssetId": "$REF", "duration": "4"}, VEO_DURATION),
    ("videos/veo-create", {"startAssetId": "$REF", "duration": "9"}, VEO_DURATION),
    ("videos/veo-create", {"startAssetId": "$REF", "duration": 5}, VEO_DURATION),
    ("videos/veo-create", {"model": "veo3", "duration": 8}, VEO_DURATION),  # not "must be 8 for model veo3"
    ("videos/veo-create", {"startAssetId": "$REF", "aspectRatio": "1:1"}, None),
    *[("videos/veo-create", {"model": m, "duration": d}, f"duration must be 8 for model {m}")
      for m in ("veo3", "veo3-fast") for d in ("5", "7")],
    *[("videos/veo-create", {"model": m, "aspectRatio": "9:16"}, f"aspectRatio must be 16:9 for model {m}")
      for m in ("veo3", "veo3-fast")],
    ("videos/veo-create", {"model": "veo3", "resolution": "4k"}, None),
    ("videos/veo-create", {"model": "veo4"}, None),
    ("videos/veo-create", {"model": "veo3", "prompt": TOO_LONG}, None),
    ("videos/veo-create", {"model": "veo3", "startAssetId": "$VID"}, None),
    # images/upscale: the body alone
    ("images/upscale", {}, None),
    ("images/upscale", {"jobId": "not-a-job"}, None),
    ("images/upscale", {"jobId": "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:video"}, None),
    ("images/upscale", {"jobId": "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image",
                        "pollForResult": 0}, None),
]


def _id(case: tuple[Any, ...]) -> str:
    op, body = case[0], case[1]
    text = ",".join(f"{k}={str(v)[:12]}" for k, v in body.items())
    return f"{op}:{text}"


@pytest.mark.parametrize(("operation", "body"), VALID, ids=[_id(c) for c in VALID])
def test_generation_valid_bodies_are_admitted(api: Api, admin: Any, operation: str, body: dict[str, Any]) -> None:
    before = api.balance()
    created = api.create(operation, fill(api, body))
    assert set(created) == {"jobId", "generationId"}
    m = JOB_ID.match(created["jobId"])
    assert m, created["jobId"]
    assert m["email"] == DEMO_EMAIL and m["type"] == MEDIA[operation]
    assert created["generationId"]
    assert api.balance() < before
    job = api.ok(api.job(created["jobId"]))
    assert job["jobId"] == created["jobId"] and job["generationId"] == created["generationId"]
    assert job["status"]["type"] == "active"
    if body.get("replyRef"):
        assert job["replyRef"] == body["replyRef"]


@pytest.mark.parametrize(("operation", "body", "message"), INVALID, ids=[_id(c) for c in INVALID])
def test_generation_invalid_bodies_are_400(api: Api, admin: Any, operation: str, body: dict[str, Any],
                                           message: str | None) -> None:
    body = fill(api, body)
    before = api.balance()
    resp = api.post(f"/{operation}", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert set(error) == {"error", "code"} and error["code"] == 400 and error["error"]
    if message is not None:
        assert error["error"] == message
    assert api.balance() == before
    assert admin.jobs()["total"] == 0


def test_generation_job_ids_are_unique_and_typed(api: Api) -> None:
    img = api.create("images/create", {"prompt": "a"})
    img2 = api.create("images/create", {"prompt": "a"})
    vid = api.create("videos/veo-create", {"model": "veo3-fast"})
    assert img["jobId"] != img2["jobId"] and img["generationId"] != img2["generationId"]
    assert JOB_ID.match(img["jobId"])["type"] == "image"
    assert JOB_ID.match(vid["jobId"])["type"] == "video"


def test_generation_multipart_body_is_coerced(api: Api) -> None:
    ref = api.upload_id(type="reference-image")
    resp = api.post("/images/create", files={"prompt": (None, "A red barn"), "seed": (None, "42"),
                                             "reference_strength": (None, "30"), "maxJobs": (None, "5"),
                                             "referenceAssetId": (None, ref), "aspectRatio": (None, "1:1")})
    assert JOB_ID.match(api.ok(resp)["jobId"])
    video = api.post("/videos/ltx-create", files={"prompt": (None, "Waves"), "startAssetId": (None, ref),
                                                  "audioSFX": (None, "true"), "duration": (None, "5")})
    assert JOB_ID.match(api.ok(video)["jobId"])["type"] == "video"
    bad = api.post("/images/create", files={"prompt": (None, "p"), "seed": (None, "minus one")})
    assert bad.status_code == 400


def test_generation_email_selects_the_account(api: Api, second_account: str) -> None:
    body = {"prompt": "p", "email": second_account}
    job = api.create("images/create", body)
    assert JOB_ID.match(job["jobId"])["email"] == second_account
    assert api.balance(second_account) < 28000
    assert api.balance(DEMO_EMAIL) == 28000


def test_generation_asset_binds_the_account(api: Api, second_account: str) -> None:
    ref = api.upload_id(email=second_account, type="reference-image")
    job = api.create("images/edit", {"prompt": "p", "referenceAssetId": ref, "email": second_account})
    assert JOB_ID.match(job["jobId"])["email"] == second_account
    clash = api.post("/images/edit", json={"prompt": "p", "referenceAssetId": ref, "email": DEMO_EMAIL})
    assert clash.status_code == 400


def test_generation_other_tenants_asset_is_rejected(api: Api, admin: Any) -> None:
    admin.add_token("other", demo_account=True)
    other = api.as_token("other")
    theirs = other.upload_id(type="reference-image")
    for op, body in (("images/create", {"prompt": "p", "referenceAssetId": theirs}),
                     ("images/edit", {"prompt": "p", "referenceAssetId": theirs}),
                     ("videos/ltx-create", {"prompt": "p", "startAssetId": theirs}),
                     ("videos/veo-create", {"startAssetId": theirs})):
        resp = api.post(f"/{op}", json=body)
        assert resp.status_code == 400, (op, resp.text)
    assert admin.jobs()["total"] == 0
    assert other.create("images/edit", {"prompt": "p", "referenceAssetId": theirs})


def test_generation_insufficient_credits_is_402(api: Api, admin: Any) -> None:
    admin.drain_credits(DEMO_EMAIL)
    resp = api.post("/images/create", json={"prompt": "p"})
    assert resp.status_code == 402
    assert resp.json() == {"error": "Insufficient credits", "code": 402}
    assert admin.jobs()["total"] == 0


# -- images/upscale ----------------------------------------------------------


def test_upscale_of_completed_image(api: Api, admin: Any, finished_image: Any) -> None:
    source = finished_image()
    job = api.create("images/upscale", {"jobId": source})
    m = JOB_ID.match(job["jobId"])
    assert m["type"] == "image" and m["email"] == DEMO_EMAIL
    assert job["jobId"] != source
    admin.advance(120)
    done = api.ok(api.job(job["jobId"]))
    assert done["status"]["type"] == "completed"
    assert done["status"]["artifact"]["asset"]["mimeType"] == "image/png"


def test_upscale_of_active_image_is_400(api: Api) -> None:
    active = api.create("images/create", {"prompt": "p"})["jobId"]
    resp = api.post("/images/upscale", json={"jobId": active})
    assert resp.status_code == 400
    assert resp.json()["code"] == 400


def test_upscale_of_failed_image_is_400(api: Api, admin: Any) -> None:
    admin.fail_next("nope", progress=10)
    failed = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(120)
    assert api.ok(api.job(failed))["status"]["type"] == "failed"
    assert api.post("/images/upscale", json={"jobId": failed}).status_code == 400


def test_upscale_of_video_job_is_400(api: Api, admin: Any) -> None:
    video = api.create("videos/veo-create", {"model": "veo3-fast"})["jobId"]
    admin.advance(600)
    assert api.ok(api.job(video))["status"]["type"] == "completed"
    resp = api.post("/images/upscale", json={"jobId": video})
    assert resp.status_code == 400
    # The same uuid dressed up as an image job is not a completed image job of ours either.
    disguised = api.post("/images/upscale", json={"jobId": video.replace("-type:video", "-type:image")})
    assert disguised.status_code in (400, 404)


def test_upscale_of_other_tenants_job_is_404(api: Api, admin: Any) -> None:
    admin.add_token("other", demo_account=True)
    other = api.as_token("other")
    theirs = other.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(120)
    assert other.ok(other.job(theirs))["status"]["type"] == "completed"
    resp = api.post("/images/upscale", json={"jobId": theirs})
    assert resp.status_code == 404
    assert resp.json()["code"] == 404


def test_upscale_of_unknown_job_is_404(api: Api) -> None:
    resp = api.post("/images/upscale",
                    json={"jobId": "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image"})
    assert resp.status_code == 404
    assert resp.json()["code"] == 404
