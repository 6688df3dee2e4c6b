"""The client without I/O: what to send, what an answer means, when to retry, wait or give up.

Both clients (``LTXStudioClient`` on requests, ``AsyncLTXStudioClient`` on httpx) are thin drivers of this one
implementation. Each operation is written once, here, as a *flow*: a generator that yields effects (``Send`` a
request, ``Sleep``, ``Discard`` an unread answer, ``Await`` a callback's result) and receives their outcomes.
The sync client performs effects by blocking, the async one by awaiting; option checks, URLs, retry decisions,
error mapping, ``wait()``'s polling and parsing are the same code for both. ``operation`` (a descriptor) turns
a flow into each client's public method, so both share one signature and docstring too.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote, unquote, urljoin, urlsplit

from contracts.spec import Contract, get_contract

from ._retry import RetryPolicy, parse_retry_after, time_source_for
from .exceptions import (
    AuthenticationError,
    JobFailedError,
    JobTimeoutError,
    LTXStudioError,
    TransportError,
    ValidationError,
    error_for_response,
)
from .models import (
    Account,
    Artifact,
    AssetItem,
    AssetList,
    Job,
    JobCreated,
    RunningJob,
    SchedulerAvailable,
    UploadedAsset,
    parse_generation,
)
from .options import build_body, check_params

__all__ = ["DEFAULT_BASE_URL", "AsyncRunner", "BlockingRunner", "ClientCore", "Flow", "ResponseHook", "operation"]

DEFAULT_BASE_URL = "https://api.useapi.net/v1/ltxstudio"

#: Called with (operationId, response) for every HTTP answer of the API, before the client reads it; the
#: response is the transport's own (``requests.Response`` or ``httpx.Response``). The contract tests pass
#: ``contracts.validate_response`` here.
ResponseHook = Callable[[str, Any], Any]

T = TypeVar("T")
P = ParamSpec("P")


# -- effects: what a flow asks its driver to do ---------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    """Send one HTTP request; the driver answers with its response object or a ``Failed``."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, Any] | None = None
    json: Any = None
    data: bytes | None = None
    stream: bool = False


@dataclass(frozen=True)
class Failed:
    """A transport failure (no HTTP answer), classified by the driver, which knows its library's errors."""

    error: BaseException
    not_sent: bool  # certainly failed before any byte of the request left (refused, DNS, connect timeout)


@dataclass(frozen=True)
class Sleep:
    """Let ``seconds`` pass (really, or on a simulated clock: the driver's ``sleep`` decides)."""

    seconds: float


@dataclass(frozen=True)
class Discard:
    """Release a response that will not be read (a streamed answer about to be retried)."""

    response: Any


@dataclass(frozen=True)
class Await:
    """Resolve a callback's result: the async driver awaits an awaitable, the sync one refuses it."""

    value: Any


Effect = Send | Sleep | Discard | Await
Flow = Generator[Effect, Any, T]

# File signatures, for uploads given as bytes without a content type.
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"ftyp", 4, "video/mp4"),
    (b"ID3", 0, "audio/mpeg"),
    (b"RIFF", 0, "image/webp"),  # refined below: RIFF....WEBP vs WAVE
]


def sniff_content_type(data: bytes) -> str | None:
    """The MIME type of common image/video/audio bytes, from their first bytes."""
    if data[:4] == b"RIFF" and len(data) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(data[8:12])
    for magic, offset, mime in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return mime
    return None


# RFC 6838 restricted-name: a concrete MIME type or subtype (a range such as image/* is no file's type).
_MIME_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"{_MIME_NAME}/{_MIME_NAME}")


