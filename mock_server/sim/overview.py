"""What the dashboard and the control API read: counts, and pages of every kind of record.

Each read is a page of an ordered index (offset + limit) or one index count, so a
reader's cost does not grow with the number of records: nothing here calls
``dump()`` or reads a big index without a limit. The records come back as the rules
keep them; the derived figures come from the rules themselves (capacity from
``Scheduler.capacity``, the figures GET /scheduler/available answers with), so a view
that shows them cannot disagree with the API. Shaping for a page (rows, URLs,
scrubbing) is the view's: ``dashboard/data.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_server.sim.accounts import accounts_index
from mock_server.sim.context import Context
from mock_server.sim.deliveries import DUE, LOG
from mock_server.sim.jobs import JOBS
from mock_server.sim.journal import Journal, RequestRing
from mock_server.sim.ltx import LTX_USERS, LtxStudio
from mock_server.sim.records import Account, Job, LtxUser, get_accounts, get_job, get_jobs, phase
from mock_server.sim.scheduler import Scheduler, running_index
from mock_server.sim.tenants import Tenants


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """One configured account: its record, its LTX user (None if gone), and its capacity row."""

    account: Account
    user: LtxUser | None
    capacity: dict[str, Any]  # Scheduler.capacity: email, maxJobs, executing, available
    session_error: str | None  # why a job on it would be refused now (LtxStudio.session_error), or None


@dataclass(frozen=True, slots=True)
class TenantAccounts:
    """A tenant (by id and token hint, never its token) and the first of its accounts."""

    id: str
    hint: str
    account_count: int
    accounts: list[AccountFigures]


REFUSALS = (429, 402)  # what the timeline marks: capacity and credit refusals


@dataclass(frozen=True, slots=True)
class Timeline:
    """What the dashboard's timeline draws: jobs (admission to end), refusals, credits over time.

    ``credits``: per LTX user shown, (ms, credits) steps, oldest first, derived backwards from its credits now
    through the charges (at admission) and refunds (at failure) of the jobs listed: the rules' own bookkeeping.
    """

    jobs: list[Job]
    refusals: list[dict[str, Any]]  # journal entries (rendered): sim_ms, status, tenant, body, response
    credits: dict[str, list[tuple[int, int]]]


class Overview:
    """Read-only pages over the simulator's records for views that show many of them at once."""

    def __init__(self, ctx: Context, ltx: LtxStudio, scheduler: Scheduler, tenants: Tenants,
                 journal: RequestRing | Journal) -> None:
        self.ctx = ctx
        self.ltx = ltx
        self.scheduler = scheduler
        self._tenants = tenants
        self.journal = journal

    def counts(self) -> dict[str, int]:
        """How many of each thing there are, each one index count (the dashboard's header and page totals).

        Pages of jobs, LTX users and webhooks come from their own rules: ``Jobs.page``,
        ``LtxStudio.list_users``, ``Deliveries.log``.
        """
        count = self.ctx.store.index_count
        return {"jobs": count(JOBS), "tenants": self._tenants.count(), "ltxUsers": count(LTX_USERS),
                "requests": self.journal.count(), "webhooks": count(LOG), "webhooksPending": count(DUE)}

    def job_states(self, now: int, page: int = 1000) -> dict[str, int]:
        """How many stored jobs are in each state at ``now``: ``active``, ``completed``, ``failed`` as
        ``GET /assets/{jobId}`` would say, ``cancelled`` apart (the metrics' jobs gauge). Reads every job, a page
        at a time: a scrape pays it, never an API request."""
        states = {"active": 0, "completed": 0, "failed": 0, "cancelled": 0}
        store = self.ctx.store
        offset = 0
        while True:
            ids = store.index_range(JOBS, offset, page)
            for job in get_jobs(store, ids):
                states["cancelled" if job.cancelled_ms else phase(job, now)[0]] += 1
            if len(ids) < page:
                return states
            offset += page

    # -- tenants and accounts (LTX users: ``LtxStudio.list_users``) ------------
    def tenants(self, now: int, limit: int, account_limit: int) -> list[TenantAccounts]:
        """The first ``limit`` tenants, each with its first ``account_limit`` accounts and their figures.

        Capacity is ``Scheduler.capacity`` (per-request ``maxJobs`` overrides counted as GET
        /scheduler/available counts them), read with one index count per account.
        """
        store = self.ctx.store
        out = []
        for tid in self._tenants.ids(limit):
            tenant = self._tenants.get(tid)
            emails = store.index_range(accounts_index(tid), 0, account_limit)
            records = get_accounts(store, tid, emails)
            users = self.ltx.users([a.email for a in records])
            rows = [AccountFigures(account, user, self.scheduler.capacity(tid, account, now),
                                   self.ltx.session_error(user, now))
                    for account, user in zip(records, users, strict=True)]
            out.append(TenantAccounts(tid, tenant.hint if tenant else "", store.index_count(accounts_index(tid)), rows))
        return out

    # -- jobs --------------------------------------------------------------
    def running(self, accounts: list[tuple[str, str]], now: int, limit: int) -> list[Job]:
        """The jobs executing at ``now`` on these (tenant, email) accounts, soonest to end first, at most ``limit``.

        Each account's running index is ordered by end, so this reads ``limit`` members per account at most.
        """
        ends: list[tuple[float, str]] = []
        for tid, email in accounts:
            ends.extend((score, m) for m, score in
                        self.ctx.store.index_by_score(running_index(tid, email), min_score=now + 1, limit=limit))
        ends.sort()
        return get_jobs(self.ctx.store, [m for _, m in ends[:limit]])

    def job(self, job_id: str) -> Job | None:
        """Any tenant's job by id (the views that call this are the operator's, not a tenant's)."""
        return get_job(self.ctx.store, job_id)

    # -- the timeline ------------------------------------------------------------
    def timeline(self, now: int, job_limit: int, refusal_limit: int) -> Timeline:
        """The newest ``job_limit`` jobs, the newest ``refusal_limit`` 429/402 answers, and credit steps."""
        store = self.ctx.store
        jobs = get_jobs(store, store.index_range(JOBS, 0, job_limit, reverse=True))
        refusals: list[dict[str, Any]] = []
        for status in REFUSALS:
            items, _ = self.journal.query(status=status, path="/v1/ltxstudio/*", limit=refusal_limit)
            refusals.extend(items)
        refusals.sort(key=lambda e: (e.get("sim_ms") or 0, e.get("id") or 0))
        credits: dict[str, list[tuple[int, int]]] = {}
        emails = sorted({j.email for j in jobs})
        for email, user in zip(emails, self.ltx.users(emails), strict=True):
            if user is None:
                continue
            events: list[tuple[int, int]] = []  # (ms, change)
            for job in jobs:
                if job.email != email:
                    continue
                events.append((job.start_ms, -job.credits))
                if job.outcome == "failed" and job.end_ms is not None and job.end_ms <= now:
                    events.append((job.end_ms, job.credits))  # refunded when it failed
            level = user.credits
            steps = [(now, level)]
            for ms, change in sorted(events, reverse=True):
                steps.append((ms, level))
                level -= change
                steps.append((ms, level))
            steps.reverse()
            credits[email] = steps
        return Timeline(jobs, refusals, credits)

    # -- the request journal -------------------------------------------------
    def requests(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """Journal entries newest first, as stored (``journal.render`` parses their bodies)."""
        return self.journal.page(offset, limit)

    def request(self, entry_id: str) -> dict[str, Any] | None:
        return self.journal.get(entry_id)

    def request_count(self) -> int:
        return self.journal.count()
