"""Generation jobs: admission, derived status, completion, expiry.

A job stores when it started, how long it runs, how it will end (``completed``
or ``failed`` at some progress) and whether it is stalled. Its status and
progress are computed from those and the clock on every read, so pausing or
advancing the clock needs no bookkeeping. The once-only side effects of a job
ending (refund, artifact listing, webhook) go through ``Timeline``.
"""

from __future__ import annotations

from typing import Any

from ltxstudio_mock.mock_server.errors import bad_request, not_found
from ltxstudio_mock.mock_server.sim.accounts import Accounts
from ltxstudio_mock.mock_server.sim.assets import ASSET, Assets
from ltxstudio_mock.mock_server.sim.catalog import CATALOG, TIMING_META, Generation, run_seconds
from ltxstudio_mock.mock_server.sim.context import Context
from ltxstudio_mock.mock_server.sim.deliveries import Deliveries
from ltxstudio_mock.mock_server.sim.ids import require_job_id
from ltxstudio_mock.mock_server.sim.ltx import LtxStudio
from ltxstudio_mock.mock_server.sim.scheduler import JOB, Scheduler
from ltxstudio_mock.mock_server.sim.timeline import Timeline

OUTCOMES = "outcomes"  # meta: queued outcomes for the next jobs (POST /__admin/next-outcome)
DEFAULT_FAILURE = "Generation failed at LTX Studio"

# The request fields that name assets, per operation.
ASSET_FIELDS = {
    "images/create": ("referenceAssetId",),
    "images/edit": ("referenceAssetId", "referenceAssetId2", "referenceAssetId3"),
    "videos/ltx-create": ("startAssetId", "endAssetId"),
    "videos/veo-create": ("startAssetId",),
    "images/upscale": (),
}
DEFAULT_MODEL = {"images/create": "flux", "images/edit": "flux", "images/upscale": "upscale",
                 "videos/ltx-create": "ltxv-turbo", "videos/veo-create": "veo2"}


def video_seconds(operation: str, model: str, body: dict[str, Any]) -> int:
    if operation == "videos/ltx-create":
        return int(body.get("duration") or 3)
    if operation == "videos/veo-create":
        return int(body.get("duration") or (5 if model == "veo2" else 8))
    return 0