def _media_type_allowed(content_type: str, allowed: list[str]) -> bool:
    """Whether the contract's media types (ranges such as ``*/*`` included) take a file of ``content_type``."""
    base = content_type.split(";")[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(base):
        return False
    for pattern in allowed:
        pattern = pattern.split(";")[0].strip().lower()
        if pattern in ("*/*", base) or (pattern.endswith("/*") and base.startswith(pattern[:-1])):
            return True
    return False


@dataclass
class DownloadPlan:
    """Where a download goes: the URL (fetched without the token), the target file and its ``.part``."""

    url: str
    target: Path
    partial: Path = field(init=False)

    def __post_init__(self) -> None:
        self.partial = self.target.with_name(self.target.name + ".part")


# -- turning a flow into each client's method ---------------------------------------------------------------------
class operation(Generic[P, T]):
    """A client method written once as a flow; read from a client, it is that client's kind of method.

    On ``LTXStudioClient`` (a ``BlockingRunner``) it returns the result; on ``AsyncLTXStudioClient`` (an
    ``AsyncRunner``) it returns a coroutine of it. Signature and docstring are the flow's.
    """

    def __init__(self, flow: Callable[Concatenate[Any, P], Flow[T]]) -> None:
        self.flow = flow
        functools.update_wrapper(self, flow)

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> operation[P, T]: ...

    @overload
    def __get__(self, instance: BlockingRunner, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(self, instance: AsyncRunner, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: Any, owner: type[Any]) -> Any:
        if instance is None:
            return self
        return instance._method(self.flow.__get__(instance, owner))

    def __call__(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        """``LTXStudioClient.get_job(api, job_id)``: read from the class, it is called like a function."""
        return self.__get__(client, type(client))(*args, **kwargs)


class ClientCore:
    """Configuration and every operation's logic, shared by both clients (see the module docstring).

    `token` defaults to $USEAPI_TOKEN and `base_url` to $USEAPI_BASE_URL, then to the real service, so
    code written against the real API runs against the simulator with no change but the environment.
    `retries` extra attempts are made on 429 and transient failures (see `RetryPolicy` for which);
    `sleep` and `clock` are injectable so tests (and the simulator's virtual clock) control time; left out,
    they are real time unless a simulator claimed this client's base URL (`_retry.use_time_source`: the
    `ltx_mock` fixture and `mock_ltxstudio` do), whose simulated clock then moves instead of the client waiting.
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | tuple[float, float] = (10.0, 120.0),
        retries: int = 3,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        response_hook: ResponseHook | None = None,
        validate: bool = True,
        contract: Contract | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token = token if token is not None else os.environ.get("USEAPI_TOKEN") or None
        self.base_url = (base_url or os.environ.get("USEAPI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(retries=max(0, retries), backoff=backoff, backoff_max=backoff_max)
        self.response_hook = response_hook
        self.validate = validate
        self._contract = contract
        self.sleep: Callable[[float], Any] = sleep if sleep is not None else self._default_sleep
        self.clock: Callable[[], float] = clock if clock is not None else self._default_clock

    def _default_sleep(self, seconds: float) -> Any:
        """Real time, or the simulated clock's advance when a simulator claimed our base URL."""
        return time_source_for(self.base_url).sleep(seconds)

    def _default_clock(self) -> float:
        return float(time_source_for(self.base_url).clock())

    def _method(self, flow: Callable[..., Flow[Any]]) -> Callable[..., Any]:
        raise NotImplementedError  # a driver (BlockingRunner, AsyncRunner) says how a flow runs

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, token={'set' if self.token else 'unset'})"

    @property
    def contract(self) -> Contract:
        """The contract engine's view of openapi.yaml: paths and local checks (read on first use)."""
        if self._contract is None:
            self._contract = get_contract()
        return self._contract

    # -- requests and answers --------------------------------------------------------------------
    def _url(self, path: str, path_params: Mapping[str, str] | None = None) -> str:
        for name, value in (path_params or {}).items():
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return self.base_url + path

    def _send(self, method: str, url: str, *, operation_id: str | None, idempotent: bool = False,
              auth: bool = True, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None,
              json: Any = None, data: bytes | None = None, stream: bool = False) -> Flow[Any]:
        """Send with retries; returns a 2xx/3xx response or raises the mapped error."""
        headers = dict(headers or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = Send(method, url, headers, params=params, json=json, data=data, stream=stream)
        attempt = 0
        while True:
            outcome = yield request
            if isinstance(outcome, Failed):
                if attempt < self.retry.retries and self.retry.should_retry_failure(
                        method, not_sent=outcome.not_sent, idempotent=idempotent):
                    yield Sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise TransportError(f"{method} {url} failed: {outcome.error}") from outcome.error
            response = outcome
            if operation_id is not None and self.response_hook is not None:
                self.response_hook(operation_id, response)
            if response.status_code < 400:
                return response
            if attempt < self.retry.retries and self.retry.should_retry_status(
                    method, response.status_code, idempotent=idempotent):
                wait = self.retry.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
                yield Discard(response)
                yield Sleep(wait)
                attempt += 1
                continue
            error = error_for_response(response)
            if isinstance(error, AuthenticationError) and not self.token:
                error.args = (f"{error.args[0]} - no API token: pass token= or set USEAPI_TOKEN",)
            raise error

    def _call(self, operation_id: str, *, path_params: Mapping[str, str] | None = None,
              params: dict[str, Any] | None = None, json: Any = None, data: bytes | None = None,
              headers: dict[str, str] | None = None, idempotent: bool = False) -> Flow[Any]:
        op = self.contract[operation_id]
        url = self._url(op.path, path_params)
        query = {k: v for k, v in params.items() if v is not None} if params else None
        return (yield from self._send(op.method, url, operation_id=op.operation_id, idempotent=idempotent,
                                      headers={"Accept": "application/json", **(headers or {})},
                                      params=query or None, json=json, data=data))

    @staticmethod
    def _json(response: Any) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise LTXStudioError(f"{response.status_code} response is not JSON: {response.text[:200]!r}",
                                 response=response) from exc

    def _body(self, operation_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return build_body(operation_id, fields, contract=self.contract, validate=self.validate)

    def _generate(self, operation_id: str, fields: dict[str, Any], extra: dict[str, Any]) -> Flow[JobCreated | Job]:
        body = self._body(operation_id, {**fields, **extra})
        return parse_generation(self._json((yield from self._call(operation_id, json=body))))

    # -- accounts --------------------------------------------------------------------------------
    @operation
    def list_accounts(self) -> Flow[dict[str, Account]]:
        """GET /accounts: the configured LTX Studio accounts, keyed by email (404 when none is)."""
        data = self._json((yield from self._call("listAccounts")))
        if not isinstance(data, dict):
            return {}
        return {key: Account.from_dict(value) for key, value in data.items()}

    @operation
    def create_account(self, cookie: str | Mapping[str, str], max_jobs: int | None = None) -> Flow[Account]:
        """POST /accounts: configure (or update) the account behind an LTX Studio session cookie.

        `cookie` is the browser's Cookie header value, or a mapping of cookie names to values.
        """
        if isinstance(cookie, Mapping):
            cookie = "; ".join(f"{k}={v}" for k, v in cookie.items())
        body = self._body("createAccount", {"cookie": cookie, "max_jobs": max_jobs})
        # Create-or-update: repeating it is harmless, so it may be retried like a GET.
        return Account.from_dict(self._json((yield from self._call("createAccount", json=body, idempotent=True))))

    @operation
    def get_account(self, email: str) -> Flow[Account]:
        """GET /accounts/{email}: one account, with its credit balance."""
        return Account.from_dict(self._json((yield from self._call("getAccount", path_params={"email": email}))))

    @operation
    def delete_account(self, email: str) -> Flow[None]:
        """DELETE /accounts/{email}."""
        yield from self._call("deleteAccount", path_params={"email": email})

    # -- assets ----------------------------------------------------------------------------------
    def _list_assets(self, email: str | None, page: int, limit: int, filter: str | None) -> Flow[AssetList]:
        params = {"email": email, "page": page, "limit": limit, "filter": filter}
        check_params("listAssets", params, contract=self.contract, validate=self.validate)
        return AssetList.from_dict(self._json((yield from self._call("listAssets", params=params, idempotent=True))))

    @operation
    def list_assets(self, email: str | None = None, page: int = 1, limit: int = 20,
                    filter: str | None = None) -> Flow[AssetList]:
        """GET /assets: one page of the account's assets; `filter` is images, videos, audio or other."""
        return (yield from self._list_assets(email, page, limit, filter))

    @staticmethod
    def _next_page(result: AssetList, page: int, limit: int) -> int | None:
        """The page ``iter_assets`` reads next: none after a short or empty page or the last one the meta names."""
        total_pages = result.meta.total_pages if result.meta else None
        if not result.items or (total_pages is not None and page >= total_pages):
            return None
        if total_pages is None and len(result.items) < limit:
            return None
        return page + 1

    @operation
    def upload_asset(self, path_or_bytes: str | os.PathLike[str] | bytes, content_type: str | None = None,
                     type: str = "image", email: str | None = None) -> Flow[UploadedAsset]:
        """POST /assets: upload a file; use the result's `file_id` as startAssetId/referenceAssetId.

        `type` is `image` (for videos/ltx-create) or `reference-image` (images/*, videos/veo-create).
        The content type is guessed from the file name, then from the bytes, when not given.
        """
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            content_type = content_type or sniff_content_type(data)
        else:
            path = Path(path_or_bytes)
            data = path.read_bytes()
            content_type = content_type or mimetypes.guess_type(path.name)[0] or sniff_content_type(data)
        if not content_type:
            raise ValidationError("upload_asset: cannot tell the content type; pass content_type=")
        if not data:
            raise ValidationError("upload_asset: the file is empty")
        params = {"type": type, "email": email}
        check_params("uploadAsset", params, contract=self.contract, validate=self.validate)
        allowed = list(self.contract["uploadAsset"].body_schemas)
        if self.validate and allowed and not _media_type_allowed(content_type, allowed):
            raise ValidationError(f"upload_asset: content type {content_type!r} not accepted; "
                                  f"the API takes {', '.join(allowed)}")
        headers = {"Content-Type": content_type}
        response = yield from self._call("uploadAsset", params=params, data=data, headers=headers)
        return UploadedAsset.from_dict(self._json(response))

    # -- jobs ------------------------------------------------------------------------------------
    def _get_job(self, job_id: str) -> Flow[Job]:
        return Job.from_dict(self._json((yield from self._call("getJob", path_params={"jobId": job_id}))))

    @operation
    def get_job(self, job_id: str) -> Flow[Job]:
        """GET /assets/{jobId}: a job's status, and its artifact once completed."""
        return (yield from self._get_job(job_id))

    @operation
    def create_image(
        self, prompt: str, *, model: str | None = None, aspect_ratio: str | None = None,
        reference_asset_id: str | None = None, reference_strength: int | None = None,
        style: str | None = None, shot_type: str | None = None, shot_angle: str | None = None,
        location: str | None = None, weather: str | None = None, lighting: str | None = None,
        seed: int | None = None, email: str | None = None, poll_for_result: int | None = None,
        max_jobs: int | None = None, reply_url: str | None = None, reply_ref: str | None = None,
        **extra: Any,
    ) -> Flow[JobCreated | Job]:
        """POST /images/create (flux, flux-premium, nano-banana). A `Job` when pollForResult saw it end."""
        fields = {
            "prompt": prompt, "model": model, "aspect_ratio": aspect_ratio,
            "reference_asset_id": reference_asset_id, "reference_strength": reference_strength,
            "style": style, "shot_type": shot_type, "shot_angle": shot_angle, "location": location,
            "weather": weather, "lighting": lighting, "seed": seed, "email": email,
            "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return (yield from self._generate("createImage", fields, extra))

    @operation
    def edit_image(
        self, prompt: str, reference_asset_id: str, *, reference_asset_id2: str | None = None,
        reference_asset_id3: str | None = None, model: str | None = None, aspect_ratio: str | None = None,
        shot_type: str | None = None, shot_angle: str | None = None, location: str | None = None,
        weather: str | None = None, lighting: str | None = None, seed: int | None = None,
        email: str | None = None, poll_for_result: int | None = None, max_jobs: int | None = None,
        reply_url: str | None = None, reply_ref: str | None = None, **extra: Any,
    ) -> Flow[JobCreated | Job]:
        """POST /images/edit: change an uploaded reference image (`type="reference-image"`) by prompt."""
        fields = {
            "prompt": prompt, "reference_asset_id": reference_asset_id,
            "reference_asset_id2": reference_asset_id2, "reference_asset_id3": reference_asset_id3,
            "model": model, "aspect_ratio": aspect_ratio, "shot_type": shot_type, "shot_angle": shot_angle,
            "location": location, "weather": weather, "lighting": lighting, "seed": seed, "email": email,
            "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return (yield from self._generate("editImage", fields, extra))

    @operation
    def upscale_image(
        self, job_id: str, *, email: str | None = None, poll_for_result: int | None = None,
        max_jobs: int | None = None, reply_url: str | None = None, reply_ref: str | None = None,
        **extra: Any,
    ) -> Flow[JobCreated | Job]:
        """POST /images/upscale: upscale the result of a completed images/create or images/edit job."""
        fields = {"job_id": job_id, "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs,
                  "reply_url": reply_url, "reply_ref": reply_ref}
        return (yield from self._generate("upscaleImage", fields, extra))

    @operation
    def create_ltx_video(
        self, prompt: str, *, start_asset_id: str | None = None, end_asset_id: str | None = None,
        model: str | None = None, duration: str | int | None = None, aspect_ratio: str | None = None,
        intensity: str | None = None, seed: int | None = None, audio_sfx: bool | None = None,
        email: str | None = None, poll_for_result: int | None = None, max_jobs: int | None = None,
        reply_url: str | None = None, reply_ref: str | None = None, **extra: Any,
    ) -> Flow[JobCreated | Job]:
        """POST /videos/ltx-create (ltxv, ltxv-turbo); needs start_asset_id or end_asset_id (or both)."""
        fields = {
            "prompt": prompt, "start_asset_id": start_asset_id, "end_asset_id": end_asset_id, "model": model,
            "duration": duration, "aspect_ratio": aspect_ratio, "intensity": intensity, "seed": seed,
            "audio_sfx": audio_sfx, "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs,
            "reply_url": reply_url, "reply_ref": reply_ref,
        }
        return (yield from self._generate("createLtxVideo", fields, extra))

    @operation
    def create_veo_video(
        self, *, prompt: str | None = None, start_asset_id: str | None = None, model: str | None = None,
        duration: str | int | None = None, aspect_ratio: str | None = None, audio_sfx: bool | None = None,
        resolution: str | None = None, seed: int | None = None, email: str | None = None,
        poll_for_result: int | None = None, max_jobs: int | None = None, reply_url: str | None = None,
        reply_ref: str | None = None, **extra: Any,
    ) -> Flow[JobCreated | Job]:
        """POST /videos/veo-create (veo2 default: needs start_asset_id; veo3, veo3-fast: 8 s, 16:9)."""
        fields = {
            "prompt": prompt, "start_asset_id": start_asset_id, "model": model, "duration": duration,
            "aspect_ratio": aspect_ratio, "audio_sfx": audio_sfx, "resolution": resolution, "seed": seed,
            "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return (yield from self._generate("createVeoVideo", fields, extra))

    # -- scheduler -------------------------------------------------------------------------------
    @operation
    def list_running_jobs(self) -> Flow[list[RunningJob]]:
        """GET /scheduler: jobs the scheduler is tracking."""
        data = self._json((yield from self._call("listRunningJobs")))
        return [RunningJob.from_dict(item) for item in data] if isinstance(data, list) else []

    @operation
    def scheduler_available(self) -> Flow[SchedulerAvailable]:
        """GET /scheduler/available: running jobs and free slots per account."""
        return SchedulerAvailable.from_dict(self._json((yield from self._call("getSchedulerAvailable"))))

    @operation
    def cancel_job(self, job_id: str) -> Flow[None]:
        """DELETE /scheduler/{jobId}: stop tracking a job (LTX Studio still runs it)."""
        yield from self._call("cancelJob", path_params={"jobId": job_id})

    # -- waiting ---------------------------------------------------------------------------------
    @operation
    def wait(
        self, job_id: str | JobCreated | Job, *, timeout: float = 900.0, poll_interval: float = 2.0,
        max_interval: float = 15.0, on_progress: Callable[[Job], Any] | None = None,
    ) -> Flow[Job]:
        """Poll GET /assets/{jobId} until the job is completed *with* an artifact, and return it.

        The docs warn that `status.type` and the artifact may be out of sync, so a completed job without
        `artifact.assetUrl` is polled again. The interval grows by half each poll up to `max_interval`.
        Raises `JobFailedError` (with the job's message) or `JobTimeoutError` after `timeout` seconds.
        On the async client, `on_progress` may also be a coroutine function.
        """
        if isinstance(job_id, Job) and job_id.is_done:
            return job_id
        if isinstance(job_id, (Job, JobCreated)):
            if not job_id.job_id:
                raise ValidationError("wait: the job has no jobId")
            job_id = job_id.job_id
        deadline = self.clock() + timeout
        interval = poll_interval
        while True:
            job = yield from self._get_job(job_id)
            if on_progress is not None:
                yield Await(on_progress(job))
            if job.is_done:
                return job
            if job.is_failed:
                reason = job.message or "no reason given"
                raise JobFailedError(f"job {job_id} failed: {reason}", job=job, error=reason)
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise JobTimeoutError(
                    f"job {job_id} not finished after {timeout:g}s (last state: {job.state}, "
                    f"progress: {job.progress})", job_id=job_id, job=job)
            yield Sleep(min(interval, remaining))
            interval = min(interval * 1.5, max_interval)

    # -- downloading -----------------------------------------------------------------------------
    def _download_plan(self, item: Job | Artifact | UploadedAsset | AssetItem | str,
                       path: str | os.PathLike[str]) -> DownloadPlan:
        """The URL to fetch and the file to write (a directory keeps the URL's file name)."""
        url, mime = self._artifact_url(item)
        target = Path(path)
        if target.is_dir():
            name = unquote(Path(urlsplit(url).path).name) or "artifact"
            if not Path(name).suffix and mime:
                name += mimetypes.guess_extension(mime.split(";")[0]) or ""
            target = target / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return DownloadPlan(url, target)

    def _fetch(self, plan: DownloadPlan) -> Flow[Any]:
        """The artifact's streamed answer: a signed link, so no bearer token (it must not leak to storage)."""
        return (yield from self._send("GET", plan.url, operation_id=None, idempotent=True, auth=False, stream=True))

    def _artifact_url(self, item: Job | Artifact | UploadedAsset | AssetItem | str) -> tuple[str, str | None]:
        url: str | None
        mime: str | None = None
        if isinstance(item, str):
            url = item
        elif isinstance(item, Job):
            if item.is_failed:
                reason = item.message or "no reason given"
                raise JobFailedError(f"job {item.job_id} failed: {reason}", job=item, error=reason)
            url = item.asset_url
            mime = item.artifact.mime_type if item.artifact else None
        elif isinstance(item, Artifact):
            url, mime = item.asset_url, item.mime_type
        elif isinstance(item, UploadedAsset):
            url, mime = item.asset_url, item.asset.mime_type if item.asset else None
        elif isinstance(item, AssetItem):
            url, mime = (item.signed_asset.asset_url, item.mime_type) if item.signed_asset else (None, None)
        else:
            raise TypeError(f"download() takes a Job, Artifact, UploadedAsset, AssetItem or URL: {item!r}")
        if not url:
            raise LTXStudioError("nothing to download: no artifact URL yet (wait() for the job first)")
        # Absolute per the docs; a relative one is read against the API's host, still without the token.
        return urljoin(self.base_url + "/", url), mime


class BlockingRunner(ClientCore):
    """Runs flows by blocking: each ``Send`` through ``_transport``, each ``Sleep`` through ``self.sleep``."""

    def _transport(self, request: Send) -> Any:
        """The response, or ``Failed`` for a transport error of the library (the driver's one job)."""
        raise NotImplementedError

    def _close_response(self, response: Any) -> None:
        response.close()

    def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        while True:
            try:
                effect = flow.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(effect, Send):
                reply = self._transport(effect)
            elif isinstance(effect, Sleep):
                reply = self.sleep(effect.seconds)
            elif isinstance(effect, Discard):
                self._close_response(effect.response)
                reply = None
            else:
                if hasattr(effect.value, "__await__"):
                    flow.close()
                    effect.value.close()  # never awaited: say so plainly instead of a RuntimeWarning
                    raise TypeError("a coroutine callback (on_progress) needs AsyncLTXStudioClient")
                reply = effect.value

    def _method(self, flow: Callable[..., Flow[Any]]) -> Callable[..., Any]:
        @functools.wraps(flow)
        def method(*args: Any, **kwargs: Any) -> Any:
            return self._run(flow(*args, **kwargs))

        return method


class AsyncRunner(ClientCore):
    """Runs flows by awaiting: each ``Send`` through ``_atransport``; ``self.sleep`` may be sync or async."""

    async def _atransport(self, request: Send) -> Any:
        """The response, or ``Failed`` for a transport error of the library (the driver's one job)."""
        raise NotImplementedError

    async def _aclose_response(self, response: Any) -> None:
        await response.aclose()

    async def _arun(self, flow: Flow[T]) -> T:
        reply: Any = None
        while True:
            try:
                effect = flow.send(reply)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            if isinstance(effect, Send):
                reply = await self._atransport(effect)
            elif isinstance(effect, Sleep):
                reply = self.sleep(effect.seconds)
                if hasattr(reply, "__await__"):
                    reply = await reply
            elif isinstance(effect, Discard):
                await self._aclose_response(effect.response)
                reply = None
            else:
                reply = (await effect.value) if hasattr(effect.value, "__await__") else effect.value

    def _method(self, flow: Callable[..., Flow[Any]]) -> Callable[..., Any]:
        @functools.wraps(flow)
        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self._arun(flow(*args, **kwargs))

        return method
