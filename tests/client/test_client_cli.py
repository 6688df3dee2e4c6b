"""The `client` command group, offline: click's runner plus `responses`, with a fake clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from client import LTXStudioClient, cli

BASE = "https://api.test/v1/ltxstudio"
JOB_ID = "email:a@b.c-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
VIDEO_JOB = "email:a@b.c-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:video"
ASSET_URL = "https://storage.test/artifacts/out.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def done(job_id: str, url: str = ASSET_URL) -> dict:
    return {"jobId": job_id, "status": {"type": "completed", "progress": 100, "artifact": {
        "assetUrl": url, "asset": {"fileId": "asset:9", "mimeType": "image/png"}}}}


@pytest.fixture
def run(monkeypatch, fake_clock, mocked):
    """Invoke the CLI with USEAPI_* set, as a user would."""
    seen: dict[str, LTXStudioClient] = {}

    def make_client(token, base_url):
        seen["client"] = LTXStudioClient(token, base_url, sleep=fake_clock.sleep, clock=fake_clock.time)
        return seen["client"]

    monkeypatch.setattr(cli, "make_client", make_client)

    def invoke(*args: str):
        runner = CliRunner()
        result = runner.invoke(cli.client, list(args), env={"USEAPI_TOKEN": "tok", "USEAPI_BASE_URL": BASE},
                               catch_exceptions=False)
        return result

    return invoke


def job_url(job_id: str) -> str:
    return f"{BASE}/assets/{requests.utils.quote(job_id, safe='')}"


def test_image_creates_waits_and_saves(run, mocked, tmp_path: Path) -> None:
    mocked.post(f"{BASE}/images/create", json={"jobId": JOB_ID, "generationId": "g"})
    mocked.get(job_url(JOB_ID), json={"jobId": JOB_ID, "status": {"type": "active", "progress": 40}})
    mocked.get(job_url(JOB_ID), json=done(JOB_ID))
    mocked.get(ASSET_URL, body=PNG)
    out = tmp_path / "cat.png"
    result = run("image", "a cat", "--model", "flux", "--aspect-ratio", "1:1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PNG
    assert str(out) in result.stdout
    sent = json.loads(mocked.calls[0].request.body)
    assert sent == {"prompt": "a cat", "model": "flux", "aspectRatio": "1:1"}
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer tok"


def test_image_no_wait_prints_the_job_id(run, mocked) -> None:
    mocked.post(f"{BASE}/images/create", json={"jobId": JOB_ID, "generationId": "g"})
    result = run("image", "a cat", "--no-wait")
    assert result.exit_code == 0
    assert JOB_ID in result.stdout


def test_video_uploads_a_file_first(run, mocked, tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(PNG)
    mocked.post(f"{BASE}/assets/", json={"asset": {"fileId": "asset:frame", "mimeType": "image/png"}})
    mocked.post(f"{BASE}/videos/ltx-create", json={"jobId": VIDEO_JOB, "generationId": "g"})
    mocked.get(job_url(VIDEO_JOB), json=done(VIDEO_JOB, "https://storage.test/v.mp4"))
    mocked.get("https://storage.test/v.mp4", body=b"\0\0\0\x18ftypmp42")
    result = run("video", "waves", "--start-asset", str(frame), "--duration", "5", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.mp4").exists()
    assert "type=image" in mocked.calls[0].request.url
    assert json.loads(mocked.calls[1].request.body) == {"prompt": "waves", "startAssetId": "asset:frame",
                                                         "duration": "5"}


def test_downloads_report_what_the_file_is(run, mocked, tmp_path: Path) -> None:
    """Issue 25: a saved video's duration, frame size and sound, and an image's size, read from the file itself."""
    import io

    from PIL import Image

    from mock_server.video import Clip, mp4

    mocked.post(f"{BASE}/videos/veo-create", json={"jobId": VIDEO_JOB, "generationId": "g"})
    mocked.get(job_url(VIDEO_JOB), json=done(VIDEO_JOB, "https://storage.test/clip.mp4"))
    mocked.get("https://storage.test/clip.mp4", body=mp4(Clip(8, 1280, 720, True)))
    result = run("veo", "--model", "veo3", "--resolution", "720p", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "clip.mp4")  # stdout stays the path alone
    assert "clip.mp4: video 8.00 s, 1280x720, 24 fps, with sound" in result.stderr
    png = io.BytesIO()
    Image.new("RGB", (360, 640)).save(png, "PNG")
    mocked.get(job_url(JOB_ID), json=done(JOB_ID))
    mocked.get(ASSET_URL, body=png.getvalue())
    result = run("wait", JOB_ID, "--out", str(tmp_path / "still.png"))
    assert result.exit_code == 0 and "still.png: image 360x640" in result.stderr
    mocked.get(ASSET_URL, body=PNG)  # not a readable image: saved, nothing said about it
    result = run("wait", JOB_ID, "--out", str(tmp_path / "odd.png"))
    assert result.exit_code == 0 and "odd.png:" not in result.stderr


def test_veo_takes_an_asset_id_as_is(run, mocked) -> None:
    mocked.post(f"{BASE}/videos/veo-create", json={"jobId": VIDEO_JOB, "generationId": "g"})
    result = run("veo", "--prompt", "sky", "--start-asset", "asset:existing", "--no-wait")
    assert result.exit_code == 0, result.output
    assert json.loads(mocked.calls[0].request.body) == {"prompt": "sky", "startAssetId": "asset:existing"}


def test_invalid_options_fail_before_any_request(run, mocked) -> None:
    result = run("veo", "--model", "veo3", "--duration", "5", "--no-wait")
    assert result.exit_code == 1
    assert "duration must be 8 for model veo3" in result.stderr
    assert len(mocked.calls) == 0


def test_api_errors_are_one_line(run, mocked) -> None:
    mocked.get(f"{BASE}/scheduler", json={"error": "Unauthorized", "code": 401}, status=401)
    result = run("jobs")
    assert result.exit_code == 1
    assert "Unauthorized" in result.stderr
    assert "Traceback" not in result.output


def test_wait_command_reports_failure(run, mocked) -> None:
    mocked.get(job_url(JOB_ID), json={"jobId": JOB_ID, "status": {"type": "failed", "message": "moderated"}})
    result = run("wait", JOB_ID)
    assert result.exit_code == 1
    assert "moderated" in result.stderr


def test_wait_command_prints_url_or_saves(run, mocked, tmp_path: Path) -> None:
    mocked.get(job_url(JOB_ID), json=done(JOB_ID))
    mocked.get(ASSET_URL, body=PNG)
    assert ASSET_URL in run("wait", JOB_ID).stdout
    result = run("wait", JOB_ID, "--out", str(tmp_path / "x.png"))
    assert result.exit_code == 0
    assert (tmp_path / "x.png").read_bytes() == PNG


def test_tables(run, mocked) -> None:
    mocked.get(f"{BASE}/accounts", json={"a@b.c": {"email": "a@b.c", "maxJobs": 3}})
    mocked.get(f"{BASE}/accounts/a%40b.c", json={"email": "a@b.c", "balance": {"LTXStudio_token": 150}})
    mocked.get(f"{BASE}/assets/", json={"items": [{"id": "1", "jobId": JOB_ID, "signedAsset": {
        "assetUrl": ASSET_URL, "asset": {"fileId": "asset:1", "mimeType": "image/png"}}}],
        "meta": {"currentPage": 1, "totalPages": 1, "totalItems": 1}})
    mocked.get(f"{BASE}/scheduler", json=[{"jobId": JOB_ID, "email": "a@b.c", "elapsed": "00:05"}])
    accounts = run("accounts", "--balance")
    assert accounts.exit_code == 0 and "a@b.c" in accounts.stdout and "150" in accounts.stdout
    assets = run("assets", "--filter", "images")
    assert assets.exit_code == 0 and "asset:1" in assets.stdout
    assert "filter=images" in mocked.calls[2].request.url
    jobs = run("jobs")
    assert jobs.exit_code == 0 and "00:05" in jobs.stdout


def test_accounts_when_none_is_configured(run, mocked) -> None:
    mocked.get(f"{BASE}/accounts", json={"error": "Configuration not found.", "code": 404}, status=404)
    result = run("accounts")
    assert result.exit_code == 0
    assert "no account configured" in result.stderr


def test_upload_status_cancel(run, mocked, tmp_path: Path) -> None:
    frame = tmp_path / "f.png"
    frame.write_bytes(PNG)
    mocked.post(f"{BASE}/assets/", json={"asset": {"fileId": "asset:up"}})
    mocked.get(job_url(JOB_ID), json={"jobId": JOB_ID, "status": {"type": "active", "progress": 12}})
    mocked.delete(f"{BASE}/scheduler/{requests.utils.quote(JOB_ID, safe='')}", status=204)
    assert run("upload", str(frame), "--type", "reference-image").stdout.strip() == "asset:up"
    assert "active 12%" in run("status", JOB_ID).stdout
    assert run("cancel", JOB_ID).exit_code == 0


def test_works_when_mounted_under_another_group(run, mocked) -> None:
    """`ltx-mock client ...`: the group sits under the simulator's own command line."""
    import click

    @click.group()
    def outer() -> None:
        pass

    outer.add_command(cli.client)
    mocked.get(f"{BASE}/scheduler", json=[])
    result = CliRunner().invoke(outer, ["client", "jobs"], env={"USEAPI_TOKEN": "t", "USEAPI_BASE_URL": BASE},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Running jobs" in result.stdout


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "client", "--help"], capture_output=True, text=True,
                            check=False, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0
    for command in ("image", "video", "veo", "accounts", "assets", "jobs", "wait"):
        assert command in result.stdout
