"""The documentation's own Python examples, run against the simulator.

Each page of /work/shared/reference/ has a "Python" tab whose code block lost its line breaks
(``import requests token = "API token" apiUrl = ... print(...)``). ``normalise`` puts them back:
a new statement starts, outside strings and brackets, at ``import``, ``with``, ``print(`` or
``name =``; the statement after a ``with ...:`` header is its (one-line) body. Then only the host,
the token and the pages' placeholder ids are replaced, and the code runs as written.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import png_bytes, probe_mp4
from sim_helpers import DEMO_EMAIL, Api

from contracts.validate import validate_response

REFERENCE = Path(os.environ.get("LTX_REFERENCE_DOCS", "/work/shared/reference"))
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
STATEMENT = re.compile(r"(?:import\b|with\b|print\(|[A-Za-z_]\w*\s*=(?!=))")
JOB_PLACEHOLDER = re.compile(r"email:user@example\.com-job:[^\"']*?-type:(?:image|video)")
ASSET_PLACEHOLDER = re.compile(r"asset:3b18…-type:image/png")
COOKIE_PLACEHOLDER = re.compile(r'"lt_id=user123;[^"]*"')

# page -> (operation, expected status, kind of answer)
PAGES: dict[str, tuple[str, int, str]] = {
    "get-ltxstudio-accounts.md": ("listAccounts", 200, "accounts"),
    "post-ltxstudio-accounts.md": ("createAccount", 200, "account"),
    "get-ltxstudio-accounts-email.md": ("getAccount", 200, "account"),
    "del-ltxstudio-accounts-email.md": ("deleteAccount", 204, "empty"),
    "get-ltxstudio-assets.md": ("listAssets", 200, "listing"),
    "post-ltxstudio-assets.md": ("uploadAsset", 200, "asset"),
    "get-ltxstudio-assets-jobId.md": ("getJob", 200, "job"),
    "post-ltxstudio-images-flux-create.md": ("createImage", 200, "completed"),
    "post-ltxstudio-images-flux-edit.md": ("editImage", 200, "completed"),
    "post-ltxstudio-images-upscale.md": ("upscaleImage", 200, "completed"),
    "post-ltxstudio-videos-ltx-create.md": ("createLtxVideo", 200, "completed"),
    "post-ltxstudio-videos-veo-create.md": ("createVeoVideo", 200, "created"),  # veo3-fast outlasts 10 polls
    "get-ltxstudio-scheduler.md": ("listRunningJobs", 200, "running"),
    "get-ltxstudio-scheduler-available.md": ("getSchedulerAvailable", 200, "available"),
    "del-ltxstudio-scheduler-jobId.md": ("cancelJob", 204, "empty"),
}


def normalise(code: str) -> str:
    """One-line example -> runnable Python, for the pattern these pages share."""
    lines: list[str] = []
    buf: list[str] = []
    depth = 0
    quote: str | None = None
    indent_next = False

    def flush() -> None:
        nonlocal indent_next
        text = "".join(buf).strip()
        buf.clear()
        if not text:
            return
        lines.append(("    " if indent_next else "") + text)
        indent_next = text.startswith("with ") and text.endswith(":")

    i = 0
    while i < len(code):
        ch = code[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and i + 1 < len(code):
                buf.append(code[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch in "([{":
            depth += 1
            buf.append(ch)
        elif ch in ")]}":
            depth -= 1
            buf.append(ch)
        elif ch.isspace() and depth == 0 and STATEMENT.match(code, i + 1) and "".join(buf).strip():
            flush()
        else:
            buf.append(ch)
        i += 1
    flush()
    return "\n".join(lines) + "\n"


def page_example(page: str) -> str:
    text = (REFERENCE / page).read_text(encoding="utf-8")
    blocks = PYTHON_BLOCK.findall(text)
    assert len(blocks) == 1, f"{page}: expected one Python example, found {len(blocks)}"
    return normalise(blocks[0])


pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference docs not available")


def test_doc_examples_normaliser_restores_statements() -> None:
    code = ('import requests token = "API token" headers = { "A" : f"Bearer {token}", "b": "x = y" } '
            'params = { "n": 1 } with open("image.png", "rb") as f: response = requests.post(u, data=f) '
            'print(response, response.json())')
    assert normalise(code) == (
        'import requests\n'
        'token = "API token"\n'
        'headers = { "A" : f"Bearer {token}", "b": "x = y" }\n'
        'params = { "n": 1 }\n'
        'with open("image.png", "rb") as f:\n'
        '    response = requests.post(u, data=f)\n'
        'print(response, response.json())\n')


def test_doc_examples_one_per_operation() -> None:
    pages = sorted(p.name for p in REFERENCE.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))
    assert pages == sorted(PAGES)
    assert len({op for op, _, _ in PAGES.values()}) == 15
    for page in pages:
        code = page_example(page)
        compile(code, page, "exec")
        assert "api.useapi.net" in code and '"API token"' in code


def prepare(api: Api, admin: Any, page: str) -> dict[str, str]:
    """Real ids for the page's placeholders, made through the API."""
    ids: dict[str, str] = {}
    if page in ("post-ltxstudio-images-flux-edit.md", "post-ltxstudio-videos-ltx-create.md",
                "post-ltxstudio-videos-veo-create.md"):
        ids["asset"] = api.upload_id(type="reference-image")
    if page == "post-ltxstudio-images-upscale.md":
        job = api.create("images/create", {"prompt": "A serene mountain landscape at sunset"})["jobId"]
        admin.advance(120)
        ids["job"] = job
    if page == "get-ltxstudio-assets-jobId.md":
        job = api.create("videos/veo-create", {"model": "veo3-fast"})["jobId"]
        admin.advance(600)
        ids["job"] = job
    if page in ("del-ltxstudio-scheduler-jobId.md", "get-ltxstudio-scheduler.md",
                "get-ltxstudio-scheduler-available.md"):
        ids["job"] = api.create("images/create", {"prompt": "p", "replyRef": "reference-id"})["jobId"]
    if page == "get-ltxstudio-assets.md":
        api.upload()
        api.upload(b"\0\0\0\x18ftypmp42", "video/mp4")
    if page == "post-ltxstudio-accounts.md":
        ids["cookie"] = admin.new_session(DEMO_EMAIL)
    return ids


