"""Every failure is ``{"error": "<reason>", "code": N}``, never a 500, and leaves the state as it was."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sim_helpers import DEMO_EMAIL, Api

from contracts.spec import get_contract

OPERATIONS = sorted(get_contract().operations.values(), key=lambda op: op.operation_id)
SAMPLE_JOB = "email:demo@example.com-job:7a34b821-9fd0-405e-a21b-4abc6f7839e7-type:image"
JSON_OPS = [op for op in OPERATIONS if "application/json" in op.body_schemas]


def concrete_path(op: Any) -> str:
    return op.path.replace("{email}", DEMO_EMAIL).replace("{jobId}", SAMPLE_JOB)


def assert_error(resp: requests.Response, status: int | None = None) -> dict[str, Any]:
    assert resp.status_code < 500, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
    assert resp.status_code >= 400
    if status is not None:
        assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error", "code"}, body
    assert body["code"] == resp.status_code
    assert isinstance(body["error"], str) and body["error"].strip()
    return body


def snapshot_state(api: Api, admin: Any) -> tuple[Any, ...]:
    accounts = api.ok(api.get("/accounts"))
    return (api.balance(), admin.jobs()["total"], api.ok(api.get("/assets/"))["meta"]["totalItems"],
            {e: (a["maxJobs"], a["updated"]) for e, a in accounts.items()})


AUTH_VARIANTS = [None, "Bearer wrong-token", "Bearer ", "Basic ZGVtbzp0b2tlbg==", "demo-token", "Bearer demo-token-x",
                 "bearer wrong-token"]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_errors_401_on_every_operation(api: Api, admin: Any, op: Any) -> None:
    assert len(OPERATIONS) == 17  # 15 documented operations and 2 older paths (images/flux-create, flux-edit)
    before = snapshot_state(api, admin)
    for auth in AUTH_VARIANTS:
        headers = {} if auth is None else {"Authorization": auth}
        kwargs: dict[str, Any] = {"headers": headers}
        if op.method == "POST":
            if op.operation_id == "uploadAsset":
                kwargs["data"] = b"\x89PNG...."
                headers["Content-Type"] = "image/png"
            else:
                kwargs["json"] = {"prompt": "p", "cookie": "lt_token=a; lt_refresh_token=b"}
        resp = api.session.request(op.method, api.base + concrete_path(op), timeout=10, **kwargs)
        assert assert_error(resp, 401) == {"error": "Unauthorized", "code": 401}, auth
    assert snapshot_state(api, admin) == before


JUNK: list[tuple[bytes, str | None]] = [
    (b"{bad json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"null", "application/json"),
    (b"42", "application/json"),
    (b"", "application/json"),
    (b"", None),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b'{"prompt": 5, "cookie": 5, "jobId": 5}', "application/json"),
    (b'{"prompt": null, "cookie": null, "jobId": null}', "application/json"),
    (b'{"prompt": ["a"], "cookie": {"a": 1}, "jobId": [1]}', "application/json"),
    (b'{"maxJobs": "lots", "pollForResult": true}', "application/json"),
    (b"prompt=p&maxJobs=abc", "application/x-www-form-urlencoded"),
    (b"--x\r\nbroken multipart", "multipart/form-data; boundary=x"),
    (b"<xml/>", "application/xml"),
]


@pytest.mark.parametrize("op", JSON_OPS, ids=lambda op: op.operation_id)
def test_errors_junk_bodies_are_400_never_500(api: Api, admin: Any, op: Any) -> None:
    before = snapshot_state(api, admin)
    for raw, content_type in JUNK:
        headers = {"Content-Type": content_type} if content_type else {}
        resp = api.post(concrete_path(op), data=raw, headers=headers)
        assert_error(resp, 400)
    assert snapshot_state(api, admin) == before


@pytest.mark.parametrize("op", JSON_OPS, ids=lambda op: op.operation_id)
def test_errors_oversized_json_body_is_413(api: Api, op: Any) -> None:
    raw = b'{"prompt": "' + b"x" * (21 * 1024 * 1024) + b'"}'
    resp = api.post(concrete_path(op), data=raw, headers={"Content-Type": "application/json"})
    assert_error(resp, 413)


def test_errors_specific_reasons(api: Api) -> None:
    """Messages name the problem, not just the status."""
    cases = [
        (api.post("/images/create", json={"prompt": 5}), "prompt"),
        (api.post("/images/create", json={}), "prompt"),
        (api.post("/images/create", json={"prompt": "p", "aspectRatio": "4:3"}), "aspectRatio"),
        (api.post("/videos/ltx-create", json={"prompt": "p"}), "startAssetId or endAssetId is required"),
        (api.post("/images/create", data=b"{oops", headers={"Content-Type": "application/json"}), "JSON"),
        (api.get("/assets/", params={"limit": 500}), "limit"),
    ]
    for resp, needle in cases:
        assert needle in assert_error(resp, 400)["error"], (needle, resp.text)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/nope"),
    ("GET", "/images/create"),  # wrong method on a real path
    ("POST", "/scheduler"),
    ("PUT", "/accounts"),
    ("GET", "/images"),
    ("DELETE", "/assets/"),
    ("GET", "/v2/ltxstudio/accounts"),
    ("PATCH", f"/accounts/{DEMO_EMAIL}"),
])
@pytest.mark.parametrize("token", ["demo-token", None])
def test_errors_unknown_paths_and_methods(api: Api, method: str, path: str, token: str | None) -> None:
    target = api.url + path if path.startswith("/v2") else api.base + path
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = api.session.request(method, target, headers=headers, timeout=10)
    assert_error(resp)
    assert resp.status_code in (401, 404, 405)


def test_errors_root_and_storage_unknowns(api: Api) -> None:
    for url in (api.url + "/", api.url + "/storage/lt-infinity-prd/nothing.png",
                api.url + "/storage/other-bucket/x.png?Expires=1&Signature=x"):
        resp = requests.get(url, timeout=10)
        assert resp.status_code < 500
        assert resp.status_code >= 400


def test_errors_rejected_requests_leave_state_unchanged(api: Api, admin: Any) -> None:
    api.create("images/create", {"prompt": "keep me"})
    api.upload()
    before = snapshot_state(api, admin)
    rejected = [
        api.post("/images/create", json={"prompt": ""}),
        api.post("/images/create", json={"prompt": "p", "referenceAssetId": "asset:missing"}),
        api.post("/images/edit", json={"prompt": "p"}),
        api.post("/videos/veo-create", json={"model": "veo3", "duration": "5"}),
        api.post("/images/upscale", json={"jobId": SAMPLE_JOB}),
        api.post("/accounts", json={"cookie": "lt_token=a; lt_refresh_token=b", "maxJobs": 5}),
        api.post("/accounts", json={"cookie": admin.new_session(DEMO_EMAIL), "maxJobs": 500}),
        api.post("/assets/", data=b"", headers={"Content-Type": "image/png"}),
        api.delete("/accounts/nobody@example.com"),
        api.delete(f"/scheduler/{SAMPLE_JOB}"),
        api.as_token("intruder").post("/images/create", json={"prompt": "p"}),
    ]
    for resp in rejected:
        assert_error(resp)
    assert snapshot_state(api, admin) == before
