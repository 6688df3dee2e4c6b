"""Choices the docs leave open, decided in docs/fidelity.md (issue 25): the older image paths, letter case in
`type`, `filter` and email paths, an upscale of an upscale, `referenceAssetId3` alone, veo3-fast with a start
frame, and bodies sent as form-urlencoded or text/plain."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sim_helpers import DEMO_EMAIL, Api

from contracts.validate import validate_response

# -- images/flux-create and images/flux-edit: the docs' own names for images/create and images/edit ----------


@pytest.mark.parametrize(("old", "new", "op_id"), [("/images/flux-create", "/images/create", "createImageFlux"),
                                                   ("/images/flux-edit", "/images/edit", "editImageFlux")])
def test_older_path_is_the_same_operation(api: Api, admin: Any, old: str, new: str, op_id: str) -> None:
    ref = api.upload_id(type="reference-image")
    body = {"prompt": "A lighthouse", "referenceAssetId": ref, "seed": 7}
    start = api.balance()
    created = api.post(old, json=body)
    assert created.status_code == 200, created.text
    validate_response(op_id, created)
    job_id = created.json()["jobId"]
    assert job_id.endswith("-type:image") and api.balance() == start - 12  # a flux job, charged as one
    admin.advance(120)
    done = api.ok(api.job(job_id))
    assert done["status"]["type"] == "completed"
    # the same rules, word for word, as the current path
    rule = ({"prompt": "p", "model": "flux-premium", "style": "cinematic"} if op_id == "createImageFlux"
            else {**body, "model": "flux", "referenceAssetId3": ref})
    for bad in (rule, {"referenceAssetId": ref}, {**body, "aspectRatio": "4:3"}):
        a, b = api.post(old, json=bad), api.post(new, json=bad)
        assert a.status_code == 400 and (a.status_code, a.json()) == (b.status_code, b.json())
    field = "style" if op_id == "createImageFlux" else "referenceAssetId3"
    model = "flux-premium" if op_id == "createImageFlux" else "flux"
    assert api.post(old, json=rule).json()["error"] == f"{field} is not supported by model {model}"
    # multipart too, and pollForResult answers the job itself
    form = api.post(old, files={"prompt": (None, "p"), "referenceAssetId": (None, ref), "pollForResult": (None, "1")})
    assert form.status_code == 200 and "jobId" in form.json()
    assert api.request("GET", old).status_code == 405


def test_older_paths_need_the_token(api: Api) -> None:
    assert api.as_token(None).post("/images/flux-create", json={"prompt": "p"}).status_code == 401


# -- letter case: documented values and emails are matched exactly -------------------------------------------


def test_filter_and_type_values_are_case_sensitive(api: Api) -> None:
    for params in ({"filter": "Images"}, {"filter": "IMAGES"}):
        resp = api.get("/assets/", params=params)
        assert resp.status_code == 400 and "filter" in resp.json()["error"], resp.text
    assert api.get("/assets/", params={"filter": "images"}).status_code == 200
    before = api.ok(api.get("/assets/"))["meta"]["totalItems"]
    resp = api.post("/assets/", params={"type": "Reference-Image"}, data=b"\x89PNG\r\n\x1a\n",
                    headers={"Content-Type": "image/png"})
    assert resp.status_code == 400 and "type" in resp.json()["error"], resp.text
    assert api.ok(api.get("/assets/"))["meta"]["totalItems"] == before  # nothing stored


def test_email_paths_are_case_sensitive(api: Api) -> None:
    upper = DEMO_EMAIL.upper()
    assert api.get(f"/accounts/{upper}").status_code == 404
    assert api.delete(f"/accounts/{upper}").status_code == 404
    assert api.get(f"/accounts/{DEMO_EMAIL}").status_code == 200  # not deleted
    resp = api.post("/images/create", json={"prompt": "p", "email": upper})
    assert resp.status_code == 400 and upper in resp.json()["error"]


# -- upscale of an upscale ------------------------------------------------------------------------------------


def test_upscale_of_an_upscale_is_400(api: Api, admin: Any, finished_image: Any) -> None:
    source = finished_image()
    up = api.create("images/upscale", {"jobId": source})["jobId"]
    admin.advance(120)
    assert api.ok(api.job(up))["status"]["type"] == "completed"
    start, jobs = api.balance(), api.job_count()
    resp = api.post("/images/upscale", json={"jobId": up})
    assert resp.status_code == 400
    assert "already an upscale" in resp.json()["error"] and source in resp.json()["error"]
    assert (api.balance(), api.job_count()) == (start, jobs)  # nothing charged, nothing created


# -- referenceAssetId3 without referenceAssetId2 ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["flux-premium", "nano-banana"])
def test_third_reference_without_the_second_is_accepted(api: Api, admin: Any, model: str) -> None:
    first, third = api.upload_id(type="reference-image"), api.upload_id(type="reference-image")
    job = api.create("images/edit", {"prompt": "p", "model": model, "referenceAssetId": first,
                                     "referenceAssetId3": third})
    admin.advance(120)
    assert api.ok(api.job(job["jobId"]))["status"]["type"] == "completed"
    # still an asset of this account that must exist
    bad = api.post("/images/edit", json={"prompt": "p", "model": model, "referenceAssetId": first,
                                          "referenceAssetId3": "asset:nope"})
    assert bad.status_code == 400 and "referenceAssetId3" in bad.json()["error"]


# -- veo3-fast ("text to video") with a start frame ------------------------------------------------------------


def test_veo3_fast_takes_a_start_frame(api: Api, admin: Any) -> None:
    """The page's table marks startAssetId Optional for veo3-fast, and its own example sends one."""
    frame = api.upload_id(type="reference-image")
    job = api.create("videos/veo-create", {"model": "veo3-fast", "startAssetId": frame, "prompt": "p"})
    admin.advance(900)
    assert api.ok(api.job(job["jobId"]))["status"]["type"] == "completed"


# -- bodies that are not JSON or multipart ---------------------------------------------------------------------


def test_form_urlencoded_body_is_read_as_fields(api: Api) -> None:
    resp = api.post("/images/create", data={"prompt": "p", "seed": "5", "aspectRatio": "9:16"})
    assert resp.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert resp.status_code == 200, resp.text
    job = api.ok(api.job(resp.json()["jobId"]))
    assert job["jobId"] == resp.json()["jobId"]
    bad = api.post("/images/create", data={"prompt": "p", "seed": "five"})  # coerced like multipart, then checked
    assert bad.status_code == 400 and "seed" in bad.json()["error"]


def test_text_plain_body_is_read_as_json(api: Api) -> None:
    """fetch() labels a string body text/plain unless told otherwise: the JSON in it is what counts."""
    body = json.dumps({"prompt": "p", "aspectRatio": "1:1"})
    resp = api.post("/images/create", data=body, headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert resp.status_code == 200, resp.text
    start = api.job_count()
    bad = api.post("/images/create", data="prompt=p", headers={"Content-Type": "text/plain"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]
    assert api.job_count() == start
