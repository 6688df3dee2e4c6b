"""`LTXStudioClient`: one method per operation of the useapi.net LTX Studio API v1, on a requests.Session."""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from ltxstudio_mock.contracts.spec import Contract, get_contract

from . import __version__
from ._retry import TRANSPORT_ERRORS, RetryPolicy, parse_retry_after, time_source_for
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

__all__ = ["DEFAULT_BASE_URL", "LTXStudioClient", "ResponseHook"]

DEFAULT_BASE_URL = "https://api.useapi.net/v1/ltxstudio"

#: Called with (operationId, response) for every HTTP answer of the API, before the client reads it;
#: the contract tests pass `contracts.validate_response` here.
ResponseHook = Callable[[str, requests.Response], Any]

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


class LTXStudioClient:
    """A client of the useapi.net LTX Studio API v1 (or of the offline simulator: same URLs, same token).

    `token` defaults to $USEAPI_TOKEN and `base_url` to $USEAPI_BASE_URL, then to the real service, so
    code written against the real API runs against the simulator with no change but the environment.
    `retries` extra attempts are made on 429 and transient failures (see `RetryPolicy` for which);
    `sleep` and `clock` are injectable so tests (and the simulator's virtual clock) control time; left out,
    they are real time unless a simulator claimed this client's base URL (`_retry.use_time_source`: the
    `ltx_mock` fixture and `mock_ltxstudio` do), whose simulated clock then moves instead of the client waiting.
    Use it as a context manager, or call `close()`, to release the pooled connections.
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
        session: requests.Session | None = None,
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
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self.session.headers.setdefault("User-Agent", f"ltxstudio-client/{__version__}")

    def _default_sleep(self, seconds: float) -> None:
        """Real time.sleep, or the simulated clock's advance when a simulator claimed our base URL."""
        time_source_for(self.base_url).sleep(seconds)

    def _default_clock(self) -> float:
        return float(time_source_for(self.base_url).clock())

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the session if the client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> LTXStudioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LTXStudioClient(base_url={self.base_url!r}, token={'set' if self.token else 'unset'})"

    @property
    def contract(self) -> Contract:
        """The contract engine's view of openapi.yaml: paths and local checks (read on first use)."""
        if self._contract is None:
            self._contract = get_contract()
        return self._contract

    # -- transport -------------------------------------------------------------------------------
    def _url(self, path: str, path_params: Mapping[str, str] | None = None) -> str:
        for name, value in (path_params or {}).items():
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{name} must be a non-empty string, got {value!r}")
            path = path.replace("{" + name + "}", quote(value, safe=""))
        return self.base_url + path

    def _send(self, method: str, url: str, *, operation_id: str | None, idempotent: bool = False,
              auth: bool = True, **kwargs: Any) -> requests.Response:
        """Send with retries; returns a 2xx response or raises the mapped error."""
        headers = dict(kwargs.pop("headers", None) or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        kwargs.setdefault("timeout", self.timeout)
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except TRANSPORT_ERRORS as exc:
                if attempt < self.retry.retries and self.retry.should_retry_exception(
                        method, exc, idempotent=idempotent):
                    self.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise TransportError(f"{method} {url} failed: {exc}") from exc
            if operation_id is not None and self.response_hook is not None:
                self.response_hook(operation_id, response)
            if response.ok:
                return response
            if attempt < self.retry.retries and self.retry.should_retry_status(
                    method, response.status_code, idempotent=idempotent):
                wait = self.retry.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))
                response.close()
                self.sleep(wait)
                attempt += 1
                continue
            error = error_for_response(response)
            if isinstance(error, AuthenticationError) and not self.token:
                error.args = (f"{error.args[0]} - no API token: pass token= or set USEAPI_TOKEN",)
            raise error

    def _call(self, operation_id: str, *, path_params: Mapping[str, str] | None = None,
              params: dict[str, Any] | None = None, json: Any = None, data: bytes | None = None,
              headers: dict[str, str] | None = None, idempotent: bool = False) -> requests.Response:
        op = self.contract[operation_id]
        url = self._url(op.path, path_params)
        kwargs: dict[str, Any] = {"headers": {"Accept": "application/json", **(headers or {})}}
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        return self._send(op.method, url, operation_id=op.operation_id, idempotent=idempotent, **kwargs)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise LTXStudioError(f"{response.status_code} response is not JSON: {response.text[:200]!r}",
                                 response=response) from exc

    def _body(self, operation_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return build_body(operation_id, fields, contract=self.contract, validate=self.validate)

    def _generate(self, operation_id: str, fields: dict[str, Any], extra: dict[str, Any]) -> JobCreated | Job:
        body = self._body(operation_id, {**fields, **extra})
        return parse_generation(self._json(self._call(operation_id, json=body)))

    # -- accounts --------------------------------------------------------------------------------
    def list_accounts(self) -> dict[str, Account]:
        """GET /accounts: the configured LTX Studio accounts, keyed by email (404 when none is)."""
        data = self._json(self._call("listAccounts"))
        if not isinstance(data, dict):
            return {}
        return {key: Account.from_dict(value) for key, value in data.items()}

    def create_account(self, cookie: str | Mapping[str, str], max_jobs: int | None = None) -> Account:
        """POST /accounts: configure (or update) the account behind an LTX Studio session cookie.

        `cookie` is the browser's Cookie header value, or a mapping of cookie names to values.
        """
        if isinstance(cookie, Mapping):
            cookie = "; ".join(f"{k}={v}" for k, v in cookie.items())
        body = self._body("createAccount", {"cookie": cookie, "max_jobs": max_jobs})
        # Create-or-update: repeating it is harmless, so it may be retried like a GET.
        return Account.from_dict(self._json(self._call("createAccount", json=body, idempotent=True)))

    def get_account(self, email: str) -> Account:
        """GET /accounts/{email}: one account, with its credit balance."""
        return Account.from_dict(self._json(self._call("getAccount", path_params={"email": email})))

    def delete_account(self, email: str) -> None:
        """DELETE /accounts/{email}."""
        self._call("deleteAccount", path_params={"email": email})

    # -- assets ----------------------------------------------------------------------------------
    def list_assets(self, email: str | None = None, page: int = 1, limit: int = 20,
                    filter: str | None = None) -> AssetList:
        """GET /assets: one page of the account's assets; `filter` is images, videos, audio or other."""
        params = {"email": email, "page": page, "limit": limit, "filter": filter}
        check_params("listAssets", params, contract=self.contract, validate=self.validate)
        return AssetList.from_dict(self._json(self._call("listAssets", params=params, idempotent=True)))

    def iter_assets(self, email: str | None = None, filter: str | None = None,
                    limit: int = 20) -> Iterator[AssetItem]:
        """Every asset, page after page, until a short or empty page or the last one the meta names."""
        page = 1
        while True:
            result = self.list_assets(email=email, page=page, limit=limit, filter=filter)
            yield from result.items
            total_pages = result.meta.total_pages if result.meta else None
            if not result.items or (total_pages is not None and page >= total_pages):
                return
            if total_pages is None and len(result.items) < limit:
                return
            page += 1

    def upload_asset(self, path_or_bytes: str | os.PathLike[str] | bytes, content_type: str | None = None,
                     type: str = "image", email: str | None = None) -> UploadedAsset:
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
        response = self._call("uploadAsset", params=params, data=data, headers=headers)
        return UploadedAsset.from_dict(self._json(response))

    # -- jobs ------------------------------------------------------------------------------------
    def get_job(self, job_id: str) -> Job:
        """GET /assets/{jobId}: a job's status, and its artifact once completed."""
        return Job.from_dict(self._json(self._call("getJob", path_params={"jobId": job_id})))

    def create_image(
        self, prompt: str, *, model: str | None = None, aspect_ratio: str | None = None,
        reference_asset_id: str | None = None, reference_strength: int | None = None,
        style: str | None = None, shot_type: str | None = None, shot_angle: str | None = None,
        location: str | None = None, weather: str | None = None, lighting: str | None = None,
        seed: int | None = None, email: str | None = None, poll_for_result: int | None = None,
        max_jobs: int | None = None, reply_url: str | None = None, reply_ref: str | None = None,
        **extra: Any,
    ) -> JobCreated | Job:
        """POST /images/create (flux, flux-premium, nano-banana). A `Job` when pollForResult saw it end."""
        fields = {
            "prompt": prompt, "model": model, "aspect_ratio": aspect_ratio,
            "reference_asset_id": reference_asset_id, "reference_strength": reference_strength,
            "style": style, "shot_type": shot_type, "shot_angle": shot_angle, "location": location,
            "weather": weather, "lighting": lighting, "seed": seed, "email": email,
            "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return self._generate("createImage", fields, extra)

    def edit_image(
        self, prompt: str, reference_asset_id: str, *, reference_asset_id2: str | None = None,
        reference_asset_id3: str | None = None, model: str | None = None, aspect_ratio: str | None = None,
        shot_type: str | None = None, shot_angle: str | None = None, location: str | None = None,
        weather: str | None = None, lighting: str | None = None, seed: int | None = None,
        email: str | None = None, poll_for_result: int | None = None, max_jobs: int | None = None,
        reply_url: str | None = None, reply_ref: str | None = None, **extra: Any,
    ) -> JobCreated | Job:
        """POST /images/edit: change an uploaded reference image (`type="reference-image"`) by prompt."""
        fields = {
            "prompt": prompt, "reference_asset_id": reference_asset_id,
            "reference_asset_id2": reference_asset_id2, "reference_asset_id3": reference_asset_id3,
            "model": model, "aspect_ratio": aspect_ratio, "shot_type": shot_type, "shot_angle": shot_angle,
            "location": location, "weather": weather, "lighting": lighting, "seed": seed, "email": email,
            "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return self._generate("editImage", fields, extra)

    def upscale_image(
        self, job_id: str, *, email: str | None = None, poll_for_result: int | None = None,
        max_jobs: int | None = None, reply_url: str | None = None, reply_ref: str | None = None,
        **extra: Any,
    ) -> JobCreated | Job:
        """POST /images/upscale: upscale the result of a completed images/create or images/edit job."""
        fields = {"job_id": job_id, "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs,
                  "reply_url": reply_url, "reply_ref": reply_ref}
        return self._generate("upscaleImage", fields, extra)

    def create_ltx_video(
        self, prompt: str, *, start_asset_id: str | None = None, end_asset_id: str | None = None,
        model: str | None = None, duration: str | int | None = None, aspect_ratio: str | None = None,
        intensity: str | None = None, seed: int | None = None, audio_sfx: bool | None = None,
        email: str | None = None, poll_for_result: int | None = None, max_jobs: int | None = None,
        reply_url: str | None = None, reply_ref: str | None = None, **extra: Any,
    ) -> JobCreated | Job:
        """POST /videos/ltx-create (ltxv, ltxv-turbo); needs start_asset_id or end_asset_id (or both)."""
        fields = {
            "prompt": prompt, "start_asset_id": start_asset_id, "end_asset_id": end_asset_id, "model": model,
            "duration": duration, "aspect_ratio": aspect_ratio, "intensity": intensity, "seed": seed,
            "audio_sfx": audio_sfx, "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs,
            "reply_url": reply_url, "reply_ref": reply_ref,
        }
        return self._generate("createLtxVideo", fields, extra)

    def create_veo_video(
        self, *, prompt: str | None = None, start_asset_id: str | None = None, model: str | None = None,
        duration: str | int | None = None, aspect_ratio: str | None = None, audio_sfx: bool | None = None,
        resolution: str | None = None, seed: int | None = None, email: str | None = None,
        poll_for_result: int | None = None, max_jobs: int | None = None, reply_url: str | None = None,
        reply_ref: str | None = None, **extra: Any,
    ) -> JobCreated | Job:
        """POST /videos/veo-create (veo2 default: needs start_asset_id; veo3, veo3-fast: 8 s, 16:9)."""
        fields = {
            "prompt": prompt, "start_asset_id": start_asset_id, "model": model, "duration": duration,
            "aspect_ratio": aspect_ratio, "audio_sfx": audio_sfx, "resolution": resolution, "seed": seed,
            "email": email, "poll_for_result": poll_for_result, "max_jobs": max_jobs, "reply_url": reply_url,
            "reply_ref": reply_ref,
        }
        return self._generate("createVeoVideo", fields, extra)

    # -- scheduler -------------------------------------------------------------------------------
    def list_running_jobs(self) -> list[RunningJob]:
        """GET /scheduler: jobs the scheduler is tracking."""
        data = self._json(self._call("listRunningJobs"))
        return [RunningJob.from_dict(item) for item in data] if isinstance(data, list) else []

    def scheduler_available(self) -> SchedulerAvailable:
        """GET /scheduler/available: running jobs and free slots per account."""
        return SchedulerAvailable.from_dict(self._json(self._call("getSchedulerAvailable")))

    def cancel_job(self, job_id: str) -> None:
        """DELETE /scheduler/{jobId}: stop tracking a job (LTX Studio still runs it)."""
        self._call("cancelJob", path_params={"jobId": job_id})

    # -- waiting and downloading -----------------------------------------------------------------
    def wait(
        self, job_id: str | JobCreated | Job, *, timeout: float = 900.0, poll_interval: float = 2.0,
        max_interval: float = 15.0, on_progress: Callable[[Job], Any] | None = None,
    ) -> Job:
        """Poll GET /assets/{jobId} until the job is completed *with* an artifact, and return it.

        The docs warn that `status.type` and the artifact may be out of sync, so a completed job without
        `artifact.assetUrl` is polled again. The interval grows by half each poll up to `max_interval`.
        Raises `JobFailedError` (with the job's message) or `JobTimeoutError` after `timeout` seconds.
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
            job = self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
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
            self.sleep(min(interval, remaining))
            interval = min(interval * 1.5, max_interval)

    def download(self, job_or_artifact: Job | Artifact | UploadedAsset | AssetItem | str,
                 path: str | os.PathLike[str], *, chunk_size: int = 1 << 16) -> Path:
        """Stream a result file to `path` (a file, or a directory to keep the URL's file name).

        The artifact URL is a signed link to a storage host, so no bearer token is sent with it (the
        API token must not leak to third-party hosts). The file appears only once complete.
        """
        url, mime = self._artifact_url(job_or_artifact)
        target = Path(path)
        if target.is_dir():
            name = unquote(Path(urlsplit(url).path).name) or "artifact"
            if not Path(name).suffix and mime:
                name += mimetypes.guess_extension(mime.split(";")[0]) or ""
            target = target / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        response = self._send("GET", url, operation_id=None, idempotent=True, auth=False, stream=True)
        try:
            with partial.open("wb") as handle:
                for chunk in response.iter_content(chunk_size=chunk_size):
                    if chunk:
                        handle.write(chunk)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            response.close()
        partial.replace(target)
        return target

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
