"""Generation jobs: admission, derived status, completion, expiry.

A job stores when it started, how long it runs, how it will end (``completed``
or ``failed`` at some progress) and whether it is stalled. Its status and
progress are computed from those and the clock on every read, so pausing or
advancing the clock needs no bookkeeping. The once-only side effects of a job
ending (refund, artifact listing, webhook) go through ``Timeline``.
"""

from __future__ import annotations

from typing import Any

from mock_server.errors import bad_request, not_found
from mock_server.sim.accounts import Accounts
from mock_server.sim.assets import Assets
from mock_server.sim.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    TIMING_APPLIED_META,
    TIMING_META,
    Generation,
    closest_timing,
    model_of,
    run_seconds,
    timing_entries,
    timing_key,
    video_resolution,
    video_seconds,
)
from mock_server.sim.context import Context
from mock_server.sim.deliveries import Deliveries
from mock_server.sim.ids import require_job_id
from mock_server.sim.ltx import LtxStudio
from mock_server.sim.records import (
    ASSET,
    DEFAULT_FAILURE,
    JOB,
    Job,
    Render,
    get_asset,
    get_job,
    get_jobs,
    load_record,
    phase,
    progress,
    put_job,
)
from mock_server.sim.scheduler import Scheduler, running_index
from mock_server.sim.timeline import Timeline

JOBS = "jobs"  # index: every stored job by creation (retention expires its head: Simulator.settle)
OUTCOMES = "outcomes"  # meta: queued outcomes for the next jobs (POST /__admin/next-outcome)
COMPLETED: dict[str, Any] = {"outcome": "completed"}
__all__ = ["DEFAULT_FAILURE", "DEFAULT_MODEL", "JOB", "Jobs", "video_seconds"]

