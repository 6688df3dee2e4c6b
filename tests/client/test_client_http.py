"""Error mapping, retries, wait() and download() against `responses` (no server, no real sleeping)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from client import (
    APIError,
    Artifact,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    Job,
    JobCreated,
    JobFailedError,
    JobTimeoutError,
    LTXStudioClient,
    LTXStudioError,
    NotFoundError,
    PaymentRequiredError,
    ServerError,
    TransportError,
)
from client._retry import RetryPolicy, parse_retry_after, request_was_not_sent

JOB_ID = "email:demo@example.com-job:7a34b821-9fd0-205e-d21b-4abc6f7839e7-type:image"
ASSET_URL = "https://storage.test/artifacts/model-serving/result.png?sig=abc"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def job_body(kind: str, progress: float | None = None, artifact: bool = False,
             message: str | None = None) -> dict:
    status: dict = {"type": kind}
    if progress is not None:
        status["progress"] = progress
    if message is not None:
        status["message"] = message
    if artifact:
        status["artifact"] = {"assetUrl": ASSET_URL, "expirationDateString": "1748919477350",
                              "asset": {"type": "artifact", "fileId": "asset:1-type:image/png",
                                        "mimeType": "image/png", "artifactSubtype": "model-serving"}}
    return {"status": status, "jobId": JOB_ID}


def job_url(api: LTXStudioClient) -> str:
    return f"{api.base_url}/assets/{requests.utils.quote(JOB_ID, safe='')}"


# -- configuration -------------------------------------------------------------------------------
def test_token_and_base_url_come_from_the_environment(make_client, monkeypatch) -> None:
    monkeypatch.setenv("USEAPI_TOKEN", "env-token")
    monkeypatch.setenv("USEAPI_BASE_URL", "http://127.0.0.1:9/v1/ltxstudio/")
    api = make_client()
    assert api.token == "env-token"
    assert api.base_url == "http://127.0.0.1:9/v1/ltxstudio"
    api = make_client("explicit", "https://other.test/v1")
    assert (api.token, api.base_url) == ("explicit", "https://other.test/v1")


def test_defaults_to_the_real_service(make_client, monkeypatch) -> None:
    monkeypatch.delenv("USEAPI_TOKEN", raising=False)
    monkeypatch.delenv("USEAPI_BASE_URL", raising=False)
    api = make_client()
    assert api.base_url == "https://api.useapi.net/v1/ltxstudio"
    assert api.token is None
    assert "unset" in repr(api)


def test_the_async_client_closes_only_its_own_session() -> None:
    import asyncio

    from client import AsyncLTXStudioClient

    async def run() -> tuple[bool, bool]:
        async with AsyncLTXStudioClient("t") as own:
            pass
        given = httpx.AsyncClient()
        async with AsyncLTXStudioClient("t", session=given):
            pass
        closed = given.is_closed
        await given.aclose()
        return own.session.is_closed, closed

    assert asyncio.run(run()) == (True, False)


def test_both_clients_have_the_same_methods_and_signatures() -> None:
    import inspect

    from client import AsyncLTXStudioClient

    def surface(cls: type) -> dict[str, list[inspect.Parameter]]:  # returns differ: T and awaitable T
        return {name: list(inspect.signature(getattr(cls, name)).parameters.values()) for name in dir(cls)
                if not name.startswith("_") and callable(getattr(cls, name)) and name not in ("close", "aclose")}

    sync, asynchronous = surface(LTXStudioClient), surface(AsyncLTXStudioClient)
    assert sync.keys() == asynchronous.keys()
    assert sync == asynchronous
    assert {"wait", "download", "iter_assets", "create_image", "upload_asset"} <= sync.keys()


def test_context_manager_closes_its_session() -> None:
    closed = []
    with LTXStudioClient("t") as api:
        api.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert closed == [True]


def test_a_given_session_is_left_open() -> None:
    session = requests.Session()
    closed = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with LTXStudioClient("t", session=session):
        pass
    assert closed == []


# -- error mapping -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, AuthenticationError), (402, PaymentRequiredError), (404, NotFoundError),
     (429, CapacityError), (500, ServerError), (502, ServerError), (503, ServerError), (418, APIError)],
)
def test_status_maps_to_exception(api: LTXStudioClient, mocked, status: int, cls: type) -> None:
    mocked.get(f"{api.base_url}/accounts/a%40b.c", json={"error": f"boom {status}", "code": status},
               status=status)
    api.retry = RetryPolicy(retries=0)
    with pytest.raises(cls) as info:
        api.get_account("a@b.c")
    error = info.value
    assert isinstance(error, LTXStudioError)
    assert error.status == status
    assert error.error == f"boom {status}"
    assert error.response is not None and error.response.status_code == status
    assert f"boom {status}" in str(error)


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b"", b"\xff\xfe\x00garbage", b"[1, 2]",
                                  b'{"code": 400}', b'{"error": {"nested": true}}'])
def test_non_json_or_odd_error_bodies_do_not_crash(api: LTXStudioClient, mocked, body: bytes) -> None:
    mocked.get(f"{api.base_url}/scheduler", body=body, status=400, content_type="text/html")
    with pytest.raises(BadRequestError) as info:
        api.list_running_jobs()
    assert info.value.status == 400
    assert isinstance(info.value.error, str) and info.value.error


def test_401_without_a_token_says_how_to_set_one(make_client, fake_clock, mocked, monkeypatch) -> None:
    monkeypatch.delenv("USEAPI_TOKEN", raising=False)
    mocked.get("https://api.test/v1/accounts", json={"error": "Unauthorized", "code": 401}, status=401)
    api = make_client(base_url="https://api.test/v1")
    with pytest.raises(AuthenticationError) as info:
        api.list_accounts()
    assert "USEAPI_TOKEN" in str(info.value)
    assert "Authorization" not in mocked.calls[0].request.headers


def test_success_body_that_is_not_json(api: LTXStudioClient, mocked) -> None:
    mocked.get(f"{api.base_url}/scheduler/available", body="<html>", status=200)
    with pytest.raises(LTXStudioError, match="not JSON"):
        api.scheduler_available()


def test_204_operations_return_none(api: LTXStudioClient, mocked) -> None:
    mocked.delete(f"{api.base_url}/accounts/a%40b.c", status=204)
    mocked.delete(f"{api.base_url}/scheduler/{requests.utils.quote(JOB_ID, safe='')}", status=204)
    assert api.delete_account("a@b.c") is None
    assert api.cancel_job(JOB_ID) is None
    # path parameters are percent-encoded whole (job ids contain ':' and '@')
    assert mocked.calls[1].request.url.endswith("email%3Ademo%40example.com-job%3A7a34b821-9fd0-205e-d21b-"
                                                "4abc6f7839e7-type%3Aimage")


# -- retries -------------------------------------------------------------------------------------
def test_429_is_retried_with_backoff_then_succeeds(api: LTXStudioClient, mocked, fake_clock) -> None:
    url = f"{api.base_url}/images/create"
    busy = {"error": "All accounts are busy", "code": 429}
    mocked.post(url, json=busy, status=429)
    mocked.post(url, json=busy, status=429)
    mocked.post(url, json={"jobId": JOB_ID, "generationId": "g"})
    result = api.create_image("x")
    assert isinstance(result, JobCreated)
    assert len(mocked.calls) == 3
    assert fake_clock.sleeps == [0.5, 1.0]


def test_retry_after_is_honoured(api: LTXStudioClient, mocked, fake_clock) -> None:
    url = f"{api.base_url}/images/create"
    mocked.post(url, json={"error": "busy", "code": 429}, status=429, headers={"Retry-After": "7"})
    mocked.post(url, json={"jobId": JOB_ID, "generationId": "g"})
    api.create_image("x")
    assert fake_clock.sleeps == [7.0]


def test_retries_are_capped_and_the_last_error_surfaces(api: LTXStudioClient, mocked, fake_clock) -> None:
    mocked.post(f"{api.base_url}/images/create", json={"error": "busy", "code": 429}, status=429)
    with pytest.raises(CapacityError) as info:
        api.create_image("x")
    assert len(mocked.calls) == 4  # 1 + retries=3
    assert fake_clock.sleeps == [0.5, 1.0, 2.0]
    assert info.value.error == "busy"


def test_backoff_has_a_ceiling() -> None:
    policy = RetryPolicy(retries=10, backoff=1, backoff_max=5)
    assert [policy.delay(i) for i in range(5)] == [1, 2, 4, 5, 5]
    assert policy.delay(0, retry_after=1000) == policy.retry_after_max


@pytest.mark.parametrize("status", [502, 503, 504])
def test_get_is_retried_on_transient_5xx(api: LTXStudioClient, mocked, status: int) -> None:
    url = f"{api.base_url}/scheduler"
    mocked.get(url, body="upstream down", status=status)
    mocked.get(url, json=[])
    assert api.list_running_jobs() == []
    assert len(mocked.calls) == 2


def test_500_is_not_retried_even_for_get(api: LTXStudioClient, mocked) -> None:
    mocked.get(f"{api.base_url}/scheduler", json={"error": "bug", "code": 500}, status=500)
    with pytest.raises(ServerError):
        api.list_running_jobs()
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_generation_post_is_not_retried_on_5xx(api: LTXStudioClient, mocked, status: int) -> None:
    """The job may exist already: a second POST could create and bill a duplicate."""
    mocked.post(f"{api.base_url}/images/create", body="gateway", status=status)
    with pytest.raises(ServerError):
        api.create_image("x")
    assert len(mocked.calls) == 1


def test_account_post_is_idempotent_and_retried_on_5xx(api: LTXStudioClient, mocked) -> None:
    url = f"{api.base_url}/accounts"
    mocked.post(url, body="gateway", status=503)
    mocked.post(url, json={"email": "a@b.c"})
    assert api.create_account("lt_token=a; lt_refresh_token=b").email == "a@b.c"


@pytest.mark.parametrize("status", [400, 401, 402, 404])
def test_other_4xx_are_final(api: LTXStudioClient, mocked, status: int) -> None:
    mocked.get(f"{api.base_url}/scheduler", json={"error": "no", "code": status}, status=status)
    with pytest.raises(APIError):
        api.list_running_jobs()
    assert len(mocked.calls) == 1


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def reset_after_sending() -> requests.ConnectionError:
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


def test_connection_errors_are_classified() -> None:
    assert request_was_not_sent(refused())
    assert request_was_not_sent(requests.ConnectTimeout())
    assert not request_was_not_sent(reset_after_sending())
    assert not request_was_not_sent(requests.ReadTimeout())


def test_post_retried_when_the_connection_was_never_made(api: LTXStudioClient, mocked) -> None:
    url = f"{api.base_url}/videos/ltx-create"
    mocked.post(url, body=refused())
    mocked.post(url, json={"jobId": JOB_ID, "generationId": "g"})
    assert api.create_ltx_video("x", start_asset_id="a").job_id == JOB_ID
    assert len(mocked.calls) == 2


def test_post_not_retried_when_the_request_may_have_arrived(api: LTXStudioClient, mocked) -> None:
    mocked.post(f"{api.base_url}/videos/ltx-create", body=reset_after_sending())
    with pytest.raises(TransportError) as info:
        api.create_ltx_video("x", start_asset_id="a")
    assert len(mocked.calls) == 1
    cause = info.value.__cause__  # the transport's own error: requests' or httpx's
    assert isinstance(cause, (requests.ConnectionError, httpx.ReadError))


def test_get_retried_after_a_reset_and_gives_up(api: LTXStudioClient, mocked, fake_clock) -> None:
    mocked.get(f"{api.base_url}/scheduler", body=reset_after_sending())
    with pytest.raises(TransportError):
        api.list_running_jobs()
    assert len(mocked.calls) == 4
    assert fake_clock.sleeps == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0", 0.0), ("-5", 0.0), ("soon", None),
                                                 ("", None),
                                                 ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)])
def test_parse_retry_after(header: str, seconds: float | None) -> None:
    now = 1445412480.0  # 07:28:00 that day
    assert parse_retry_after(header, now=now) == seconds


# -- response hook -------------------------------------------------------------------------------
def test_response_hook_sees_every_api_response_with_its_operation_id(make_client, fake_clock, mocked) -> None:
    seen: list[tuple[str, int]] = []
    def hook(operation_id: str, response: requests.Response) -> None:
        seen.append((operation_id, response.status_code))

    api = make_client("t", "https://api.test/v1", response_hook=hook, sleep=fake_clock.sleep, clock=fake_clock.time)
    mocked.post("https://api.test/v1/images/create", json={"error": "busy", "code": 429}, status=429)
    mocked.post("https://api.test/v1/images/create", json={"jobId": JOB_ID, "generationId": "g"})
    mocked.get("https://api.test/v1/scheduler", json=[])
    mocked.get(ASSET_URL, body=PNG)
    api.create_image("x")
    api.list_running_jobs()
    api.download(ASSET_URL, Path("/dev/null"))
    assert seen == [("createImage", 429), ("createImage", 200), ("listRunningJobs", 200)]


# -- wait ----------------------------------------------------------------------------------------
def test_wait_keeps_polling_while_completed_lacks_the_artifact(api: LTXStudioClient, mocked,
                                                               fake_clock) -> None:
    url = job_url(api)
    mocked.get(url, json=job_body("active", 10))
    mocked.get(url, json=job_body("active", 60))
    mocked.get(url, json=job_body("completed", 100))  # out of sync: no artifact yet
    mocked.get(url, json=job_body("completed", 100, artifact=True))
    seen: list[tuple[str | None, float | None]] = []
    job = api.wait(JOB_ID, poll_interval=2, max_interval=4,
                   on_progress=lambda j: seen.append((j.state, j.progress)))
    assert job.is_done and job.asset_url == ASSET_URL
    assert seen == [("active", 10), ("active", 60), ("completed", 100), ("completed", 100)]
    assert fake_clock.sleeps == [2, 3, 4]  # grows by half, capped


def test_wait_accepts_job_objects(api: LTXStudioClient, mocked) -> None:
    done = Job.from_dict(job_body("completed", 100, artifact=True))
    assert api.wait(done) is done  # already finished: no request
    mocked.get(job_url(api), json=job_body("completed", 100, artifact=True))
    assert api.wait(JobCreated(job_id=JOB_ID)).is_done


def test_wait_raises_job_failed_with_the_message(api: LTXStudioClient, mocked) -> None:
    mocked.get(job_url(api), json=job_body("active", 5))
    mocked.get(job_url(api), json=job_body("failed", message="Content moderation: prompt rejected"))
    with pytest.raises(JobFailedError) as info:
        api.wait(JOB_ID)
    assert info.value.error == "Content moderation: prompt rejected"
    assert "Content moderation" in str(info.value)
    assert info.value.job is not None and info.value.job.is_failed


def test_wait_times_out(api: LTXStudioClient, mocked, fake_clock) -> None:
    mocked.get(job_url(api), json=job_body("active", 50))
    with pytest.raises(JobTimeoutError) as info:
        api.wait(JOB_ID, timeout=30, poll_interval=5, max_interval=5)
    assert info.value.job_id == JOB_ID
    assert info.value.job is not None and info.value.job.progress == 50
    assert sum(fake_clock.sleeps) == pytest.approx(30)
    assert isinstance(info.value, TimeoutError)


def test_wait_tolerates_unknown_states_and_missing_status(api: LTXStudioClient, mocked) -> None:
    mocked.get(job_url(api), json={"jobId": JOB_ID})
    mocked.get(job_url(api), json=job_body("queued"))
    mocked.get(job_url(api), json=job_body("completed", artifact=True))
    assert api.wait(JOB_ID).is_done


def test_wait_propagates_not_found(api: LTXStudioClient, mocked) -> None:
    mocked.get(job_url(api), json={"error": "Job not found or has expired.", "code": 404}, status=404)
    with pytest.raises(NotFoundError):
        api.wait(JOB_ID)


# -- download ------------------------------------------------------------------------------------
def test_download_streams_without_the_token(api: LTXStudioClient, mocked, tmp_path: Path) -> None:
    mocked.get(ASSET_URL, body=PNG)
    job = Job.from_dict(job_body("completed", 100, artifact=True))
    target = api.download(job, tmp_path / "sub" / "out.png")
    assert target == tmp_path / "sub" / "out.png"
    assert target.read_bytes() == PNG
    assert "Authorization" not in mocked.calls[0].request.headers
    assert not list(tmp_path.rglob("*.part"))


def test_download_into_a_directory_keeps_the_url_name(api: LTXStudioClient, mocked, tmp_path: Path) -> None:
    mocked.get(ASSET_URL, body=PNG)
    artifact = Artifact.from_dict(job_body("completed", artifact=True)["status"]["artifact"])
    assert artifact is not None
    assert api.download(artifact, tmp_path) == tmp_path / "result.png"


def test_download_refuses_unfinished_or_failed_jobs(api: LTXStudioClient, tmp_path: Path) -> None:
    with pytest.raises(LTXStudioError, match="no artifact"):
        api.download(Job.from_dict(job_body("completed")), tmp_path / "x")
    with pytest.raises(JobFailedError):
        api.download(Job.from_dict(job_body("failed", message="nope")), tmp_path / "x")
    with pytest.raises(TypeError):
        api.download(42, tmp_path / "x")  # type: ignore[arg-type]


def test_download_error_leaves_no_file(api: LTXStudioClient, mocked, tmp_path: Path) -> None:
    mocked.get(ASSET_URL, body="expired", status=403)
    with pytest.raises(APIError) as info:
        api.download(ASSET_URL, tmp_path / "x.png")
    assert info.value.status == 403
    assert list(tmp_path.iterdir()) == []


# -- uploads -------------------------------------------------------------------------------------
def test_upload_from_path_guesses_the_content_type(api: LTXStudioClient, mocked, tmp_path: Path) -> None:
    source = tmp_path / "frame.png"
    source.write_bytes(PNG)
    mocked.post(f"{api.base_url}/assets/",  # the contract spells the path with a trailing slash
                json={"asset": {"fileId": "asset:1", "mimeType": "image/png", "type": "image"}})
    uploaded = api.upload_asset(source, type="reference-image")
    assert uploaded.file_id == "asset:1"
    request = mocked.calls[0].request
    assert request.headers["Content-Type"] == "image/png"
    assert request.body == PNG
    assert "type=reference-image" in request.url


@pytest.mark.parametrize(("data", "mime"), [
    (PNG, "image/png"), (b"\xff\xd8\xff\xe0" + b"\0" * 8, "image/jpeg"), (b"GIF89a" + b"\0" * 8, "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"), (b"\0\0\0\x18ftypmp42", "video/mp4")])
def test_upload_bytes_sniffs_the_content_type(api: LTXStudioClient, mocked, data: bytes, mime: str) -> None:
    mocked.post(f"{api.base_url}/assets/", json={"asset": {"fileId": "asset:2"}})
    assert api.upload_asset(data).file_id == "asset:2"
    assert mocked.calls[0].request.headers["Content-Type"] == mime


def test_list_assets_sends_its_query(api: LTXStudioClient, mocked) -> None:
    mocked.get(f"{api.base_url}/assets/", json={"items": [], "meta": {"totalPages": 0}})
    api.list_assets(email="a@b.c", page=2, limit=5, filter="videos")
    query = mocked.calls[0].request.params
    assert query == {"email": "a@b.c", "page": "2", "limit": "5", "filter": "videos"}


def test_iter_assets_walks_the_pages(api: LTXStudioClient, mocked) -> None:
    def page(request):
        number = int(request.params["page"])
        items = [{"id": f"{number}-{i}"} for i in range(2)]
        return 200, {}, json.dumps({"items": items, "meta": {"currentPage": number, "totalPages": 3}})

    mocked.add_callback(responses.GET, f"{api.base_url}/assets/", callback=page)
    assert [a.id for a in api.iter_assets(limit=2)] == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]
