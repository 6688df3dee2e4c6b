"""POST /assets/ (raw uploads) and GET /assets/ (listing, pages, filters, thumbnails, email rules)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from helpers import png_bytes
from sim_helpers import DEMO_EMAIL, Api

FILE_ID = re.compile(r"^asset:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-type:(?P<mime>.+)$")


def test_assets_upload_raw_body(api: Api, admin: Any) -> None:
    data = png_bytes((16, 9))
    now = admin.clock()["now"]
    body = api.upload(data, "image/png")
    asset = body["asset"]
    m = FILE_ID.match(asset["fileId"])
    assert m and m["mime"] == "image/png"
    assert asset["mimeType"] == "image/png"
    assert asset["type"] == "image"  # the default type
    assert body["expirationDateString"].isdigit() and int(body["expirationDateString"]) > now
    assert body["assetUrl"].startswith(api.url + "/")
    got = requests.get(body["assetUrl"], timeout=10)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["Content-Type"].startswith("image/png")


@pytest.mark.parametrize("kind", ["image", "reference-image"])
def test_assets_upload_type_param(api: Api, kind: str) -> None:
    assert api.upload(type=kind)["asset"]["type"] == kind


@pytest.mark.parametrize("mime", ["image/jpeg", "image/webp", "video/mp4"])
def test_assets_upload_keeps_mime_in_file_id(api: Api, mime: str) -> None:
    body = api.upload(b"\x00\x01 some bytes", mime)
    assert FILE_ID.match(body["asset"]["fileId"])["mime"] == mime
    assert requests.get(body["assetUrl"], timeout=10).headers["Content-Type"].startswith(mime)


def test_assets_upload_bad_requests(api: Api) -> None:
    cases = [
        ({"type": "video"}, b"x", "image/png"),  # not an upload type
        ({}, b"", "image/png"),  # empty body
        ({"email": "nobody@example.com"}, b"x", "image/png"),  # not a configured account
    ]
    for params, data, mime in cases:
        resp = api.post("/assets/", params=params, data=data, headers={"Content-Type": mime})
        assert resp.status_code == 400, (params, resp.text)
        assert set(resp.json()) == {"error", "code"} and resp.json()["code"] == 400
    no_type = api.post("/assets/", data=b"x", headers={"Content-Type": ""})
    assert no_type.status_code == 400
    assert api.ok(api.get("/assets/"))["meta"]["totalItems"] == 0


# Issue 15: "uploads an asset (image, video, audio, or other file)". Any MIME type is taken; its family
# decides asset.type and the GET assets/ filter the file falls under.
ANY_TYPE = [
    ("application/pdf", "other", "other"), ("text/plain", "other", "other"), ("application/json", "other", "other"),
    ("audio/ogg", "audio", "audio"), ("audio/x-wav", "audio", "audio"), ("audio/mp4", "audio", "audio"),
    ("image/avif", "image", "images"), ("image/heic", "image", "images"), ("image/svg+xml", "image", "images"),
    ("video/x-matroska", "video", "videos"), ("application/vnd.ms-excel", "other", "other"),
]


@pytest.mark.parametrize(("mime", "kind", "filter_"), ANY_TYPE)
def test_assets_upload_takes_any_media_type(api: Api, mime: str, kind: str, filter_: str) -> None:
    data = b"%PDF-1.4 not inspected"
    body = api.upload(data, mime)
    asset = body["asset"]
    assert asset["mimeType"] == mime and FILE_ID.match(asset["fileId"])["mime"] == mime
    assert asset["type"] == kind
    got = requests.get(body["assetUrl"], timeout=10)
    assert got.status_code == 200 and got.content == data and got.headers["Content-Type"].startswith(mime)
    counts = {f: api.ok(api.get("/assets/", params={"filter": f}))["meta"]["totalItems"]
              for f in ("images", "videos", "audio", "other")}
    assert counts == {f: int(f == filter_) for f in counts}
    item = api.ok(api.get("/assets/", params={"filter": filter_}))["items"][0]
    assert item["signedAsset"]["asset"] == asset
    assert ("thumbnails" in item["relatedAssets"]) == (kind in ("image", "video"))


def test_assets_upload_kind_ignores_type_param_for_non_images(api: Api) -> None:
    assert api.upload(b"\0\0\0\x18ftypmp42", "video/mp4", type="reference-image")["asset"]["type"] == "video"
    assert api.upload(b"%PDF", "application/pdf", type="image")["asset"]["type"] == "other"
    assert api.upload(type="reference-image")["asset"]["type"] == "reference-image"


def test_assets_upload_media_type_parameters_and_case(api: Api) -> None:
    asset = api.upload(b"text", "Text/Plain; charset=utf-8")["asset"]
    assert asset["mimeType"] == "text/plain" and asset["fileId"].endswith("-type:text/plain")


@pytest.mark.parametrize("mime", ["image/*", "*/*", "pdf", "application/", "/pdf", "image/png/x",
                                  "-image/png", "image/p{ng"])
def test_assets_upload_rejects_what_is_not_a_media_type(api: Api, mime: str) -> None:
    resp = api.post("/assets/", data=b"hello", headers={"Content-Type": mime})
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error", "code"} and resp.json()["code"] == 400
    assert api.ok(api.get("/assets/"))["meta"]["totalItems"] == 0


def test_assets_other_file_is_not_a_reference_image(api: Api) -> None:
    fid = api.upload(b"%PDF", "application/pdf", type="reference-image")["asset"]["fileId"]
    resp = api.post("/images/create", json={"prompt": "p", "model": "flux", "referenceAssetId": fid})
    assert resp.status_code == 400 and "image is required" in resp.json()["error"]


def test_assets_upload_over_limit_is_413(api: Api) -> None:
    resp = api.post("/assets/", data=b"\0" * (21 * 1024 * 1024), headers={"Content-Type": "image/png"})
    assert resp.status_code == 413
    body = resp.json()
    assert set(body) == {"error", "code"} and body["code"] == 413 and body["error"]
    assert api.ok(api.get("/assets/"))["meta"]["totalItems"] == 0


def test_assets_chunked_upload_over_limit_is_413(api: Api) -> None:
    def chunks() -> Any:
        for _ in range(21):
            yield b"\0" * (1024 * 1024)

    resp = api.post("/assets/", data=chunks(), headers={"Content-Type": "image/png"})
    assert resp.status_code == 413
    assert resp.json()["code"] == 413
    assert api.ok(api.get("/assets/"))["meta"]["totalItems"] == 0


def test_assets_listing_pages_and_meta(api: Api, admin: Any) -> None:
    ids = []
    for _ in range(25):
        ids.append(api.upload_id())
        admin.advance(1)
    seen: list[str] = []
    for page, expected in ((1, 10), (2, 10), (3, 5)):
        body = api.ok(api.get("/assets/", params={"page": page, "limit": 10}))
        assert body["meta"] == {"totalItems": 25, "itemCount": expected, "itemsPerPage": 10, "totalPages": 3,
                                "currentPage": page}
        assert len(body["items"]) == expected
        seen += [item["signedAsset"]["asset"]["fileId"] for item in body["items"]]
    assert seen == list(reversed(ids))  # newest first, no duplicates, nothing missing
    beyond = api.ok(api.get("/assets/", params={"page": 4, "limit": 10}))
    assert beyond["items"] == [] and beyond["meta"]["totalItems"] == 25
    default = api.ok(api.get("/assets/"))
    assert default["meta"]["itemsPerPage"] == 20 and default["meta"]["currentPage"] == 1
    assert len(default["items"]) == 20


def test_assets_listing_items_have_ids_and_thumbnails(api: Api) -> None:
    fid = api.upload_id()
    item = api.ok(api.get("/assets/"))["items"][0]
    assert fid == item["signedAsset"]["asset"]["fileId"]
    assert fid.startswith(f"asset:{item['id']}-type:")
    thumb = item["relatedAssets"]["thumbnails"]["large"]
    assert thumb["asset"]["mimeType"] == "image/webp"
    got = requests.get(thumb["assetUrl"], timeout=10)
    assert got.status_code == 200
    assert got.content[:4] == b"RIFF" and got.content[8:12] == b"WEBP"


def test_assets_listing_filter(api: Api) -> None:
    api.upload()
    api.upload(mime="image/jpeg")
    api.upload(b"\0\0\0\x18ftypmp42", "video/mp4")
    counts = {f: api.ok(api.get("/assets/", params={"filter": f}))["meta"]["totalItems"]
              for f in ("images", "videos", "audio", "other")}
    assert counts == {"images": 2, "videos": 1, "audio": 0, "other": 0}
    videos = api.ok(api.get("/assets/", params={"filter": "videos"}))["items"]
    assert videos[0]["signedAsset"]["asset"]["mimeType"] == "video/mp4"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"page": 0}, {"page": "x"},
                                    {"filter": "pictures"}, {"email": "not-an-email"}])
def test_assets_listing_bad_params_are_400(api: Api, params: dict[str, Any]) -> None:
    resp = api.get("/assets/", params=params)
    assert resp.status_code == 400
    assert resp.json()["code"] == 400


def test_assets_email_optional_with_one_account_required_with_two(api: Api, second_account: str) -> None:
    for resp in (api.post("/assets/", data=png_bytes(), headers={"Content-Type": "image/png"}),
                 api.get("/assets/")):
        assert resp.status_code == 400
        assert "email" in resp.json()["error"]
    mine = api.upload(email=second_account)
    assert api.ok(api.get("/assets/", params={"email": second_account}))["meta"]["totalItems"] == 1
    assert api.ok(api.get("/assets/", params={"email": DEMO_EMAIL}))["meta"]["totalItems"] == 0
    assert mine["asset"]["fileId"].startswith("asset:")


def test_assets_url_expires(api: Api, admin: Any) -> None:
    body = api.upload()
    expires = int(body["expirationDateString"])
    assert int(parse_qs(urlsplit(body["assetUrl"]).query)["Expires"][0]) == expires
    admin.advance((expires - admin.clock()["now"]) / 1000 - 5)
    assert requests.get(body["assetUrl"], timeout=10).status_code == 200
    admin.advance(10)
    late = requests.get(body["assetUrl"], timeout=10)
    assert 400 <= late.status_code < 500
    # A fresh listing signs afresh: the asset itself is still there.
    fresh = api.ok(api.get("/assets/"))["items"][0]["signedAsset"]
    assert int(fresh["expirationDateString"]) > expires
    assert requests.get(fresh["assetUrl"], timeout=10).status_code == 200


def test_assets_tampered_signature_is_403(api: Api) -> None:
    url = api.upload()["assetUrl"]
    sig = parse_qs(urlsplit(url).query)["Signature"][0]
    forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert requests.get(forged, timeout=10).status_code == 403
    expires = parse_qs(urlsplit(url).query)["Expires"][0]
    later = url.replace(f"Expires={expires}", f"Expires={int(expires) + 86_400_000}")
    assert requests.get(later, timeout=10).status_code == 403
    other = url.replace("/user-uploads/", "/user-uploads/x")
    assert requests.get(other, timeout=10).status_code in (403, 404)
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
