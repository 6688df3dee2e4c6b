"""The useapi.net scheduler: per-account ``maxJobs`` capacity and load balancing.

A running job sits in its account's ``running`` index scored by the simulated
instant it ends, so "how many jobs are executing now" is one range count, and a
job leaves the count the moment it ends without anyone having to tick.
Admission (count, compare, charge, insert) happens in one atomic block: two
requests can never both take an account's last slot.
"""

from __future__ import annotations

import math
from typing import Any

from mock_server.errors import ApiError, bad_request, not_found
from mock_server.sim.accounts import Accounts
from mock_server.sim.context import Context, iso, mmss
from mock_server.sim.faults import own_retry_after
from mock_server.sim.ids import require_job_id
from mock_server.sim.ltx import LtxStudio
from mock_server.sim.records import JOB, Account, Job, LtxUser, get_job, get_jobs, put_job

__all__ = ["JOB", "Scheduler", "running_index"]
INFINITY = math.inf  # the end of a stalled job


def running_index(tenant: str, email: str) -> str:
    return f"running:{tenant}:{email}"


class Scheduler:
    """Capacity, account choice and the running-job views."""

    def __init__(self, ctx: Context, accounts: Accounts, ltx: LtxStudio) -> None:
        self.ctx = ctx
        self.accounts = accounts
        self.ltx = ltx

    def retry_after(self, now: int) -> tuple[tuple[str, str], ...]:
        """Retry-After on the capacity 429: none (as documented) unless a scenario asked for one."""
        return own_retry_after(self.ctx, now)

    def executing(self, tenant: str, email: str, now: int) -> int:
        return self.ctx.store.index_count(running_index(tenant, email), min_score=now + 1)

    def running_ids(self, tenant: str, email: str, now: int) -> list[str]:
        return [m for m, _ in self.ctx.store.index_by_score(running_index(tenant, email), min_score=now + 1)]

    def started(self, tenant: str, email: str, now: int) -> list[Job]:
        """The jobs executing at ``now`` for a view dated ``now``: without jobs admitted after it.

        Admission dates a job when it takes the lock, so while this request was on its way
        another process may have admitted one that (for this view) has not started yet.
        """
        return [j for j in get_jobs(self.ctx.store, self.running_ids(tenant, email, now)) if j.start_ms <= now]

    def capacity(self, tenant: str, account: Account, now: int,
                 running: list[Job] | None = None) -> dict[str, Any]:
        """One account's row of GET /scheduler/available (and of the dashboard: one source of the figures).

        ``maxJobs`` is the configured limit; ``executing`` counts every running job, those admitted
        with a per-request ``maxJobs`` included; ``available`` is how many plain requests ``choose``
        would admit now: 0 while overrides (or a lowered limit) keep ``executing`` at or above it.
        ``running``: the jobs the caller already read for ``now`` (GET /scheduler/available lists them,
        so its count and list agree); without it one index count, the count ``choose`` compares (the
        dashboard: a cost that does not grow with the number of jobs). The two differ only by a job
        another process admitted after ``now``.
        """
        executing = len(running) if running is not None else self.executing(tenant, account.email, now)
        return {"email": account.email, "maxJobs": account.maxJobs, "executing": executing,
                "available": max(0, account.maxJobs - executing)}

    def choose(self, tenant: str, email: str | None, override: int | None,
               now: int) -> tuple[Account, LtxUser]:
        """The account a new job runs on, and its LTX user (call inside ``store.atomic()``).

        With ``email``, that account or an error; without, a random account that has a free
        slot and a working session (the docs' load balancing). The user comes back so that
        charging it reads it no second time.
        """
        if email:
            account = self.accounts.get(tenant, email)
            if account is None:
                raise bad_request(f"Unable to locate LTX Studio account {email}, configure it with POST /accounts")
            candidates = [account]
        else:
            candidates = self.accounts.all(tenant)
            if not candidates:
                raise bad_request("No LTX Studio account configured, use POST /accounts first")
        users = {a.email: self.ltx.get_user(a.email) for a in candidates}
        usable = [a for a in candidates if not self.ltx.session_error(users[a.email], now)]
        if not usable:
            raise bad_request(self.ltx.session_error(self.ltx.get_user(candidates[0].email), now)
                              or "No usable LTX Studio account")
        free = [a for a in usable if self.executing(tenant, a.email, now) < (override or a.maxJobs)]
        if not free:
            detail = ", ".join(f"{a.email} {self.executing(tenant, a.email, now)}/{override or a.maxJobs}"
                               for a in usable)
            raise ApiError(429, f"All LTX Studio accounts are at maximum capacity (maxJobs): {detail}; "
                                "retry after a running job completes", self.retry_after(now))
        chosen = free[0] if len(free) == 1 else free[int(self.ctx.random() * len(free))]
        user = users[chosen.email]
        assert user is not None  # usable: its session works
        return chosen, user

    def track(self, job: Job) -> None:
        end = job.end_ms if job.end_ms is not None else INFINITY
        self.ctx.store.index_add(running_index(job.tenant, job.email), job.jobId, end)

    def untrack(self, job: Job) -> None:
        self.ctx.store.index_remove(running_index(job.tenant, job.email), job.jobId)

    def stop(self, job: Job, at: int) -> None:
        """The job stops counting against its account at ``at`` (a cancel): its entry is scored with that end rather
        than removed (its finish task removes it), so a request dated before ``at`` still sees it running. With
        optimistic transactions (Redis) a create may be dated a little before a cancel another process committed
        first; removing the entry would let it overlap the cancelled job (maxJobs + 1 in the jobs' own times)."""
        self.ctx.store.index_add(running_index(job.tenant, job.email), job.jobId, at)

    # -- views -------------------------------------------------------------
    def _entry(self, job: Job, now: int) -> dict[str, Any]:
        out = {"jobId": job.jobId, "email": job.email, "started": iso(job.start_ms),
               "elapsed": mmss(now - job.start_ms)}
        if job.replyUrl:
            out["replyUrl"] = job.replyUrl
        if job.replyRef:
            out["replyRef"] = job.replyRef
        return out

    def running(self, tenant: str, now: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for email in self.accounts.emails(tenant):
            out.extend(self._entry(j, now) for j in self.started(tenant, email, now))
        out.sort(key=lambda e: e["started"])
        return out

    def available(self, tenant: str, now: int) -> dict[str, Any]:
        """GET /scheduler/available: each account's running jobs are read once for all three figures."""
        available: list[dict[str, Any]] = []
        executing: list[dict[str, Any]] = []
        for account in self.accounts.all(tenant):
            running = self.started(tenant, account.email, now)
            available.append(self.capacity(tenant, account, now, running))
            executing.extend(self._entry(j, now) for j in running)
        executing.sort(key=lambda e: e["started"])
        return {"executing": executing, "available": available}

    def delete_account(self, tenant: str, email: str, now: int) -> int:
        """DELETE /accounts/{email}: the configuration goes, and with it useapi.net's tracking of its jobs.

        useapi.net follows a job by polling LTX Studio with the account's cookie; without the
        configuration it cannot, so each running job is dropped as DELETE /scheduler/{jobId} would
        drop it (it still runs upstream; no webhook; a later cancel is a 404). Returns how many.
        """
        with self.ctx.store.atomic():
            self.accounts.delete(tenant, email)  # 404 when there is no such configuration
            running = self.ctx.store.index_by_score(running_index(tenant, email), min_score=now + 1)
            now = max(now, self.ctx.clock.now_ms())  # dated after what it read, as Jobs.create is
            n = 0
            for job in get_jobs(self.ctx.store, [job_id for job_id, end in running if end > now]):
                self.stop(job, now)
                job.cancelled_ms = now
                put_job(self.ctx.store, job)
                n += 1
            return n

    def cancel(self, tenant: str, job_id: str, now: int) -> Job:
        """Stop tracking a running job (it still runs upstream): 404 unless it is running now."""
        require_job_id(job_id)
        with self.ctx.store.atomic():
            job = get_job(self.ctx.store, job_id)
            score = self.ctx.store.index_score(running_index(job.tenant, job.email), job_id) if job else None
            # As in Jobs.create: the instant it takes effect, and after what it read (on Redis another process may
            # end the job meanwhile: its end, past, is then no longer in the index, and the cancel answers 404).
            now = max(now, self.ctx.clock.now_ms())
            if job is None or job.tenant != tenant or score is None or score <= now:
                raise not_found(f"Unable to locate running jobId {job_id}")
            self.stop(job, now)
            job.cancelled_ms = now
            put_job(self.ctx.store, job)
            return job
