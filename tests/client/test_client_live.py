"""The client against the live simulator (`ltx_mock`), every API response checked against openapi.yaml.

Time is the simulator's: the client's `sleep` advances the simulated clock (and a local fake clock), so
jobs that take minutes finish at once and nothing here sleeps for real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from clients import open_client
from helpers import png_bytes

from client import (
    AuthenticationError,
    BadRequestError,
    CapacityError,
    Job,
    JobCreated,
    JobFailedError,
    JobTimeoutError,
    LTXStudioClient,
    NotFoundError,
    PaymentRequiredError,
    ServerError,
    ValidationError,
    cli,
)

contracts = pytest.importorskip("contracts")
DEMO_EMAIL = pytest.importorskip("contracts.demo").DEMO_EMAIL

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_mp4(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


class SimTime:
    """The client's clock and sleep: sleeping advances the simulator's (paused) clock by as much."""

    def __init__(self, admin: Any, *, advance_sim: bool = True, minimum: float = 0.0) -> None:
        self.admin = admin
        self.advance_sim = advance_sim
        self.minimum = minimum
        self.now = 0.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        seconds = max(seconds, self.minimum)
        self.slept.append(seconds)
        self.now += seconds
        if self.advance_sim:
            self.admin.clock(advance=seconds)


class Checked:
    """The response hook: every API answer goes through contracts.validate_response."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.skip_5xx = False

    def __call__(self, operation_id: str, response: requests.Response) -> None:
        self.seen.append((operation_id, response.status_code))
        if self.skip_5xx and response.status_code >= 500:
            return  # injected faults: statuses the contract does not document, on purpose
        contracts.validate_response(operation_id, response)


@pytest.fixture
def checked() -> Checked:
    return Checked()


@pytest.fixture
def make(ltx_mock, checked: Checked, client_kind: str) -> Iterator[Callable[..., LTXStudioClient]]:
    """Clients on the simulator, of this test's kind (both run: one suite); keyword arguments override the
    defaults."""
    made: list[Any] = []

    def factory(*, time: SimTime | None = None, token: str | None = None, **kwargs: Any) -> LTXStudioClient:
        time = time or SimTime(ltx_mock.admin)
        options: dict[str, Any] = {"response_hook": checked, "sleep": time.sleep, "clock": time.time,
                                   **kwargs}
        manager = open_client(client_kind, token or ltx_mock.token, ltx_mock.base_url, network=True, **options)
        made.append(manager)
        return manager.__enter__()  # type: ignore[no-any-return]

    yield factory
    for manager in reversed(made):
        manager.__exit__(None, None, None)


@pytest.fixture
def api(make) -> LTXStudioClient:
    return make()


def new_account(ltx_mock, api: LTXStudioClient, **user: Any) -> str:
    """A fresh LTX Studio user, configured on the API with the client; returns its email."""
    max_jobs = user.pop("max_jobs", None)
    created = ltx_mock.admin.create_ltx_user(**user)
    account = api.create_account(created["cookie"], max_jobs=max_jobs)
    assert account.email == created["email"]
    return created["email"]


# -- accounts ------------------------------------------------------------------------------------
def test_accounts(ltx_mock, api: LTXStudioClient, checked: Checked) -> None:
    accounts = api.list_accounts()
    assert DEMO_EMAIL in accounts
    demo = api.get_account(DEMO_EMAIL)
    assert demo.email == DEMO_EMAIL and demo.credits is not None and demo.credits > 0

    user = ltx_mock.admin.create_ltx_user(credits=500)
    account = api.create_account(user["cookie"], max_jobs=3)
    assert (account.email, account.max_jobs) == (user["email"], 3)
    assert "lt_token" in account.cookie
    assert set(api.list_accounts()) == {DEMO_EMAIL, user["email"]}
    assert api.get_account(user["email"]).credits == 500

    api.delete_account(user["email"])
    with pytest.raises(NotFoundError):
        api.get_account(user["email"])
    with pytest.raises(NotFoundError):
        api.delete_account(user["email"])
    assert {op for op, _ in checked.seen} >= {"listAccounts", "getAccount", "createAccount", "deleteAccount"}


