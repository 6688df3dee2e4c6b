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

from ltxstudio_mock.mock_server.errors import ApiError, bad_request
from ltxstudio_mock.mock_server.sim.context import Context

ASSET = "asset"
BUCKET = "lt-infinity-prd"
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


def asset_type(record: dict[str, Any]) -> str:
    """``asset.type``: an image upload keeps its upload ``type`` (image, reference-image), others their kind.

    The ``type`` query parameter only tells image uploads apart; a video, audio or other file
    is that kind whatever it said, like the GET assets/ filter it falls under.
    """
    if record["type"] == "artifact" or record["mimeType"].startswith("image/"):
        return str(record["type"])
    kind = category(record["mimeType"])
    return {"videos": "video"}.get(kind, kind)


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
        uuid = self.ctx.uuid()
        record = {"uuid": uuid, "tenant": tenant, "email": email, "type": upload_type, "mimeType": mime,
                  "created_ms": now, "size": len(data), "folder": "artifacts/user-uploads"}
        with self.ctx.store.atomic():
            self.ctx.store.blob_put(uuid, data)
            self._add(record)
        return self.signed(record, now, base_url)

    def restore(self, record: dict[str, Any], data: bytes) -> None:
        """Put back an upload (scenarios, snapshots): its record as given, its bytes, its listings."""
        with self.ctx.store.atomic():
            self.ctx.store.blob_put(record["uuid"], data)
            self._add(record)

    def uploads(self, tenant: str, email: str) -> list[dict[str, Any]]:
        """An account's uploads (not artifacts), oldest first: what a snapshot writes out."""
        uuids = self.ctx.store.index_range(listing_index(tenant, email))
        return [r for r in self.ctx.store.get_many(ASSET, uuids) if r and not r.get("jobId")]

    def upload_bytes(self, uuid: str) -> tuple[bytes, str] | None:
        """(bytes, MIME type) of an uploaded file; None for an artifact, an unknown uuid or lost bytes."""
        record = self.ctx.store.get(ASSET, uuid)
        if record is None or record.get("jobId") is not None:
            return None
        data = self.ctx.store.blob_get(uuid)
        return None if data is None else (data, record["mimeType"])

    def add_artifact(self, job: dict[str, Any], now: int) -> dict[str, Any]:
        """Record a finished job's artifact so that GET /assets/ lists it."""
        # "render": what artifacts.artifact_bytes needs, so the file outlives the job record's retention
        record = {"uuid": job["artifact_uuid"], "tenant": job["tenant"], "email": job["email"], "type": "artifact",
                  "mimeType": job["mime"], "created_ms": now, "jobId": job["jobId"], "subtype": job["subtype"],
                  "folder": f"artifacts/{job['subtype']}",
                  "render": {k: job.get(k) for k in ("jobId", "media", "operation", "source", "params")}}
        self._add(record)
        return record

    def _add(self, record: dict[str, Any]) -> None:
        store = self.ctx.store
        store.put(ASSET, record["uuid"], record)
        store.index_add(listing_index(record["tenant"], record["email"]), record["uuid"], record["created_ms"])
        store.index_add(listing_index(record["tenant"], record["email"], category(record["mimeType"])),
                        record["uuid"], record["created_ms"])

    def remove(self, uuid: str) -> None:
        store = self.ctx.store
        record = store.get(ASSET, uuid)
        if record is None:
            return
        store.delete(ASSET, uuid)
        store.blob_delete(uuid)
        store.index_remove(listing_index(record["tenant"], record["email"]), uuid)
        store.index_remove(listing_index(record["tenant"], record["email"], category(record["mimeType"])), uuid)

    # -- reading -----------------------------------------------------------
    def find(self, tenant: str, fid: str) -> dict[str, Any] | None:
        """The tenant's asset with this ``fileId`` (another tenant's is as good as missing)."""
        m = FILE_ID.match(fid or "")
        if not m:
            return None
        record = self.ctx.store.get(ASSET, m["uuid"])
        if record is None or record["tenant"] != tenant or record["mimeType"] != m["mime"]:
            return None
        return record

    def require_image(self, tenant: str, fid: str, field: str) -> dict[str, Any]:
        record = self.find(tenant, fid)
        if record is None:
            raise bad_request(f"{field}: asset {fid} not found, upload it with POST /assets/ first")
        if not record["mimeType"].startswith("image/"):
            raise bad_request(f"{field}: asset {fid} is {record['mimeType']}, an image is required")
        return record

    def listing(self, tenant: str, email: str, page: int, limit: int, filter_: str | None, now: int,
                base_url: str) -> dict[str, Any]:
        """One page, newest first, with the documented ``meta``."""
        index = listing_index(tenant, email, filter_)
        total = self.ctx.store.index_count(index)
        uuids = self.ctx.store.index_range(index, (page - 1) * limit, limit, reverse=True)
        records = [r for r in self.ctx.store.get_many(ASSET, uuids) if r]
        items = [self.item(r, now, base_url) for r in records]
        return {"items": items, "meta": {"totalItems": total, "itemCount": len(items), "itemsPerPage": limit,
                                         "totalPages": math.ceil(total / limit), "currentPage": page}}

    def item(self, record: dict[str, Any], now: int, base_url: str) -> dict[str, Any]:
        # A generated artifact's item id is its job's uuid, as in the docs' example; an upload's is its own.
        job_uuid = record["jobId"].split("-job:", 1)[1][:36] if record.get("jobId") else None
        out: dict[str, Any] = {"id": job_uuid or record["uuid"], "signedAsset": self.signed(record, now, base_url)}
        if record["mimeType"].startswith(("image/", "video/")):
            out["relatedAssets"] = {"thumbnails": {"large": self._thumbnail(record, now, base_url)}}
        else:
            out["relatedAssets"] = {}
        if record.get("jobId"):
            out["jobId"] = record["jobId"]
        return out

    # -- signed URLs -------------------------------------------------------
    def url(self, path: str, now: int, base_url: str) -> tuple[str, str]:
        expires = now + self.ctx.config.asset_url_ttl_s * 1000
        sig = self.ctx.sign(f"{path}:{expires}")
        return f"{base_url}/storage/{BUCKET}/{quote(path)}?Expires={expires}&Signature={sig}", str(expires)

    def signed(self, record: dict[str, Any], now: int, base_url: str = "") -> dict[str, Any]:
        ext = EXTENSIONS.get(record["mimeType"], "bin")
        url, expires = self.url(f"{record['folder']}/{record['uuid']}.{ext}", now, base_url)
        asset = {"type": asset_type(record), "fileId": file_id(record["uuid"], record["mimeType"]),
                 "mimeType": record["mimeType"]}
        if record.get("subtype"):
            asset["artifactSubtype"] = record["subtype"]
        return {"assetUrl": url, "expirationDateString": expires, "asset": asset}

    def _thumbnail(self, record: dict[str, Any], now: int, base_url: str) -> dict[str, Any]:
        url, expires = self.url(f"images/{record['uuid']}-thumbnail-large.webp", now, base_url)
        return {"assetUrl": url, "expirationDateString": expires,
                "asset": {"type": "image", "fileId": f"{record['uuid']}-thumbnail-large", "mimeType": "image/webp"}}

    def check_signature(self, path: str, expires: str, signature: str, now: int) -> None:
        """Raise unless ``path`` was signed by us and has not expired (400/403 like cloud storage)."""
        if not expires.isdigit() or self.ctx.sign(f"{path}:{expires}") != signature:
            raise ApiError(403, "Invalid signature for this URL")
        if int(expires) <= now:
            raise ApiError(400, f"Signed URL expired at {expires}")