# The request fields that name assets, per operation.
ASSET_FIELDS = {
    "images/create": ("referenceAssetId",),
    "images/edit": ("referenceAssetId", "referenceAssetId2", "referenceAssetId3"),
    "videos/ltx-create": ("startAssetId", "endAssetId"),
    "videos/veo-create": ("startAssetId",),
    "images/upscale": (),
}


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

    def timing(self) -> list[dict[str, Any]]:
        """Recorded run times: a scenario's ``timing`` entries (operation, model, duration, resolution, seconds)."""
        return timing_entries(self.ctx.store.get_meta(TIMING_META))

    def set_timing(self, timing: list[dict[str, Any]]) -> None:
        self.ctx.store.put_meta(TIMING_META, timing)
        self.ctx.store.put_meta(TIMING_APPLIED_META, {})

    def timing_applied(self) -> list[dict[str, Any]]:
        """For each key jobs were created with since the timing was set: the recorded entry it used and how many
        jobs (``GET /__admin/state``'s ``timing.applied``), oldest first."""
        applied: dict[str, dict[str, Any]] = self.ctx.store.get_meta(TIMING_APPLIED_META) or {}
        return list(applied.values())

    def _note_timing(self, operation: str, model: str, duration: int | None, resolution: str | None,
                     timing: Any, seconds: float) -> None:
        """Remember which recorded entry a job of this key used (only when a scenario recorded run times)."""
        entry = closest_timing(timing, operation, model, duration, resolution)
        if entry is None:
            return
        requested = {"operation": operation, "model": model, "duration": duration, "resolution": resolution}
        key = timing_key(requested)
        store = self.ctx.store
        applied: dict[str, dict[str, Any]] = store.get_meta(TIMING_APPLIED_META) or {}
        seen = applied.get(key) or {"requested": key, "used": timing_key(entry), "jobs": 0}
        applied[key] = {**seen, "seconds": round(seconds, 3), "jobs": seen["jobs"] + 1}
        store.put_meta(TIMING_APPLIED_META, applied)

    def clear_outcomes(self) -> None:
        self.ctx.store.put_meta(OUTCOMES, [])

    def _next_outcome(self, operation: str, model: str) -> dict[str, Any]:
        queue = self.ctx.store.get_meta(OUTCOMES)
        if not queue:
            return COMPLETED
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
        return COMPLETED

    # -- admission ---------------------------------------------------------
    def create(self, tenant: str, operation: str, body: dict[str, Any], now: int) -> Job:
        """Admit a generation request: pick the account, charge credits, start the job."""
        model = model_of(operation, body)
        gen: Generation = CATALOG[model]
        ctx = self.ctx
        store = ctx.store
        with store.atomic():
            # Admit at the instant the lock is held, not when the request arrived: a request that
            # waited here while other processes admitted, cancelled or finished jobs must not be
            # dated before them (it could overlap a job that ended "before" it: maxJobs + 1).
            clock = ctx.clock.state()
            now = max(now, ctx.clock.now_ms(clock))
            email, source = self._bound_email(tenant, operation, body, now)
            account, user = self.scheduler.choose(tenant, email, body.get("maxJobs"), now)
            # And dated no earlier than what it read: without a lock (Redis), another process may end a job between
            # the clock reading above and the count, and a job dated before that end would overlap it (maxJobs + 1).
            # What ended is dated by the clock before it was written, so the clock read after the count is past it;
            # and fewer jobs run at a later instant, so the count still admits (tests/scale/*admission_instant*).
            now = max(now, ctx.clock.now_ms(clock))
            self.ltx.charge(account.email, gen.credits, now, user)
            outcome = self._next_outcome(operation, model)
            job_uuid = ctx.uuid()  # drawn before the jitter: a --seed run mints the same ids as before
            timing = store.get_meta(TIMING_META)
            length = video_seconds(operation, model, body)
            resolution = video_resolution(operation, model, body)
            seconds = run_seconds(gen, operation, length, ctx.random() * 2 - 1, timing, resolution)
            if timing:
                self._note_timing(operation, model, length or None, resolution, timing, seconds)
            job = Job.admit(job_uuid=job_uuid, generation_id=ctx.generation_id(), tenant=tenant,
                            email=account.email, operation=operation, gen=gen,
                            params={k: v for k, v in body.items() if k not in ("replyUrl", "replyRef")},
                            source=source, start_ms=now, total_ms=int(seconds * 1000), artifact_uuid=ctx.uuid(),
                            max_jobs=body.get("maxJobs"), reply_url=body.get("replyUrl"),
                            reply_ref=body.get("replyRef"))
            job.plan_end(outcome, now)
            put_job(store, job)
            store.index_add(JOBS, job.jobId, now)
            self.scheduler.track(job)
            if job.end_ms is not None:
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
                owners.add(self.assets.require_image(tenant, body[field], field).email)
        if operation == "images/upscale":
            src = self.get(tenant, body.get("jobId", ""), now, raise_missing=True)
            assert src is not None
            status = self.status(src, now)
            if src.media != "image" or status["type"] != "completed" or "artifact" not in status:
                raise bad_request(f"jobId {src.jobId} is not a completed image generation")
            if src.operation == "images/upscale":  # the docs: a jobId "from POST images/edit or images/create"
                raise bad_request(f"jobId {src.jobId} is already an upscale: upscale the images/create or "
                                  f"images/edit job it came from ({src.source})")
            owners.add(src.email)
            source = src.jobId
        if len(owners) > 1:
            raise bad_request("All referenced assets must belong to the same LTX Studio account")
        if owners:
            owner = owners.pop()
            if email and email != owner:
                raise bad_request(f"Referenced assets belong to account {owner}, not {email}")
            email = owner
        return email, source

    def _schedule_finish(self, job: Job) -> None:
        due = job.done_by()
        assert due is not None
        self.timeline.schedule_job("finish", job.jobId, due)

    # -- test control on live jobs -----------------------------------------
    def release(self, job_id: str, now: int) -> Job:
        """Un-stall a job: it resumes from its current progress."""
        store = self.ctx.store
        with store.atomic():
            job = get_job(store, job_id)
            if job is None:
                raise not_found(f"Job {job_id} not found")
            if job.end_ms is None:
                # where it stands: the stall point, or short of it if released early (never past it)
                done = max(0, min(job.stall_progress or 0, progress(job, now)))
                job.stall_progress = done  # the resumed progress climbs from here
                job.end_ms = now + job.total_ms * (100 - done) // 100
                job.start_ms_resume = now
                put_job(store, job)
                if store.index_score(running_index(job.tenant, job.email), job_id) is not None:
                    self.scheduler.track(job)
                self._schedule_finish(job)
            return job

    def restore(self, job: Job, now: int) -> bool:
        """Put back a job record (scenarios, snapshots) with its listing, running slot and due work.

        A job past retention is skipped (False). One already done gets its artifact listed, as the
        finish task would have done; no webhook is sent for it.
        """
        store = self.ctx.store
        expires = job.expires_at(self.ctx.config.job_retention_s)
        if expires <= now:
            return False
        with store.atomic():
            put_job(store, job)
            store.index_add(JOBS, job.jobId, job.created_ms)
            self.timeline.schedule_job("expire", job.jobId, expires)
            done = job.done_by()
            if done is None or done > now:
                if not job.cancelled_ms:
                    self.scheduler.track(job)
                if job.end_ms is not None:
                    self._schedule_finish(job)
            elif job.outcome == "completed":
                self.assets.add_artifact(job, done)
        return True

    def all(self, tenant: str | None = None) -> list[Job]:
        """Every stored job (of one tenant), oldest first: what a snapshot writes out."""
        jobs = get_jobs(self.ctx.store, self.ctx.store.index_range(JOBS))
        return [j for j in jobs if tenant is None or j.tenant == tenant]

    def page(self, offset: int, limit: int) -> tuple[int, list[Job]]:
        """(how many jobs are stored, one page of them, newest first): the admin API's job list."""
        store = self.ctx.store
        ids = store.index_range(JOBS, offset, limit, reverse=True)
        return store.index_count(JOBS), get_jobs(store, ids)

    def of_artifact(self, uuid: str) -> Render | None:
        """What renders the artifact stored under ``uuid``: the artifact record's own copy of the job (kept past
        the job record's retention); None for an upload or an unknown uuid."""
        record = get_asset(self.ctx.store, uuid)
        if record is None or record.jobId is None:
            return None
        if record.render is not None:
            return record.render
        job = get_job(self.ctx.store, record.jobId)
        return None if job is None else Render.of(job)

    def fail_running(self, tenant: str | None, email: str, message: str, now: int) -> int:
        """End every running job of an account now as failed (its LTX session died)."""
        tenants = [tenant] if tenant else self.accounts.tenants_of(email)
        store = self.ctx.store
        n = 0
        with store.atomic():
            for t in tenants:
                for job in get_jobs(store, self.scheduler.running_ids(t, email, now)):
                    job.outcome, job.fail_progress, job.message = "failed", progress(job, now), message
                    job.end_ms = now
                    put_job(store, job)
                    self.scheduler.track(job)
                    self.timeline.cancel_job("finish", job.jobId)
                    self._schedule_finish(job)
                    n += 1
        return n

    # -- reading -----------------------------------------------------------
    def get(self, tenant: str, job_id: str, now: int, *, raise_missing: bool = False) -> Job | None:
        """The tenant's job, unless unknown, another tenant's, or past retention."""
        job = get_job(self.ctx.store, job_id)
        if job is None or job.tenant != tenant or now >= job.expires_at(self.ctx.config.job_retention_s):
            if raise_missing:
                raise not_found(f"Job {job_id} not found or has expired")
            return None
        return job

    def read_ahead(self, job_ids: list[str]) -> bool:
        """Ask the store to warm what expiring ``job_ids`` reads (their records, their artifacts'), in two round trips
        for all of them; False: the store holds its state itself (memory, SQLite), nothing to warm now or later."""
        store = self.ctx.store
        rows = store.warm(JOB, job_ids)
        if rows is None:
            return False
        jobs = [load_record(Job, job_id, row) for job_id, row in zip(job_ids, rows, strict=True) if row is not None]
        store.warm(ASSET, [job.artifact_uuid for job in jobs if job.outcome == "completed"])  # keep_render's read
        return True

    def find(self, job_id: str) -> Job | None:
        """Any tenant's job by id (the operator's views: dashboard, control API)."""
        return get_job(self.ctx.store, job_id)

    def status(self, job: Job, now: int, base_url: str = "") -> dict[str, Any]:
        """``{type, progress, message?, artifact?}`` at simulated instant ``now``."""
        kind, pct = phase(job, now)
        status: dict[str, Any] = {"type": kind, "progress": pct}
        if kind == "failed":
            status["message"] = job.message
        elif kind == "completed" and now >= (job.end_ms or 0) + job.artifact_delay_ms:
            status["artifact"] = self.assets.signed_artifact(job.artifact_uuid, job.mime, job.subtype, now, base_url)
        return status

    def view(self, job: Job, now: int, base_url: str = "") -> dict[str, Any]:
        """The documented job model."""
        out: dict[str, Any] = {"status": self.status(job, now, base_url), "jobId": job.jobId,
                               "generationId": job.generationId}
        if job.replyRef:
            out["replyRef"] = job.replyRef
        if job.replyUrl:
            out["replyUrl"] = job.replyUrl
        return out

    # -- due work ----------------------------------------------------------
    def apply(self, task: dict[str, str], due: int, base_url: str) -> None:
        """Apply one claimed timeline task, ``{"type", "jobId"}`` (inside the caller's atomic block)."""
        kind, job_id = task["type"], task["jobId"]
        store = self.ctx.store
        job = get_job(store, job_id)
        if job is None:
            return
        if kind == "finish":
            self.scheduler.untrack(job)
            if job.outcome == "failed":
                self.ltx.refund(job.email, job.credits)
            else:
                self.assets.add_artifact(job, due)
            if job.replyUrl and not job.cancelled_ms:
                body = self.view(job, due, base_url)
                hook = job.webhook or {}
                self.deliveries.enqueue(job.jobId, job.replyUrl, body, copies=int(hook.get("copies", 1)),
                                        delay_ms=int(float(hook.get("delay_s", 0)) * 1000),
                                        fail_first=int(hook.get("fail_first", 0)))
        elif kind == "expire":  # queued by Simulator.settle from the JOBS index
            # useapi.net forgets its job record; the artifact stays in the LTX Studio library (GET assets/).
            # A job that ended before it expired but whose end was not applied yet (the clock jumped past
            # both at once) ends first, so its artifact is listed and its refund made.
            done = job.done_by()
            expired = job.expires_at(self.ctx.config.job_retention_s)
            if self.timeline.cancel_job("finish", job_id) and done is not None and done <= expired:
                self.apply({"type": "finish", "jobId": job_id}, done, base_url)
            self.scheduler.untrack(job)
            if job.outcome == "completed":
                self.assets.keep_render(job)
            store.delete(JOB, job_id)
            store.index_remove(JOBS, job_id)

    def require_visible(self, tenant: str, job_id: str, now: int) -> Job:
        require_job_id(job_id)
        job = self.get(tenant, job_id, now, raise_missing=True)
        assert job is not None
        return job