def test_without_accounts(api: LTXStudioClient) -> None:
    api.delete_account(DEMO_EMAIL)
    with pytest.raises(NotFoundError):  # documented: 404 when nothing is configured
        api.list_accounts()
    with pytest.raises(BadRequestError) as info:
        api.create_image("x")
    assert info.value.error


def test_create_account_rejections(ltx_mock, api: LTXStudioClient) -> None:
    with pytest.raises(ValidationError):  # caught locally: no lt_token / lt_refresh_token
        api.create_account("lt_id=abc")
    with pytest.raises(ValidationError):
        api.create_account("lt_token=a; lt_refresh_token=b", max_jobs=101)


def test_wrong_token_is_authentication_error(make) -> None:
    with pytest.raises(AuthenticationError) as info:
        make(token="wrong-token").list_accounts()
    assert info.value.status == 401 and info.value.error == "Unauthorized"


# -- full cycles ---------------------------------------------------------------------------------
def test_image_upload_create_wait_download(api: LTXStudioClient, tmp_path: Path) -> None:
    uploaded = api.upload_asset(png_bytes(), type="reference-image")
    assert uploaded.file_id and uploaded.asset_url
    assert api.download(uploaded, tmp_path / "upload.png").read_bytes() == png_bytes()

    created = api.create_image("a lighthouse at dusk", reference_asset_id=uploaded.file_id, model="flux",
                               aspect_ratio="1:1", style="cinematic", reference_strength=40)
    assert isinstance(created, JobCreated) and created.job_id and created.job_id.endswith("-type:image")
    progress: list[tuple[str | None, Any]] = []
    job = api.wait(created, on_progress=lambda j: progress.append((j.state, j.progress)))
    assert job.is_done and job.job_id == created.job_id
    assert progress[-1][0] == "completed"
    path = api.download(job, tmp_path)
    assert path.read_bytes().startswith(PNG_MAGIC)

    edited = api.wait(api.edit_image("make it night", uploaded.file_id, model="nano-banana",
                                     reference_asset_id2=uploaded.file_id))
    assert api.download(edited, tmp_path / "edited.png").read_bytes().startswith(PNG_MAGIC)

    upscaled = api.wait(api.upscale_image(job.job_id or ""))
    assert api.download(upscaled, tmp_path / "upscaled.png").read_bytes().startswith(PNG_MAGIC)

    listed = api.list_assets(filter="images")
    assert listed.items and listed.meta is not None
    assert all((item.mime_type or "").startswith("image/") for item in listed.items)
    ids = {item.job_id for item in api.iter_assets(limit=2)}
    assert {job.job_id, edited.job_id, upscaled.job_id} <= ids


