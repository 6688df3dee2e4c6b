"""Typed results. Tolerant by design: the docs mark every field of every model optional, and the service
adds fields without notice, so a missing or unexpected field never raises.

Each model keeps the fields it does not know in `extra` and the whole decoded body in `raw`; a known field
whose value has an unexpected type reads as None (the original stays in `raw`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

__all__ = [
    "Account",
    "AccountBalance",
    "Artifact",
    "AssetItem",
    "AssetList",
    "AssetListMeta",
    "AssetRef",
    "Job",
    "JobCreated",
    "JobState",
    "JobStatus",
    "RunningJob",
    "SchedulerAvailable",
    "SchedulerCapacity",
    "UploadedAsset",
    "parse_generation",
]

T = TypeVar("T")


def _as(value: Any, kind: type[T] | tuple[type, ...]) -> Any:
    """`value` if it has the expected type, else None (bool is not a number here)."""
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        return None
    return value if isinstance(value, kind) else None


def _num(value: Any) -> int | float | None:
    number: int | float | None = _as(value, (int, float))
    return number


def _int(value: Any) -> int | None:
    """Integers, also when the JSON spelled them 20.0."""
    number = _num(value)
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    return number


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _extra(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in known}


class JobState(StrEnum):
    """The documented values of `status.type`; others may appear and are kept as plain strings."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass
class AssetRef:
    """The `asset` object: what LTX Studio stored (fileId is what other calls take as an asset id)."""

    type: str | None = None
    file_id: str | None = None
    mime_type: str | None = None
    artifact_subtype: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> AssetRef | None:
        if not isinstance(data, dict):
            return None
        return cls(
            type=_as(data.get("type"), str),
            file_id=_as(data.get("fileId"), str),
            mime_type=_as(data.get("mimeType"), str),
            artifact_subtype=_as(data.get("artifactSubtype"), str),
            extra=_extra(data, {"type", "fileId", "mimeType", "artifactSubtype"}),
        )


@dataclass
class Artifact:
    """A signed, expiring URL to a stored file (job results, uploads, listed assets, thumbnails)."""

    asset_url: str | None = None
    expiration_date_string: str | None = None
    asset: AssetRef | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Artifact | None:
        if not isinstance(data, dict):
            return None
        return cls(
            asset_url=_as(data.get("assetUrl"), str),
            expiration_date_string=_as(data.get("expirationDateString"), str),
            asset=AssetRef.from_dict(data.get("asset")),
            extra=_extra(data, {"assetUrl", "expirationDateString", "asset"}),
        )

    @property
    def file_id(self) -> str | None:
        return self.asset.file_id if self.asset else None

    @property
    def mime_type(self) -> str | None:
        return self.asset.mime_type if self.asset else None


@dataclass
class JobStatus:
    """`status` of a job: `type` is active/completed/failed; `artifact` appears once the result exists."""

    type: str | None = None
    progress: int | float | None = None
    message: str | None = None
    artifact: Artifact | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> JobStatus | None:
        if not isinstance(data, dict):
            return None
        return cls(
            type=_as(data.get("type"), str),
            progress=_num(data.get("progress")),
            message=_as(data.get("message"), str),
            artifact=Artifact.from_dict(data.get("artifact")),
            extra=_extra(data, {"type", "progress", "message", "artifact"}),
        )


@dataclass
class Job:
    """GET /assets/{jobId}, a webhook body, or a generation answered after pollForResult.

    The docs warn `status.type` and the artifact may be out of sync, so `is_done` needs both.
    """

    status: JobStatus | None = None
    job_id: str | None = None
    generation_id: str | None = None
    reply_ref: str | None = None
    reply_url: str | None = None
    code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    _KNOWN = frozenset({"status", "jobId", "generationId", "replyRef", "replyUrl", "code"})

    @classmethod
    def from_dict(cls, data: Any) -> Job:
        d = _dict(data)
        return cls(
            status=JobStatus.from_dict(d.get("status")),
            job_id=_as(d.get("jobId"), str),
            generation_id=_as(d.get("generationId"), str),
            reply_ref=_as(d.get("replyRef"), str),
            reply_url=_as(d.get("replyUrl"), str),
            code=_int(d.get("code")),
            extra=_extra(d, set(cls._KNOWN)),
            raw=data,
        )

    @property
    def state(self) -> str | None:
        return self.status.type if self.status else None

    @property
    def artifact(self) -> Artifact | None:
        return self.status.artifact if self.status else None

    @property
    def progress(self) -> int | float | None:
        return self.status.progress if self.status else None

    @property
    def message(self) -> str | None:
        return self.status.message if self.status else None

    @property
    def is_done(self) -> bool:
        """Completed *and* the artifact URL is there (the two may be out of sync)."""
        return self.state == JobState.COMPLETED.value and bool(self.artifact and self.artifact.asset_url)

    @property
    def is_failed(self) -> bool:
        return self.state == JobState.FAILED.value

    @property
    def asset_url(self) -> str | None:
        return self.artifact.asset_url if self.artifact else None


