"""Generated artifacts: served by the simulator itself, real PNG / MP4 / WebP bytes, signed and expiring."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
import requests
from PIL import Image
from sim_helpers import Api


def mp4_boxes(data: bytes) -> list[str]:
    """Top-level ISO BMFF box types; asserts the sizes tile the file exactly."""
    boxes, pos = [], 0
    while pos < len(data):
        assert pos + 8 <= len(data), "truncated box header"
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        assert size >= 8, f"bad box size {size} at {pos}"
        boxes.append(kind.decode("latin-1"))
        pos += size
    assert pos == len(data), "boxes do not end at the end of the file"
    return boxes


def finish(api: Api, admin: Any, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    job_id = api.create(operation, body)["jobId"]
    admin.advance(900)
    job = api.ok(api.job(job_id))
    assert job["status"]["type"] == "completed", job
    return job


def fetch(url: str, api: Api) -> requests.Response:
    assert url.startswith(api.url + "/"), url
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


@pytest.mark.parametrize(("aspect", "shape"), [("16:9", "wide"), ("9:16", "tall"), ("1:1", "square")])
def test_artifact_image_is_a_real_png(api: Api, admin: Any, aspect: str, shape: str) -> None:
    job = finish(api, admin, "images/create", {"prompt": "A harbour", "aspectRatio": aspect})
    resp = fetch(job["status"]["artifact"]["assetUrl"], api)
    assert resp.headers["Content-Type"].startswith("image/png")
    img = Image.open(io.BytesIO(resp.content))
    img.verify()
    img = Image.open(io.BytesIO(resp.content))
    assert img.format == "PNG"
    w, h = img.size
    assert {"wide": w > h, "tall": h > w, "square": w == h}[shape], img.size
    again = fetch(api.ok(api.job(job["jobId"]))["status"]["artifact"]["assetUrl"], api)
    assert again.content == resp.content  # the same job always has the same bytes


def test_artifact_upscale_is_larger(api: Api, admin: Any) -> None:
    source = finish(api, admin, "images/create", {"prompt": "A harbour"})
    up = finish(api, admin, "images/upscale", {"jobId": source["jobId"]})
    small = Image.open(io.BytesIO(fetch(source["status"]["artifact"]["assetUrl"], api).content))
    big = Image.open(io.BytesIO(fetch(up["status"]["artifact"]["assetUrl"], api).content))
    assert big.format == "PNG"
    assert big.size[0] > small.size[0] and big.size[1] > small.size[1]


@pytest.mark.parametrize(("operation", "body"), [
    ("videos/ltx-create", {"prompt": "Waves", "startAssetId": "$IMG", "aspectRatio": "9:16"}),
    ("videos/veo-create", {"model": "veo3-fast"}),
])
def test_artifact_video_is_a_real_mp4(api: Api, admin: Any, operation: str, body: dict[str, Any]) -> None:
    body = {k: (api.upload_id() if v == "$IMG" else v) for k, v in body.items()}
    job = finish(api, admin, operation, body)
    artifact = job["status"]["artifact"]
    assert artifact["asset"]["mimeType"] == "video/mp4"
    assert artifact["asset"]["fileId"].endswith("-type:video/mp4")
    resp = fetch(artifact["assetUrl"], api)
    assert resp.headers["Content-Type"].startswith("video/mp4")
    boxes = mp4_boxes(resp.content)
    assert boxes[0] == "ftyp"
    assert {"ftyp", "moov", "mdat"} <= set(boxes)


def test_artifact_listed_with_job_and_thumbnail(api: Api, admin: Any) -> None:
    image = finish(api, admin, "images/create", {"prompt": "p"})
    video = finish(api, admin, "videos/veo-create", {"model": "veo3-fast"})
    items = {i["jobId"]: i for i in api.ok(api.get("/assets/"))["items"] if "jobId" in i}
    assert set(items) == {image["jobId"], video["jobId"]}
    listed = items[image["jobId"]]["signedAsset"]
    assert listed["asset"]["fileId"] == image["status"]["artifact"]["asset"]["fileId"]
    assert listed["asset"]["type"] == "artifact"
    assert Image.open(io.BytesIO(fetch(listed["assetUrl"], api).content)).format == "PNG"
    for item in items.values():
        thumb = fetch(item["relatedAssets"]["thumbnails"]["large"]["assetUrl"], api).content
        assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
        assert Image.open(io.BytesIO(thumb)).format == "WEBP"
    videos = api.ok(api.get("/assets/", params={"filter": "videos"}))["items"]
    assert [v["jobId"] for v in videos] == [video["jobId"]]


def test_artifact_usable_as_reference(api: Api, admin: Any) -> None:
    image = finish(api, admin, "images/create", {"prompt": "p"})
    fid = image["status"]["artifact"]["asset"]["fileId"]
    edit = api.create("images/edit", {"prompt": "brighter", "referenceAssetId": fid})
    assert edit["jobId"].endswith("-type:image")


def test_artifact_url_expires(api: Api, admin: Any) -> None:
    job = finish(api, admin, "images/create", {"prompt": "p"})
    artifact = job["status"]["artifact"]
    fetch(artifact["assetUrl"], api)
    now = admin.clock()["now"]
    admin.advance((int(artifact["expirationDateString"]) - now) / 1000 + 1)
    late = requests.get(artifact["assetUrl"], timeout=10)
    assert 400 <= late.status_code < 500
    fresh = api.ok(api.job(job["jobId"]))["status"]["artifact"]
    assert int(fresh["expirationDateString"]) > int(artifact["expirationDateString"])
    fetch(fresh["assetUrl"], api)


def listed(api: Api, job_id: str) -> dict[str, Any] | None:
    return next((i for i in api.ok(api.get("/assets/"))["items"] if i.get("jobId") == job_id), None)


def test_artifact_outlives_job_retention(api: Api, admin: Any) -> None:
    """Issue 15: the 7-day retention is useapi.net's job record; the file stays in the LTX Studio library."""
    image = finish(api, admin, "images/create", {"prompt": "a red kite", "seed": 3})
    video = finish(api, admin, "videos/ltx-create", {"prompt": "p", "startAssetId": api.upload_id()})
    before = {j["jobId"]: fetch(j["status"]["artifact"]["assetUrl"], api).content for j in (image, video)}
    admin.advance(8 * 24 * 3600)
    for job in (image, video):
        assert api.job(job["jobId"]).status_code == 404  # the job record is gone
        item = listed(api, job["jobId"])
        assert item is not None, job["jobId"]
        assert item["signedAsset"]["asset"] == job["status"]["artifact"]["asset"]
        assert fetch(item["signedAsset"]["assetUrl"], api).content == before[job["jobId"]]
    kinds = {f: api.ok(api.get("/assets/", params={"filter": f}))["meta"]["totalItems"] for f in ("images", "videos")}
    assert kinds == {"images": 2, "videos": 1}  # the uploaded start frame, the image artifact; the video


def test_artifact_listed_when_end_and_retention_pass_in_one_step(api: Api, admin: Any) -> None:
    start = api.balance()
    done = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.fail_next("moderated", progress=40)
    failed = api.create("images/create", {"prompt": "p"})["jobId"]
    admin.advance(8 * 24 * 3600)  # both ended and expired within one advance
    assert api.job(done).status_code == api.job(failed).status_code == 404
    assert listed(api, done) is not None and listed(api, failed) is None
    assert api.balance() == start - 12  # the failed one was refunded, the completed one charged