def test_ltx_video_upload_create_wait_download(api: LTXStudioClient, tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(png_bytes())
    start = api.upload_asset(frame)  # type=image, content type from the file name
    created = api.create_ltx_video("waves rolling in", start_asset_id=start.file_id, duration=5,
                                   aspect_ratio="9:16", intensity="high", audio_sfx=True, model="ltxv-turbo")
    assert isinstance(created, JobCreated) and (created.job_id or "").endswith("-type:video")
    job = api.wait(created)
    path = api.download(job, tmp_path / "out.mp4")
    assert is_mp4(path.read_bytes())
    videos = api.list_assets(filter="videos")
    assert job.job_id in {item.job_id for item in videos.items}


def test_veo_videos(api: LTXStudioClient, tmp_path: Path) -> None:
    start = api.upload_asset(png_bytes(), type="reference-image")
    veo2 = api.wait(api.create_veo_video(prompt="a fox", start_asset_id=start.file_id, duration=6,
                                         aspect_ratio="9:16"))
    assert is_mp4(api.download(veo2, tmp_path / "veo2.mp4").read_bytes())
    veo3 = api.wait(api.create_veo_video(prompt="a city", model="veo3-fast", resolution="720p"))
    assert is_mp4(api.download(veo3, tmp_path / "veo3.mp4").read_bytes())


def test_poll_for_result_returns_the_finished_job(ltx_mock, api: LTXStudioClient) -> None:
    ltx_mock.admin.clock(paused=True)
    assert isinstance(api.create_image("x", poll_for_result=2), JobCreated)  # paused: answers at once
    ltx_mock.admin.clock(paused=False, speed=1000)  # 60 simulated seconds take 60 ms
    result = api.create_image("x", poll_for_result=20)
    assert isinstance(result, Job)
    assert result.code == 200 and result.is_done


# -- scheduler -----------------------------------------------------------------------------------
def test_scheduler_views_and_cancel(api: LTXStudioClient) -> None:
    created = api.create_image("busy")
    running = api.list_running_jobs()
    assert created.job_id in {job.job_id for job in running}
    available = api.scheduler_available()
    demo = next(slot for slot in available.available if slot.email == DEMO_EMAIL)
    assert demo.executing == 1 and demo.available == (demo.max_jobs or 0) - 1
    assert created.job_id in {job.job_id for job in available.executing}

    api.cancel_job(created.job_id or "")
    assert created.job_id not in {job.job_id for job in api.list_running_jobs()}
    with pytest.raises(NotFoundError):
        api.cancel_job(created.job_id or "")


# -- failures ------------------------------------------------------------------------------------
def test_insufficient_credits_is_402(ltx_mock, api: LTXStudioClient) -> None:
    email = new_account(ltx_mock, api, credits=0)
    with pytest.raises(PaymentRequiredError) as info:
        api.create_image("x", email=email)
    assert info.value.status == 402 and info.value.error


def test_capacity_429_then_retry_succeeds_once_time_passes(ltx_mock, make) -> None:
    api = make(retries=0)
    email = new_account(ltx_mock, api, credits=10_000, max_jobs=1)
    api.create_image("first", email=email)
    with pytest.raises(CapacityError) as info:
        api.create_image("second", email=email)
    assert info.value.status == 429 and "maxJobs" in info.value.error

    ltx_mock.admin.clock(advance=120)  # the first job is done: a slot is free again
    assert api.create_image("second", email=email).job_id

    # With retries the client waits by itself; here its sleep moves simulated time on.
    time = SimTime(ltx_mock.admin, minimum=60)
    patient = make(retries=2, time=time)
    assert patient.create_image("third", email=email).job_id
    assert time.slept == [60]  # one 429, one backoff, then success


def test_failed_job_raises_with_the_message(ltx_mock, api: LTXStudioClient, tmp_path: Path) -> None:
    ltx_mock.admin.next_outcome("failed", message="Content moderation: prompt rejected")
    created = api.create_image("x")
    with pytest.raises(JobFailedError) as info:
        api.wait(created)
    assert info.value.error == "Content moderation: prompt rejected"
    assert info.value.job is not None and info.value.job.is_failed
    with pytest.raises(JobFailedError):
        api.download(info.value.job, tmp_path)


def test_completed_before_the_artifact_is_waited_out(ltx_mock, api: LTXStudioClient) -> None:
    ltx_mock.admin.next_outcome("completed", artifact_delay_s=30)
    seen: list[Job] = []
    job = api.wait(api.create_image("x"), on_progress=seen.append)
    assert job.is_done
    assert any(j.state == "completed" and not j.asset_url for j in seen)


def test_wait_times_out(ltx_mock, make) -> None:
    time = SimTime(ltx_mock.admin, advance_sim=False)  # the simulator's clock stays paused
    api = make(time=time)
    created = api.create_veo_video(model="veo3")
    with pytest.raises(JobTimeoutError) as info:
        api.wait(created, timeout=60)
    assert info.value.job is not None and info.value.job.state == "active"
    assert sum(time.slept) == pytest.approx(60)


def test_server_answers_match_the_local_checks(make) -> None:
    """With local checks off, the simulator rejects the same options with the same messages."""
    raw = make(validate=False)
    strict = make()
    cases: list[tuple[str, dict[str, Any]]] = [
        ("create_veo_video", {"model": "veo3", "duration": "5"}),
        ("create_veo_video", {"prompt": "no frame"}),
        ("create_ltx_video", {"prompt": "no frame"}),
        ("create_image", {"prompt": "x", "model": "nano-banana", "style": "anime"}),
        ("edit_image", {"prompt": "x", "reference_asset_id": "asset:1", "reference_asset_id3": "asset:3"}),
    ]
    for method, kwargs in cases:
        with pytest.raises(ValidationError) as local:
            getattr(strict, method)(**kwargs)
        with pytest.raises(BadRequestError) as remote:
            getattr(raw, method)(**kwargs)
        assert remote.value.error in local.value.errors, (method, remote.value.error, local.value.errors)


def test_not_found_and_bad_request(api: LTXStudioClient) -> None:
    unknown = "email:demo@example.com-job:00000000-0000-4000-8000-000000000000-type:image"
    with pytest.raises(NotFoundError):
        api.get_job(unknown)
    with pytest.raises(BadRequestError):
        api.get_job("not-a-job-id")
    with pytest.raises(BadRequestError):  # the asset does not exist: only the server can tell
        api.create_ltx_video("x", start_asset_id="asset:00000000-0000-4000-8000-000000000000-type:image/png")


def test_transient_faults_are_retried_only_where_safe(ltx_mock, make, checked: Checked) -> None:
    checked.skip_5xx = True
    api = make()
    ltx_mock.admin.fault(method="GET", path="*/scheduler", status=503, count=2)
    assert isinstance(api.list_running_jobs(), list)
    assert checked.seen[-3:] == [("listRunningJobs", 503), ("listRunningJobs", 503), ("listRunningJobs", 200)]

    ltx_mock.admin.fault(method="POST", path="*/images/create", status=502, count=1)
    with pytest.raises(ServerError):
        api.create_image("x")
    assert checked.seen[-1] == ("createImage", 502)  # not sent twice: it might have created a job

    ltx_mock.admin.fault(method="GET", path="*/accounts", drop=True, count=1)
    assert DEMO_EMAIL in api.list_accounts()  # a dropped GET is simply sent again


# -- command line --------------------------------------------------------------------------------
def test_cli_against_the_simulator(ltx_mock, monkeypatch, tmp_path: Path) -> None:
    time = SimTime(ltx_mock.admin)
    monkeypatch.setattr(cli, "make_client", lambda token, base_url: LTXStudioClient(
        token, base_url, sleep=time.sleep, clock=time.time, response_hook=Checked()))
    env = {"USEAPI_TOKEN": ltx_mock.token, "USEAPI_BASE_URL": ltx_mock.base_url}
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(cli.client, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output + result.stderr
        return result

    out = tmp_path / "image.png"
    run("image", "a red boat", "--aspect-ratio", "16:9", "--out", str(out))
    assert out.read_bytes().startswith(PNG_MAGIC)

    frame = tmp_path / "frame.png"
    frame.write_bytes(png_bytes())
    run("video", "a red boat sailing", "--start-asset", str(frame), "--out", str(tmp_path / "boat.mp4"))
    assert is_mp4((tmp_path / "boat.mp4").read_bytes())

    job_id = run("veo", "--model", "veo3-fast", "--prompt", "storm", "--no-wait").stdout.strip()
    assert job_id in run("jobs").stdout
    run("wait", job_id, "--out", str(tmp_path / "storm.mp4"))
    assert is_mp4((tmp_path / "storm.mp4").read_bytes())
    assert DEMO_EMAIL in run("accounts", "--balance").stdout
    assert "Assets" in run("assets", "--filter", "videos").stdout


def test_the_fixture_client_is_this_client(ltx_mock) -> None:
    fixture_client = ltx_mock.client
    assert isinstance(fixture_client, LTXStudioClient)
    with fixture_client:
        assert DEMO_EMAIL in fixture_client.list_accounts()


@pytest.mark.asyncio
async def test_the_fixture_async_client_waits_in_simulated_time(ltx_mock) -> None:
    import time as real_time

    from client import AsyncLTXStudioClient

    async with ltx_mock.aclient as api:
        assert isinstance(api, AsyncLTXStudioClient)
        t0, start = real_time.monotonic(), ltx_mock.time.now()
        done = await api.wait(await api.create_veo_video(prompt="A fox", model="veo3-fast"))
        assert done.is_done and ltx_mock.time.now() - start >= 45  # about 70 simulated seconds
        assert real_time.monotonic() - t0 < 5