class Jobs:
    """Every tenant's jobs."""

    def __init__(self, ctx: Context, ltx: LtxStudio, accounts: Accounts, assets: Assets, scheduler: Scheduler,
                 timeline: Timeline, deliveries: Deliveries) -> None:
        self.ctx = ctx
        self.ltx = ltx
        self.accounts = accounts
        self.assets = assets
        self.scheduler = scheduler
        self.timeline = timeline
        self.deliveries = deliveries

    # -- queued outcomes (test control) ------------------------------------
    def queue_outcome(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        with self.ctx.store.atomic():
            queue = self.ctx.store.get_meta(OUTCOMES) or []
            queue.append(spec)
            self.ctx.store.put_meta(OUTCOMES, queue)
            return queue

    def queued_outcomes(self) -> list[dict[str, Any]]:
        """The outcomes still waiting for a job (GET /__admin/next-outcome)."""
        queued: list[dict[str, Any]] = self.ctx.store.get_meta(OUTCOMES) or []
        return queued

    def clear_outcomes(self) -> None:
        self.ctx.store.put_meta(OUTCOMES, [])

    def _next_outcome(self, operation: str, model: str) -> dict[str, Any]:
        queue = self.ctx.store.get_meta(OUTCOMES) or []
        for i, spec in enumerate(queue):
            if spec.get("operation") not in (None, operation) or spec.get("model") not in (None, model):
                continue
            spec = dict(spec)
            if spec.get("count", 1) <= 1:
                queue.pop(i)
            else:
                queue[i] = {**spec, "count": spec["count"] - 1}
            self.ctx.store.put_meta(OUTCOMES, queue)
            return spec
        return {"outcome": "completed"}

    # -- admission ---------------------------------------------------------
    def create(self, tenant: str, operation: str, body: dict[str, Any], now: int) -> dict[str, Any]:
        """Admit a generation request: pick the account, charge credits, start the job."""
        model = "upscale" if operation == "images/upscale" else body.get("model") or DEFAULT_MODEL[operation]
        gen: Generation = CATALOG[model]
        store = self.ctx.store
        with store.atomic():
            # Admit at the instant the lock is held, not when the request arrived: a request that
            # waited here while other processes admitted, cancelled or finished jobs must not be
            # dated before them (it could overlap a job that ended "before" it: maxJobs + 1).
            now = max(now, self.ctx.clock.now_ms())
            email, source = self._bound_email(tenant, operation, body, now)
            account = self.scheduler.choose(tenant, email, body.get("maxJobs"), now)
            self.ltx.charge(account["email"], gen.credits, now)
            outcome = self._next_outcome(operation, model)
            uuid = self.ctx.uuid()
            seconds = run_seconds(gen, operation, video_seconds(operation, model, body), self.ctx.random() * 2 - 1,
                                  store.get_meta(TIMING_META))
            total_ms = int(seconds * 1000)
            job: dict[str, Any] = {
                "jobId": f"email:{account['email']}-job:{uuid}-type:{gen.media}",
                "generationId": f"gen_{self.ctx.token_hex(12)}",
                "tenant": tenant, "email": account["email"], "operation": operation, "model": model,
                "media": gen.media, "mime": gen.mime, "subtype": gen.subtype, "credits": gen.credits,
                "params": {k: v for k, v in body.items() if k not in ("replyUrl", "replyRef")},
                "source": source, "created_ms": now, "start_ms": now, "total_ms": total_ms,
                "artifact_uuid": self.ctx.uuid(), "maxJobs": body.get("maxJobs"),
                "replyUrl": body.get("replyUrl"), "replyRef": body.get("replyRef"),
            }
            self._plan_end(job, outcome, now)
            store.put(JOB, job["jobId"], job)
            store.index_add("jobs", job["jobId"], now)
            self.scheduler.track(job)
            if job["end_ms"] is not None:
                self._schedule_finish(job)
            return job

    def _bound_email(self, tenant: str, operation: str, body: dict[str, Any],
                     now: int) -> tuple[str | None, str | None]:
        """The account the request must run on: ``email``, or the owner of its assets / source job."""
        email = body.get("email") or None
        source = None
        owners: set[str] = set()
        for field in ASSET_FIELDS[operation]:
            if body.get(field):
                owners.add(self.assets.require_image(tenant, body[field], field)["email"])
        if operation == "images/upscale":
            src = self.get(tenant, body.get("jobId", ""), now, raise_missing=True)
            assert src is not None
            status = self.status(src, now)
            if src["media"] != "image" or status["type"] != "completed" or "artifact" not in status:
                raise bad_request(f"jobId {src['jobId']} is not a completed image generation")
            owners.add(src["email"])
            source = src["jobId"]
        if len(owners) > 1:
            raise bad_request("All referenced assets must belong to the same LTX Studio account")
        if owners:
            owner = owners.pop()
            if email and email != owner:
                raise bad_request(f"Referenced assets belong to account {owner}, not {email}")
            email = owner
        return email, source

    def _plan_end(self, job: dict[str, Any], outcome: dict[str, Any], now: int) -> None:
        job["outcome"] = outcome.get("outcome", "completed")
        job["artifact_delay_ms"] = int(float(outcome.get("artifact_delay_s") or 0) * 1000)
        job["stall_progress"] = outcome.get("stall_progress") if outcome.get("outcome") == "stalled" else None
        if job["outcome"] == "failed":
            p = int(outcome.get("progress", 0) or 0)
            job["fail_progress"] = p
            job["message"] = outcome.get("message") or DEFAULT_FAILURE
            job["end_ms"] = now + job["total_ms"] * p // 100
        elif job["outcome"] == "stalled":
            job["outcome"] = "completed"
            job["stall_progress"] = int(outcome.get("progress", 50) or 0)
            job["end_ms"] = None
        else:
            job["end_ms"] = now + job["total_ms"]
        job["webhook"] = {k: outcome[k] for k in ("copies", "delay_s", "fail_first") if outcome.get(k)}

    def _schedule_finish(self, job: dict[str, Any]) -> None:
        due = job["end_ms"] + (job["artifact_delay_ms"] if job["outcome"] == "completed" else 0)
        self.timeline.schedule(f"finish:{job['jobId']}", due, {"type": "finish", "jobId": job["jobId"]})

    # -- test control on live jobs -----------------------------------------
    def release(self, job_id: str, now: int) -> dict[str, Any]:
        """Un-stall a job: it resumes from its current progress."""
        with self.ctx.store.atomic():
            job = self.ctx.store.get(JOB, job_id)
            if job is None:
                raise not_found(f"Job {job_id} not found")
            if job["end_ms"] is None:
                # where it stands: the stall point, or short of it if released early (never past it)
                done = max(0, min(job["stall_progress"], self._progress(job, now)))
                job["stall_progress"] = done  # the resumed progress climbs from here
                job["end_ms"] = now + job["total_ms"] * (100 - done) // 100
                job["start_ms_resume"] = now
                self.ctx.store.put(JOB, job_id, job)
                if self.ctx.store.index_score(f"running:{job['tenant']}:{job['email']}", job_id) is not None:
                    self.scheduler.track(job)
                self._schedule_finish(job)
            return job

    def restore(self, job: dict[str, Any], now: int) -> bool:
        """Put back a job record (scenarios, snapshots) with its listing, running slot and due work.

        A job past retention is skipped (False). One already done gets its artifact listed, as the
        finish task would have done; no webhook is sent for it.
        """
        store = self.ctx.store
        expires = job["created_ms"] + self.ctx.config.job_retention_s * 1000
        if expires <= now:
            return False
        with store.atomic():
            store.put(JOB, job["jobId"], job)
            store.index_add("jobs", job["jobId"], job["created_ms"])
            self.timeline.schedule(f"expire:{job['jobId']}", expires, {"type": "expire", "jobId": job["jobId"]})
            done = self.done_by(job)
            if done is None or done > now:
                if not job.get("cancelled_ms"):
                    self.scheduler.track(job)
                if job["end_ms"] is not None:
                    self._schedule_finish(job)
            elif job["outcome"] == "completed":
                self.assets.add_artifact(job, done)
        return True

    def all(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every stored job (of one tenant), oldest first: what a snapshot writes out."""
        jobs = self.ctx.store.get_many(JOB, self.ctx.store.index_range("jobs"))
        return [j for j in jobs if j and (tenant is None or j["tenant"] == tenant)]

    def page(self, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(how many jobs are stored, one page of them, newest first): the admin API's job list."""
        store = self.ctx.store
        ids = store.index_range("jobs", offset, limit, reverse=True)
        return store.index_count("jobs"), [j for j in store.get_many(JOB, ids) if j]

    def of_artifact(self, uuid: str) -> dict[str, Any] | None:
        """What renders the artifact stored under ``uuid``: the artifact record's own copy of the job (kept past
        the job record's retention), else the job; None for an upload or an unknown uuid."""
        record = self.ctx.store.get(ASSET, uuid)
        if record is None or record.get("jobId") is None:
            return None
        job: dict[str, Any] | None = record.get("render") or self.ctx.store.get(JOB, record["jobId"])
        return job

    def fail_running(self, tenant: str | None, email: str, message: str, now: int) -> int:
        """End every running job of an account now as failed (its LTX session died)."""
        tenants = [tenant] if tenant else self.accounts.tenants_of(email)
        n = 0
        with self.ctx.store.atomic():
            for t in tenants:
                for job_id in self.scheduler.running_ids(t, email, now):
                    job = self.ctx.store.get(JOB, job_id)
                    if job is None:
                        continue
                    job.update(outcome="failed", fail_progress=self._progress(job, now), message=message,
                               end_ms=now)
                    self.ctx.store.put(JOB, job_id, job)
                    self.scheduler.track(job)
                    self.timeline.cancel(f"finish:{job_id}")
                    self._schedule_finish(job)
                    n += 1
        return n

    # -- reading -----------------------------------------------------------
    def get(self, tenant: str, job_id: str, now: int, *, raise_missing: bool = False) -> dict[str, Any] | None:
        """The tenant's job, unless unknown, another tenant's, or past retention."""
        job = self.ctx.store.get(JOB, job_id)
        if job is None or job["tenant"] != tenant or now >= job["created_ms"] + self.ctx.config.job_retention_s * 1000:
            if raise_missing:
                raise not_found(f"Job {job_id} not found or has expired")
            return None
        return job

    def _progress(self, job: dict[str, Any], now: int) -> int:
        if job.get("start_ms_resume") and job["end_ms"]:
            # resumed after a stall: progress climbs from the stall point to 100 by end_ms
            base = job["stall_progress"]
            span = max(1, job["end_ms"] - job["start_ms_resume"])
            return int(base + (100 - base) * (now - job["start_ms_resume"]) / span)
        return int(100 * (now - job["start_ms"]) / max(1, job["total_ms"]))

    def status(self, job: dict[str, Any], now: int, base_url: str = "") -> dict[str, Any]:
        """``{type, progress, message?, artifact?}`` at simulated instant ``now``."""
        end = job["end_ms"]
        if end is None:
            return {"type": "active", "progress": max(0, min(job["stall_progress"], self._progress(job, now)))}
        if now < end:
            return {"type": "active", "progress": max(0, min(99, self._progress(job, now)))}
        if job["outcome"] == "failed":
            return {"type": "failed", "progress": job["fail_progress"], "message": job["message"]}
        status: dict[str, Any] = {"type": "completed", "progress": 100}
        if now >= end + job["artifact_delay_ms"]:
            record = {"uuid": job["artifact_uuid"], "type": "artifact", "mimeType": job["mime"],
                      "subtype": job["subtype"], "folder": f"artifacts/{job['subtype']}"}
            status["artifact"] = self.assets.signed(record, now, base_url)
        return status

    def view(self, job: dict[str, Any], now: int, base_url: str = "") -> dict[str, Any]:
        """The documented job model."""
        out: dict[str, Any] = {"status": self.status(job, now, base_url), "jobId": job["jobId"],
                               "generationId": job["generationId"]}
        for key in ("replyRef", "replyUrl"):
            if job.get(key):
                out[key] = job[key]
        return out

    def done_by(self, job: dict[str, Any]) -> int | None:
        """When the job is fully done (artifact included), or None while stalled."""
        if job["end_ms"] is None:
            return None
        done: int = job["end_ms"] + (job["artifact_delay_ms"] if job["outcome"] == "completed" else 0)
        return done

    # -- due work ----------------------------------------------------------
    def apply(self, task: dict[str, Any], due: int, base_url: str) -> None:
        """Apply one claimed timeline task (inside the caller's atomic block)."""
        job = self.ctx.store.get(JOB, task["jobId"])
        if job is None:
            return
        if task["type"] == "finish":
            self.scheduler.untrack(job)
            if job["outcome"] == "failed":
                self.ltx.refund(job["email"], job["credits"])
            else:
                self.assets.add_artifact(job, due)
            if job.get("replyUrl") and not job.get("cancelled_ms"):
                body = self.view(job, due, base_url)
                hook = job.get("webhook") or {}
                self.deliveries.enqueue(job["jobId"], job["replyUrl"], body, copies=int(hook.get("copies", 1)),
                                        delay_ms=int(float(hook.get("delay_s", 0)) * 1000),
                                        fail_first=int(hook.get("fail_first", 0)))
        elif task["type"] == "expire":  # queued by Simulator.settle from the "jobs" index
            # useapi.net forgets its job record; the artifact stays in the LTX Studio library (GET assets/).
            # A job that ended before it expired but whose end was not applied yet (the clock jumped past
            # both at once) ends first, so its artifact is listed and its refund made.
            done = self.done_by(job)
            expired = job["created_ms"] + self.ctx.config.job_retention_s * 1000
            if self.timeline.pop(f"finish:{job['jobId']}") is not None and done is not None and done <= expired:
                self.apply({"type": "finish", "jobId": job["jobId"]}, done, base_url)
            self.scheduler.untrack(job)
            self.ctx.store.delete(JOB, job["jobId"])
            self.ctx.store.index_remove("jobs", job["jobId"])

    def require_visible(self, tenant: str, job_id: str, now: int) -> dict[str, Any]:
        require_job_id(job_id)
        job = self.get(tenant, job_id, now, raise_missing=True)
        assert job is not None
        return job