@dataclass
class JobCreated:
    """A generation accepted and handed to the scheduler: poll it with `wait(job_id)`."""

    job_id: str | None = None
    generation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    @classmethod
    def from_dict(cls, data: Any) -> JobCreated:
        d = _dict(data)
        return cls(
            job_id=_as(d.get("jobId"), str),
            generation_id=_as(d.get("generationId"), str),
            extra=_extra(d, {"jobId", "generationId"}),
            raw=data,
        )


def parse_generation(data: Any) -> JobCreated | Job:
    """A generation answer is a full job when pollForResult saw it finish (it then has `status`)."""
    if isinstance(data, dict) and "status" in data:
        return Job.from_dict(data)
    return JobCreated.from_dict(data)


@dataclass
class AccountBalance:
    """`balance`: LTX Studio credits left (the real field name is `LTXStudio_token`)."""

    ltx_studio_token: int | float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> AccountBalance | None:
        if not isinstance(data, dict):
            return None
        return cls(ltx_studio_token=_num(data.get("LTXStudio_token")),
                   extra=_extra(data, {"LTXStudio_token"}))

    @property
    def credits(self) -> int | float | None:
        return self.ltx_studio_token


@dataclass
class Account:
    """One configured LTX Studio account (the cookie's secrets come back masked)."""

    email: str | None = None
    cookie: dict[str, Any] = field(default_factory=dict)
    max_jobs: int | None = None
    updated: int | float | None = None
    updated_utc: str | None = None
    token_expire: int | float | None = None
    token_expire_utc: str | None = None
    refresh_token_expire: int | float | None = None
    refresh_token_expire_utc: str | None = None
    balance: AccountBalance | None = None
    latest_created_at_ms: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    _FIELDS = {
        "email": "email", "maxJobs": "max_jobs", "updated": "updated", "updatedUTC": "updated_utc",
        "tokenExpire": "token_expire", "tokenExpireUTC": "token_expire_utc",
        "refreshTokenExpire": "refresh_token_expire", "refreshTokenExpireUTC": "refresh_token_expire_utc",
        "error": "error",
    }

    @classmethod
    def from_dict(cls, data: Any) -> Account:
        d = _dict(data)
        return cls(
            email=_as(d.get("email"), str),
            cookie=_dict(d.get("cookie")),
            max_jobs=_int(d.get("maxJobs")),
            updated=_num(d.get("updated")),
            updated_utc=_as(d.get("updatedUTC"), str),
            token_expire=_num(d.get("tokenExpire")),
            token_expire_utc=_as(d.get("tokenExpireUTC"), str),
            refresh_token_expire=_num(d.get("refreshTokenExpire")),
            refresh_token_expire_utc=_as(d.get("refreshTokenExpireUTC"), str),
            balance=AccountBalance.from_dict(d.get("balance")),
            latest_created_at_ms=_dict(d.get("latestCreatedAtMs")),
            error=_as(d.get("error"), str),
            extra=_extra(d, set(cls._FIELDS) | {"cookie", "balance", "latestCreatedAtMs"}),
            raw=data,
        )

    @property
    def credits(self) -> int | float | None:
        return self.balance.ltx_studio_token if self.balance else None


@dataclass
class UploadedAsset:
    """POST /assets: `file_id` is what the generation endpoints take as startAssetId/referenceAssetId."""

    asset_url: str | None = None
    expiration_date_string: str | None = None
    asset: AssetRef | None = None
    message: str | None = None
    error: str | None = None
    status_code: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    @classmethod
    def from_dict(cls, data: Any) -> UploadedAsset:
        d = _dict(data)
        return cls(
            asset_url=_as(d.get("assetUrl"), str),
            expiration_date_string=_as(d.get("expirationDateString"), str),
            asset=AssetRef.from_dict(d.get("asset")),
            message=_as(d.get("message"), str),
            error=_as(d.get("error"), str),
            status_code=_int(d.get("statusCode")),
            extra=_extra(d, {"assetUrl", "expirationDateString", "asset", "message", "error", "statusCode"}),
            raw=data,
        )

    @property
    def file_id(self) -> str | None:
        return self.asset.file_id if self.asset else None