def adapt(code: str, url: str, ids: dict[str, str]) -> str:
    """Only what must change: host, token, placeholder ids, the example account's email."""
    code = code.replace("https://api.useapi.net", url).replace('"API token"', '"demo-token"')
    if "job" in ids:
        code = JOB_PLACEHOLDER.sub(ids["job"], code)
    if "asset" in ids:
        code = ASSET_PLACEHOLDER.sub(ids["asset"], code)
    if "cookie" in ids:
        code = COOKIE_PLACEHOLDER.sub('"' + ids["cookie"] + '"', code)
    return code.replace("user@example.com", DEMO_EMAIL)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_doc_example_runs(api: Api, admin: Any, page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    operation, status, kind = PAGES[page]
    ids = prepare(api, admin, page)
    code = adapt(page_example(page), api.url, ids)
    assert "useapi.net" not in code and "…" not in code and "user@example.com" not in code
    (tmp_path / "image.png").write_bytes(png_bytes((32, 18)))
    monkeypatch.chdir(tmp_path)
    if kind in ("completed", "created"):
        admin.clock(paused=False, speed=1000)  # let pollForResult's 3 s polls pass quickly
    out = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, page, "exec"), namespace)
    response = namespace["response"]
    printed = out.getvalue()
    assert response.status_code == status, f"{page}: {response.status_code} {response.text}\n{code}"
    assert printed.startswith(f"<Response [{status}]>") or printed.startswith(str(status)), printed
    body = validate_response(operation, response)
    check_kind(kind, body, ids)
    if page in MEDIA:
        check_media(api, admin, body, *MEDIA[page])


# The pages' video examples, read back from the file (issue 25): ltx-create's `"duration": "3"`, `"aspectRatio":
# "16:9"`, `"audioSFX": true` on ltxv-turbo (720p: our choice, docs/fidelity.md); veo-create's veo3-fast with
# `"audioSFX": true` and the documented defaults, 8 s at 1080p.
MEDIA: dict[str, tuple[float, tuple[int, int], bool]] = {
    "post-ltxstudio-videos-ltx-create.md": (3, (1280, 720), True),
    "post-ltxstudio-videos-veo-create.md": (8, (1920, 1080), True),
}


def check_media(api: Api, admin: Any, body: dict[str, Any], seconds: float, size: tuple[int, int],
                sound: bool) -> None:
    admin.clock(paused=True)
    admin.advance(3600)
    job = api.ok(api.job(body["jobId"]))
    resp = requests.get(job["status"]["artifact"]["assetUrl"], timeout=30)
    assert resp.status_code == 200
    media = probe_mp4(resp.content)
    assert abs(media["seconds"] - seconds) <= 1 / 24 and media["size"] == size, media
    assert media["audio"] == (["aac"] if sound else [])


def check_kind(kind: str, body: Any, ids: dict[str, str]) -> None:
    if kind == "empty":
        assert body is None
    elif kind == "accounts":
        assert list(body) == [DEMO_EMAIL]
    elif kind == "account":
        assert body["email"] == DEMO_EMAIL and body["cookie"]["lt_token"] == "…secured…"
    elif kind == "listing":
        assert body["meta"]["totalItems"] == 1 and body["meta"]["itemsPerPage"] == 10  # filter=images
    elif kind == "asset":
        assert body["asset"]["fileId"].endswith("-type:image/png")
    elif kind == "job":
        assert body["jobId"] == ids["job"] and body["status"]["type"] == "completed"
    elif kind == "completed":
        assert body["code"] == 200 and body["status"]["type"] == "completed", body
        assert body["status"]["artifact"]["assetUrl"]
    elif kind == "created":
        assert set(body) == {"jobId", "generationId"}
    elif kind == "running":
        assert [e["jobId"] for e in body] == [ids["job"]] and body[0]["replyRef"] == "reference-id"
    elif kind == "available":
        assert body["available"][0]["executing"] == 1 and body["executing"][0]["jobId"] == ids["job"]
    else:  # pragma: no cover
        raise AssertionError(kind)
