"""Assets: uploads, generated artifacts, their listing and their signed URLs.

Every ``assetUrl`` points back at this simulator (``/storage/...``), carries an
expiry and a signature like a cloud-storage signed URL, and stops working after
``expirationDateString``. Each response signs afresh, as LTX Studio does.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote

from mock_server.errors import ApiError, bad_request
from mock_server.sim.context import Context
from mock_server.sim.records import ASSET, Asset, Job, Render, get_asset, get_assets, put_asset

__all__ = ["ASSET", "Assets", "asset_type", "category", "file_id", "listing_index"]
BUCKET = "lt-infinity-prd"
UPLOAD_BYTES = "upload-bytes"  # meta: bytes of all stored uploads (the --upload-budget count); a reset clears it
FILTERS = {"images": "image/", "videos": "video/", "audio": "audio/"}
# RFC 6838 restricted-name: what a registered (or x-/vnd./prs.) MIME type or subtype may be; no wildcards.
MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
MEDIA_TYPE = re.compile(rf"^{MIME_NAME}/{MIME_NAME}$")
FILE_ID = re.compile(rf"^asset:(?P<uuid>[0-9a-f-]{{36}})-type:(?P<mime>{MIME_NAME}/{MIME_NAME})$")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif", "video/mp4": "mp4",
              "video/quicktime": "mov", "video/webm": "webm", "audio/mpeg": "mp3", "audio/wav": "wav"}


def category(mime: str) -> str:
    for name, prefix in FILTERS.items():
        if mime.startswith(prefix):
            return name
    return "other"


def asset_type(kind: str, mime: str) -> str:
    """``asset.type``: an image upload keeps its upload ``type`` (image, reference-image), others their kind.

    The ``type`` query parameter only tells image uploads apart; a video, audio or other file
    is that kind whatever it said, like the GET assets/ filter it falls under.
    """
    if kind == "artifact" or mime.startswith("image/"):
        return kind
    found = category(mime)
    return {"videos": "video"}.get(found, found)


def listing_index(tenant: str, email: str, filter_: str | None = None) -> str:
    return f"assets:{tenant}:{email}" + (f":{filter_}" if filter_ else "")


def file_id(uuid: str, mime: str) -> str:
    return f"asset:{uuid}-type:{mime}"


class Assets:
    """Uploads and artifacts of every account."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- writing -----------------------------------------------------------
    def upload(self, tenant: str, email: str, data: bytes, mime: str, upload_type: str, now: int,
               base_url: str = "") -> dict[str, Any]:
        if not mime:
            raise bad_request("Content-Type header with the file's MIME type is required")
        if not MEDIA_TYPE.match(mime):
            raise bad_request(f"Content-Type {mime!r} is not a MIME type: send the file's own type/subtype, "
                              "e.g. image/png or application/pdf")
        if not data:
            raise bad_request("Request body is empty: send the file's bytes")
        if len(data) > self.ctx.config.max_upload_bytes:
            raise ApiError(413, f"File exceeds the {self.ctx.config.max_upload_bytes} byte upload limit")
        record = Asset.upload(self.ctx.uuid(), tenant, email, upload_type, mime, now, len(data))
        with self.ctx.store.atomic():
            self._spend(len(data))
            self.ctx.store.blob_put(record.uuid, data)
            self._add(record)
        return self.signed(record, now, base_url)

    def restore(self, record: Asset, data: bytes) -> None:
        """Put back an upload (scenarios, snapshots): its record as given, its bytes, its listings."""
        with self.ctx.store.atomic():
            self._spend(len(data))
            self.ctx.store.blob_put(record.uuid, data)
            self._add(record)

    def stored_bytes(self) -> int:
        """Bytes of every upload stored now (what ``--upload-budget`` bounds)."""
        return int(self.ctx.store.get_meta(UPLOAD_BYTES) or 0)

    def _spend(self, size: int) -> None:
        """(In the upload's block) count ``size`` bytes against the upload budget, or refuse: 507, nothing stored.

        Uploads are kept until a reset (the service lists them for as long as the account exists), in the
        store: memory by default, so the budget is what bounds the simulator's memory."""
        budget = self.ctx.config.upload_budget_bytes
        used = self.stored_bytes()
        if used + size > budget:
            raise ApiError(507, f"Upload budget spent: {used} bytes of uploads are stored, this upload of {size} "
                                f"bytes would pass the {budget}-byte budget (--upload-budget); POST /__admin/reset "
                                "frees it")
        self.ctx.store.put_meta(UPLOAD_BYTES, used + size)

    def uploads(self, tenant: str, email: str) -> list[Asset]:
        """An account's uploads (not artifacts), oldest first: what a snapshot writes out."""
        uuids = self.ctx.store.index_range(listing_index(tenant, email))
        return [r for r in get_assets(self.ctx.store, uuids) if not r.jobId]

    def get(self, uuid: str) -> Asset | None:
        """Any tenant's asset by uuid."""
        return get_asset(self.ctx.store, uuid)

    def blob(self, uuid: str) -> bytes | None:
        """An upload's stored bytes (snapshots)."""
        return self.ctx.store.blob_get(uuid)

    def upload_bytes(self, uuid: str) -> tuple[bytes, str] | None:
        """(bytes, MIME type) of an uploaded file; None for an artifact, an unknown uuid or lost bytes."""
        record = get_asset(self.ctx.store, uuid)
        if record is None or record.jobId is not None:
            return None
        data = self.ctx.store.blob_get(uuid)
        return None if data is None else (data, record.mimeType)

    def keep_render(self, job: Job) -> None:
        """The job record is going (retention): its artifact keeps its own copy of what draws it."""
        record = get_asset(self.ctx.store, job.artifact_uuid)
        if record is not None and record.jobId == job.jobId and record.render is None:
            record.render = Render.of(job)
            put_asset(self.ctx.store, record)

    def add_artifact(self, job: Job, now: int) -> Asset:
        """Record a finished job's artifact so that GET /assets/ lists it."""
        record = Asset.artifact(job, now)
        self._add(record)
        return record

    def _add(self, record: Asset) -> None:
        store = self.ctx.store
        put_asset(store, record)
        score = float(record.created_ms)  # one float object for both listings (the memory store keeps it)
        store.index_add(listing_index(record.tenant, record.email), record.uuid, score)
        store.index_add(listing_index(record.tenant, record.email, category(record.mimeType)), record.uuid, score)

    def remove(self, uuid: str) -> None:
        store = self.ctx.store
        record = get_asset(store, uuid)
        if record is None:
            return
        store.delete(ASSET, uuid)
        if not record.jobId:
            store.put_meta(UPLOAD_BYTES, max(0, int(store.get_meta(UPLOAD_BYTES) or 0) - (record.size or 0)))
        store.blob_delete(uuid)
        store.index_remove(listing_index(record.tenant, record.email), uuid)
        store.index_remove(listing_index(record.tenant, record.email, category(record.mimeType)), uuid)

    # -- reading -----------------------------------------------------------
    def find(self, tenant: str, fid: str) -> Asset | None:
        """The tenant's asset with this ``fileId`` (another tenant's is as good as missing)."""
        m = FILE_ID.match(fid or "")
        if not m:
            return None
        record = get_asset(self.ctx.store, m["uuid"])
        if record is None or record.tenant != tenant or record.mimeType != m["mime"]:
            return None
        return record

    def require_image(self, tenant: str, fid: str, field: str) -> Asset:
        record = self.find(tenant, fid)
        if record is None:
            raise bad_request(f"{field}: asset {fid} not found, upload it with POST /assets/ first")
        if not record.mimeType.startswith("image/"):
            raise bad_request(f"{field}: asset {fid} is {record.mimeType}, an image is required")
        return record

    def listing(self, tenant: str, email: str, page: int, limit: int, filter_: str | None, now: int,
                base_url: str) -> dict[str, Any]:
        """One page, newest first, with the documented ``meta``."""
        index = listing_index(tenant, email, filter_)
        total = self.ctx.store.index_count(index)
        uuids = self.ctx.store.index_range(index, (page - 1) * limit, limit, reverse=True)
        items = [self.item(r, now, base_url) for r in get_assets(self.ctx.store, uuids)]
        return {"items": items, "meta": {"totalItems": total, "itemCount": len(items), "itemsPerPage": limit,
                                         "totalPages": math.ceil(total / limit), "currentPage": page}}

    def item(self, record: Asset, now: int, base_url: str) -> dict[str, Any]:
        # A generated artifact's item id is its job's uuid, as in the docs' example; an upload's is its own.
        job_uuid = record.jobId.split("-job:", 1)[1][:36] if record.jobId else None
        out: dict[str, Any] = {"id": job_uuid or record.uuid, "signedAsset": self.signed(record, now, base_url)}
        if record.mimeType.startswith(("image/", "video/")):
            out["relatedAssets"] = {"thumbnails": {"large": self._thumbnail(record.uuid, now, base_url)}}
        else:
            out["relatedAssets"] = {}
        if record.jobId:
            out["jobId"] = record.jobId
        return out

    # -- signed URLs -------------------------------------------------------
    def url(self, path: str, now: int, base_url: str) -> tuple[str, str]:
        expires = now + self.ctx.config.asset_url_ttl_s * 1000
        sig = self.ctx.sign(f"{path}:{expires}")
        return f"{base_url}/storage/{BUCKET}/{quote(path)}?Expires={expires}&Signature={sig}", str(expires)

    def signed(self, record: Asset, now: int, base_url: str = "") -> dict[str, Any]:
        return self._signed(record.uuid, record.type, record.mimeType, record.subtype, record.folder, now, base_url)

    def signed_artifact(self, uuid: str, mime: str, subtype: str, now: int, base_url: str = "") -> dict[str, Any]:
        """A job's artifact as its status shows it (the same object GET assets/ lists, without reading it)."""
        return self._signed(uuid, "artifact", mime, subtype, f"artifacts/{subtype}", now, base_url)

    def _signed(self, uuid: str, kind: str, mime: str, subtype: str | None, folder: str, now: int,
                base_url: str) -> dict[str, Any]:
        ext = EXTENSIONS.get(mime, "bin")
        url, expires = self.url(f"{folder}/{uuid}.{ext}", now, base_url)
        asset = {"type": asset_type(kind, mime), "fileId": file_id(uuid, mime), "mimeType": mime}
        if subtype:
            asset["artifactSubtype"] = subtype
        return {"assetUrl": url, "expirationDateString": expires, "asset": asset}

    def _thumbnail(self, uuid: str, now: int, base_url: str) -> dict[str, Any]:
        url, expires = self.url(f"images/{uuid}-thumbnail-large.webp", now, base_url)
        return {"assetUrl": url, "expirationDateString": expires,
                "asset": {"type": "image", "fileId": f"{uuid}-thumbnail-large", "mimeType": "image/webp"}}

    def check_signature(self, path: str, expires: str, signature: str, now: int) -> None:
        """Raise unless ``path`` was signed by us and has not expired (400/403 like cloud storage)."""
        if not expires.isdigit() or self.ctx.sign(f"{path}:{expires}") != signature:
            raise ApiError(403, "Invalid signature for this URL")
        if int(expires) <= now:
            raise ApiError(400, f"Signed URL expired at {expires}")