@dataclass
class AssetItem:
    """One entry of GET /assets."""

    id: str | None = None
    job_id: str | None = None
    signed_asset: Artifact | None = None
    related_assets: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> AssetItem:
        d = _dict(data)
        return cls(
            id=_as(d.get("id"), str),
            job_id=_as(d.get("jobId"), str),
            signed_asset=Artifact.from_dict(d.get("signedAsset")),
            related_assets=_dict(d.get("relatedAssets")),
            extra=_extra(d, {"id", "jobId", "signedAsset", "relatedAssets"}),
        )

    @property
    def file_id(self) -> str | None:
        return self.signed_asset.file_id if self.signed_asset else None

    @property
    def mime_type(self) -> str | None:
        return self.signed_asset.mime_type if self.signed_asset else None

    @property
    def thumbnail(self) -> Artifact | None:
        """The large thumbnail, when the listing has one."""
        return Artifact.from_dict(_dict(self.related_assets.get("thumbnails")).get("large"))


@dataclass
class AssetListMeta:
    """Pagination of GET /assets."""

    total_items: int | None = None
    item_count: int | None = None
    items_per_page: int | None = None
    total_pages: int | None = None
    current_page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> AssetListMeta | None:
        if not isinstance(data, dict):
            return None
        return cls(
            total_items=_int(data.get("totalItems")),
            item_count=_int(data.get("itemCount")),
            items_per_page=_int(data.get("itemsPerPage")),
            total_pages=_int(data.get("totalPages")),
            current_page=_int(data.get("currentPage")),
            extra=_extra(data, {"totalItems", "itemCount", "itemsPerPage", "totalPages", "currentPage"}),
        )


@dataclass
class AssetList:
    """A page of GET /assets."""

    items: list[AssetItem] = field(default_factory=list)
    meta: AssetListMeta | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    @classmethod
    def from_dict(cls, data: Any) -> AssetList:
        d = _dict(data)
        items = d.get("items")
        return cls(
            items=[AssetItem.from_dict(i) for i in items] if isinstance(items, list) else [],
            meta=AssetListMeta.from_dict(d.get("meta")),
            extra=_extra(d, {"items", "meta"}),
            raw=data,
        )

    def __iter__(self) -> Iterator[AssetItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class RunningJob:
    """A job the scheduler is tracking (GET /scheduler, `executing` of GET /scheduler/available)."""

    job_id: str | None = None
    email: str | None = None
    started: str | None = None
    elapsed: str | None = None
    reply_url: str | None = None
    reply_ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> RunningJob:
        d = _dict(data)
        return cls(
            job_id=_as(d.get("jobId"), str),
            email=_as(d.get("email"), str),
            started=_as(d.get("started"), str),
            elapsed=_as(d.get("elapsed"), str),
            reply_url=_as(d.get("replyUrl"), str),
            reply_ref=_as(d.get("replyRef"), str),
            extra=_extra(d, {"jobId", "email", "started", "elapsed", "replyUrl", "replyRef"}),
        )


@dataclass
class SchedulerCapacity:
    """Free job slots of one account."""

    email: str | None = None
    max_jobs: int | None = None
    executing: int | None = None
    available: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> SchedulerCapacity:
        d = _dict(data)
        return cls(
            email=_as(d.get("email"), str),
            max_jobs=_int(d.get("maxJobs")),
            executing=_int(d.get("executing")),
            available=_int(d.get("available")),
            extra=_extra(d, {"email", "maxJobs", "executing", "available"}),
        )


@dataclass
class SchedulerAvailable:
    """GET /scheduler/available: running jobs and free capacity per account."""

    executing: list[RunningJob] = field(default_factory=list)
    available: list[SchedulerCapacity] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    raw: Any = None

    @classmethod
    def from_dict(cls, data: Any) -> SchedulerAvailable:
        d = _dict(data)
        executing = d.get("executing")
        available = d.get("available")
        return cls(
            executing=[RunningJob.from_dict(j) for j in executing] if isinstance(executing, list) else [],
            available=[SchedulerCapacity.from_dict(a) for a in available]
            if isinstance(available, list) else [],
            extra=_extra(d, {"executing", "available"}),
            raw=data,
        )

    @property
    def total_available(self) -> int:
        """Free slots over all accounts."""
        return sum(a.available or 0 for a in self.available)
