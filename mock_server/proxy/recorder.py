"""Recording: what the proxy saw, as a scenario file ``ltx-mock serve --scenario FILE`` loads.

Kept from the traffic: the accounts (emails and ``maxJobs`` as seen, credits and a dead session
when the answers showed them), uploaded assets (metadata; the bytes the caller uploaded, else
fetched from their ``assetUrl``, else generated of the right type), jobs (their request
parameters and the last state seen) and the run time of each job whose creation and end the
proxy saw (``timing``, per operation and model: the simulator then uses it instead of its own
typical time).

Never kept: a secret. Each upstream API token becomes one local token named in the file
(``recorded-token``, then ``recorded-token-2``...; tokens are told apart by a hash only), and
no cookie, ``lt_token`` or password is written: the simulator issues fresh fake sessions for
the recorded users.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import statistics
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import requests

from contracts import checks as semantic
from mock_server.masking import mask_text, mask_url, mask_value
from mock_server.proxy.forward import Exchange

LOCAL_TOKEN = "recorded-token"
OPERATIONS = {"createImage": "images/create", "editImage": "images/edit", "upscaleImage": "images/upscale",
              "createImageFlux": "images/create", "editImageFlux": "images/edit",
              "createLtxVideo": "videos/ltx-create", "createVeoVideo": "videos/veo-create"}
#: Left out of a recorded job's parameters: a webhook receiver of the caller's is not there offline, and a
#: wait is the request's, not the job's.
NOT_PARAMS = ("replyUrl", "replyRef", "pollForResult")
ASSET_FETCH_TIMEOUT_S = 10.0
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class _Job:
    tenant: str
    email: str
    uuid: str
    media: str
    operation: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "active"
    progress: int = 0
    message: str | None = None
    started: float | None = None  # clock() when its creation was answered
    ended: float | None = None  # clock() when first seen completed/failed
    cancelled: bool = False
    duration: int | None = None  # the requested video duration (its default when not given); None for images
    resolution: str | None = None  # the requested resolution, where the model has a choice

    @property
    def run_time(self) -> float | None:
        """Seconds from its request to the first answer showing it ended; None when not seen whole or cancelled."""
        if self.started is None or self.ended is None or self.cancelled or not self.operation:
            return None
        return max(self.ended - self.started, 0.001)


@dataclass
class _Asset:
    tenant: str
    uuid: str
    mime: str
    type: str = "image"
    email: str | None = None  # the upload's ?email=
    data: bytes | None = None
    url: str | None = None
    # Who owns it, from the upstream's answers (strongest first): the account of a job the upstream accepted
    # referencing it, the account whose listing (GET /assets/?email=) showed it, the upload's ?email=, the one
    # account the caller had when an upload without email was accepted (the API requires email with several).
    used_by: str | None = None
    listed_by: str | None = None
    only_account: str | None = None

    def owner(self) -> str | None:
        return self.used_by or self.listed_by or self.email or self.only_account


class Recorder:
    """Feed it every exchange (``observe``); ``scenario()`` is the document, ``write(path)`` the file."""

    def __init__(self, upstream: str, *, clock: Callable[[], float] = time.monotonic,
                 local_token: str = LOCAL_TOKEN, session: requests.Session | None = None) -> None:
        self.upstream = upstream
        self.clock = clock
        self.local_token = local_token
        self.session = session or requests.Session()
        self.tenants: dict[str, str] = {}  # sha256 of the upstream token -> local token
        self.accounts: dict[tuple[str, str], dict[str, Any]] = {}  # (tenant, email) -> {"maxJobs": n}
        self.users: dict[str, dict[str, Any]] = {}  # email -> {"credits": n, "tokenExpired": bool}
        self.assets: dict[str, _Asset] = {}
        self.jobs: dict[str, _Job] = {}
        self.exchanges = 0
        self.lock = threading.Lock()

    # -- observing ---------------------------------------------------------------------------
    def tenant(self, exchange: Exchange) -> str | None:
        scheme, _, token = exchange.request_headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        key = hashlib.sha256(token.strip().encode()).hexdigest()
        if key not in self.tenants:
            n = len(self.tenants) + 1
            self.tenants[key] = self.local_token if n == 1 else f"{self.local_token}-{n}"
        return self.tenants[key]

    def observe(self, exchange: Exchange) -> None:
        """Learn from one exchange of the API (answers the upstream refused teach nothing)."""
        op = semantic.operation_for(exchange.method, unquote(exchange.path))
        if op is None or exchange.status_code >= 300 or not exchange.complete:
            return
        with self.lock:
            tenant = self.tenant(exchange)
            if tenant is None:
                return
            self.exchanges += 1
            getattr(self, f"_on_{op.operation_id}", lambda *_: None)(tenant, exchange, exchange.json())

    def _account(self, tenant: str, email: Any, view: Any) -> None:
        if not isinstance(email, str) or "@" not in email:
            return
        entry = self.accounts.setdefault((tenant, email), {})
        user = self.users.setdefault(email, {})
        if isinstance(view, dict):
            if isinstance(view.get("maxJobs"), int):
                entry["maxJobs"] = view["maxJobs"]
            credits = (view.get("balance") or {}).get("LTXStudio_token") if isinstance(view.get("balance"),
                                                                                      dict) else None
            if isinstance(credits, (int, float)) and credits >= 0:
                user["credits"] = int(credits)
            user["tokenExpired"] = bool(view.get("error"))

    def _on_listAccounts(self, tenant: str, exchange: Exchange, body: Any) -> None:
        if isinstance(body, dict):
            for email, view in body.items():
                self._account(tenant, email, view)

    def _on_getAccount(self, tenant: str, exchange: Exchange, body: Any) -> None:
        if isinstance(body, dict):
            self._account(tenant, body.get("email"), body)

    _on_createAccount = _on_getAccount

    def _on_deleteAccount(self, tenant: str, exchange: Exchange, body: Any) -> None:
        email = unquote(exchange.path).rstrip("/").rsplit("/", 1)[-1]
        self.accounts.pop((tenant, email), None)

    def _on_getSchedulerAvailable(self, tenant: str, exchange: Exchange, body: Any) -> None:
        if isinstance(body, dict):
            for entry in body.get("available") or []:
                if isinstance(entry, dict):
                    self._account(tenant, entry.get("email"), {"maxJobs": entry.get("maxJobs")})
            for job in body.get("executing") or []:
                self._sighting(tenant, job, "active", None, None)

    def _on_listRunningJobs(self, tenant: str, exchange: Exchange, body: Any) -> None:
        for job in body if isinstance(body, list) else []:
            self._sighting(tenant, job, "active", None, None)

    def _only_account(self, tenant: str) -> str | None:
        """The tenant's one account, when the answers so far showed exactly one (an answer to a request without
        ``email`` came from it: the API requires ``email`` once there are several)."""
        emails = [email for t, email in self.accounts if t == tenant]
        return emails[0] if len(emails) == 1 else None

    def _on_uploadAsset(self, tenant: str, exchange: Exchange, body: Any) -> None:
        asset = body.get("asset") if isinstance(body, dict) else None
        m = semantic.FILE_ID.match(asset.get("fileId") or "") if isinstance(asset, dict) else None
        if m is None:
            return
        query = dict(parse_qsl(exchange.query))
        known = self.assets.get(m["uuid"])
        self.assets[m["uuid"]] = _Asset(tenant=tenant, uuid=m["uuid"], mime=m["mime"],
                                        type=query.get("type") or "image", email=query.get("email") or None,
                                        data=exchange.request_body or None, url=body.get("assetUrl"),
                                        used_by=known.used_by if known else None,
                                        listed_by=known.listed_by if known else None,
                                        only_account=None if query.get("email") else self._only_account(tenant))

    def _on_listAssets(self, tenant: str, exchange: Exchange, body: Any) -> None:
        email = dict(parse_qsl(exchange.query)).get("email") or self._only_account(tenant)
        if email:
            self._account(tenant, email, None)
        for item in (body.get("items") if isinstance(body, dict) else None) or []:
            signed = item.get("signedAsset") if isinstance(item, dict) else None
            if not isinstance(signed, dict):
                continue
            asset = signed.get("asset")
            if not isinstance(asset, dict) or asset.get("type") == "artifact":
                continue
            m = semantic.FILE_ID.match(asset.get("fileId") or "")
            if m is None:
                continue
            if m["uuid"] not in self.assets:
                self.assets[m["uuid"]] = _Asset(tenant=tenant, uuid=m["uuid"], mime=m["mime"],
                                                type=asset.get("type") or "image", url=signed.get("assetUrl"))
            if email:
                self.assets[m["uuid"]].listed_by = email  # the upstream listed it under this account

    def _generation(self, tenant: str, exchange: Exchange, body: Any) -> None:
        from mock_server.sim.catalog import model_of
        from mock_server.sim.jobs import ASSET_FIELDS

        op = semantic.operation_for(exchange.method, unquote(exchange.path))
        m = semantic.JOB_ID.match(body.get("jobId") or "") if isinstance(body, dict) else None
        if op is None or m is None:
            return
        operation = OPERATIONS[op.operation_id]
        params = {k: v for k, v in (_request_params(exchange) or {}).items() if k not in NOT_PARAMS}
        model = model_of(operation, params)
        started = exchange.sent_clock if exchange.sent_clock is not None else self.clock()
        duration, resolution = _timing_params(operation, str(model), params)
        self.jobs[body["jobId"]] = _Job(tenant=tenant, email=m["email"], uuid=m["uuid"], media=m["type"],
                                        operation=operation, model=str(model), params=params, started=started,
                                        duration=duration, resolution=resolution)
        for name in ASSET_FIELDS.get(operation, ()):
            # The upstream accepted the job with this asset on this account: the asset is the account's.
            ref = semantic.FILE_ID.match(str(params.get(name) or ""))
            if ref is not None:
                asset = self.assets.get(ref["uuid"])
                if asset is None:
                    asset = self.assets[ref["uuid"]] = _Asset(tenant=tenant, uuid=ref["uuid"], mime=ref["mime"])
                asset.used_by = m["email"]
        status = body.get("status")
        if isinstance(status, dict):  # pollForResult: the job itself, finished in the wait
            self._sighting(tenant, body, status.get("type"), status.get("progress"),
                           status.get("error") or status.get("message"))

    _on_createImage = _on_editImage = _on_upscaleImage = _on_createLtxVideo = _on_createVeoVideo = _generation
    _on_createImageFlux = _on_editImageFlux = _generation

    def _on_getJob(self, tenant: str, exchange: Exchange, body: Any) -> None:
        status = body.get("status") if isinstance(body, dict) else None
        if isinstance(status, dict):
            self._sighting(tenant, body, status.get("type"), status.get("progress"),
                           status.get("error") or status.get("message"))

    def _on_cancelJob(self, tenant: str, exchange: Exchange, body: Any) -> None:
        job = self.jobs.get(unquote(exchange.path).split("/scheduler/", 1)[-1])
        if job is not None:
            job.cancelled = True  # its run time is ours, not the service's

    def _sighting(self, tenant: str, view: Any, state: Any, progress: Any, message: Any) -> None:
        job_id = view.get("jobId") if isinstance(view, dict) else None
        if not isinstance(job_id, str):
            return
        m = semantic.JOB_ID.match(job_id)
        if m is None or state not in ("active", "completed", "failed"):
            return
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = _Job(tenant=tenant, email=m["email"], uuid=m["uuid"], media=m["type"])
        if job.state != "active" and state == "active":
            return  # a status never goes back (the proxy reports it as a violation); keep the end
        job.state = state
        if isinstance(progress, (int, float)):
            job.progress = int(progress)
        if isinstance(message, str):
            job.message = message
        if state != "active" and job.ended is None:
            job.ended = self.clock()

    # -- writing -----------------------------------------------------------------------------
    def timing(self) -> list[dict[str, Any]]:
        """Observed run times per (operation, model, requested duration, resolution), over jobs seen created and
        seen ending: the mean, the sample count and the spread (standard deviation)."""
        runs: dict[tuple[str, str, int, str], list[float]] = {}
        for job in self.jobs.values():
            if job.run_time is not None and job.operation:
                key = (job.operation, job.model or "", job.duration or 0, job.resolution or "")
                runs.setdefault(key, []).append(job.run_time)
        out = []
        for (op, model, duration, resolution), v in sorted(runs.items()):
            if not _known_model(model):
                continue
            entry: dict[str, Any] = {"operation": op, "model": model}
            if duration:
                entry["duration"] = duration
            if resolution:
                entry["resolution"] = resolution
            entry.update(seconds=round(statistics.fmean(v), 3), samples=len(v),
                         spread=round(statistics.pstdev(v), 3))
            out.append(entry)
        return out

    def scenario(self) -> dict[str, Any]:
        """The scenario document (asset bytes fetched or generated now)."""
        from mock_server.sim.catalog import CATALOG, DEFAULT_MODEL

        with self.lock:
            accounts = dict(self.accounts)
            users = {k: dict(v) for k, v in self.users.items()}
            assets = list(self.assets.values())
            jobs = dict(self.jobs)
            tokens = list(dict.fromkeys(self.tenants.values()))
            timing = self.timing()
        emails = {email for _, email in accounts}
        for job in jobs.values():  # a job's account exists, even if no answer listed it
            if (job.tenant, job.email) not in accounts:
                accounts[(job.tenant, job.email)] = {}
                emails.add(job.email)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc: dict[str, Any] = {
            "version": 1,
            "description": f"Recorded by ltx-mock proxy from {mask_url(self.upstream)} at {stamp}: {self.exchanges} "
                           f"exchanges. Upstream tokens replaced by {', '.join(tokens) or LOCAL_TOKEN}; no "
                           "upstream secret is kept.",
            "demo": False,
            "tokens": tokens,
            "ltx_users": [{"email": email, **{k: v for k, v in users.get(email, {}).items() if v or k == "credits"}}
                          for email in sorted(emails)],
            "accounts": [{"token": tenant, "email": email, **entry}
                         for (tenant, email), entry in sorted(accounts.items())],
            "assets": [],
            "timing": timing,
            "jobs": [],
        }
        by_tenant: dict[str, list[str]] = {}
        for tenant, email in accounts:  # in the order the answers showed them
            by_tenant.setdefault(tenant, []).append(email)
        for asset in assets:
            known = by_tenant.get(asset.tenant, [])
            email = asset.owner() or (known[0] if known else None)
            doc["assets"].append({"token": asset.tenant, **({"email": email} if email else {}), "uuid": asset.uuid,
                                  "mimeType": asset.mime, "type": asset.type,
                                  "base64": base64.b64encode(self._asset_bytes(asset)).decode()})
        runs = {(t["operation"], t["model"], t.get("duration") or 0, t.get("resolution") or ""): t["seconds"]
                for t in timing}
        for job_id, job in jobs.items():
            operation = job.operation or ("videos/ltx-create" if job.media == "video" else "images/create")
            model = job.model or DEFAULT_MODEL[operation]
            if not _known_model(model) or CATALOG[model].media != job.media or not UUID.match(job.uuid):
                continue  # a model the simulator does not know: nothing to replay it with
            entry: dict[str, Any] = {"token": job.tenant, "email": job.email, "id": job.uuid, "operation": operation,
                                     "model": model,
                                     "params": mask_value(job.params) or {"prompt": f"(recorded job {job_id})"},
                                     "state": job.state}
            if job.state in ("active", "failed"):
                entry["progress"] = max(0, min(99, job.progress))
            if job.state == "failed" and job.message:
                entry["message"] = mask_text(job.message)
            key = (operation, model, job.duration or 0, job.resolution or "")
            if job.run_time is not None and job.state != "active":
                entry["runTime"] = round(job.run_time, 3)  # its own, as seen
            elif key in runs:
                entry["runTime"] = runs[key]
            doc["jobs"].append(entry)
        return doc

    def _asset_bytes(self, asset: _Asset) -> bytes:
        if asset.data:
            return asset.data
        if asset.url:
            try:
                resp = self.session.get(asset.url, timeout=ASSET_FETCH_TIMEOUT_S)
                if resp.status_code == 200 and resp.content:
                    return resp.content
            except requests.RequestException:
                pass
        return generated_bytes(asset.mime, asset.uuid)

    def write(self, path: str) -> None:
        """Write the scenario file (checked against the scenario schema first: a file that would not load is a bug)."""
        from mock_server.scenario import check, dump_yaml

        doc = self.scenario()
        check(doc, path)
        token = doc["tokens"][0] if doc["tokens"] else self.local_token
        header = ("# A scenario recorded by `ltx-mock proxy --record`. Serve it offline with:\n"
                  f"#   ltx-mock serve --scenario {path}\n"
                  f"# and call it with the local token: Authorization: Bearer {token}\n")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(header + dump_yaml(doc))


def _known_model(model: str) -> bool:
    from mock_server.sim.catalog import CATALOG

    return model in CATALOG


def _timing_params(operation: str, model: str, params: dict[str, Any]) -> tuple[int | None, str | None]:
    """A generation's requested video duration and resolution, as the simulator keys run times by them."""
    from mock_server.sim.catalog import video_resolution, video_seconds

    try:
        duration = video_seconds(operation, model, params) or None
    except (TypeError, ValueError):  # a duration the upstream took but the simulator cannot read
        duration = None
    return duration, video_resolution(operation, model, params)


def _request_params(exchange: Exchange) -> dict[str, Any] | None:
    """The generation request's fields: its JSON body, else its form fields (files left out)."""
    body = semantic.ResponseView(exchange).request_json
    return body if isinstance(body, dict) else exchange.form()


def generated_bytes(mime: str, seed: str) -> bytes:
    """Stand-in bytes of the given MIME type, for an asset whose bytes could not be fetched."""
    from mock_server.artifacts import render_image, video_bytes

    formats = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
    if mime in formats:
        return render_image(seed, "1:1", 1, formats[mime])
    if mime.startswith("video/"):
        return video_bytes()
    if mime.startswith("audio/"):
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 8000)
        return buf.getvalue()
    return hashlib.sha256(seed.encode()).digest()
