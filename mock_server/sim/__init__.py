"""The simulation: every rule of the service, and no HTTP.

``Simulator`` wires the rule modules together over one store and one clock:

==================  ===========================================================
``ltx.py``          the upstream LTX Studio: users, sessions, credits
``accounts.py``     useapi.net account configurations (POST/GET/DELETE /accounts)
``assets.py``       uploads, artifacts, listings, signed URLs
``jobs.py``         generation jobs: admission, derived status, completion
``scheduler.py``    maxJobs capacity, load balancing, running-job views
``timeline.py``     once-only work due at a simulated time
``deliveries.py``   the webhook outbox
``faults.py``       HTTP fault rules (which requests get latency, errors, drops)
``stubs.py``        per-test answers (stubs): which requests get an answer a test chose
``tenants.py``      API tokens' tenants: who may call, and the bearer check
``overview.py``     counts and pages for the dashboard and the control API
``journal.py``      the request journal's storage (what HTTP recorded; bounded, filtered)
``health.py``       readiness: the store probed as a request uses it, and the clock
``catalog.py``      prices and run times per model
==================  ===========================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from mock_server.clock import Clock
from mock_server.config import DEMO_EMAIL, SimConfig
from mock_server.errors import StoreUnavailable
from mock_server.sim.accounts import Accounts
from mock_server.sim.assets import Assets
from mock_server.sim.context import SIGNING_KEY, Context
from mock_server.sim.deliveries import DELIVERY, Deliveries
from mock_server.sim.faults import Faults
from mock_server.sim.health import readiness
from mock_server.sim.jobs import JOBS, Jobs
from mock_server.sim.journal import open_journal
from mock_server.sim.ltx import LtxStudio
from mock_server.sim.overview import Overview
from mock_server.sim.records import ACCOUNT, ASSET, JOB, USER, Job
from mock_server.sim.scenario import apply as apply_scenario
from mock_server.sim.scheduler import Scheduler
from mock_server.sim.stubs import Stubs
from mock_server.sim.tenants import TENANT, Tenants, tenant_id
from mock_server.sim.timeline import Timeline
from mock_server.store import Conflict, Store, open_store

__all__ = ["Conflict", "Simulator", "configured_base_url", "initialised", "tenant_id"]
INITIALISED = "initialised"  # meta: a simulator wrote the start-up state (the last step of a reset)
STORE_RESET = ("the shared store was reset (Redis restarted empty or its keys were deleted): restart the simulators "
               "or POST /__admin/reset")
POLL_INTERVAL_S = 3  # "each attempt waits 3 seconds"
CLAIM_BATCH = 256  # timeline tasks claimed and applied per step of settle
EXPIRY_READ_AHEAD = 256  # jobs next in line to expire whose records a caching store warms with the ones due
POLL_SLICE_S = 0.25  # a pollForResult wait looks at the clock again this often (real seconds)


def initialised(store: Store) -> bool:
    """Whether a simulator has set ``store`` up (a shared store another server uses, a ``--state`` file)."""
    return store.get_meta(INITIALISED) is not None


def configured_base_url(config: SimConfig) -> str:
    """``public_url``, else ``http://host:port`` of the bind (a wildcard bind as 127.0.0.1), else ""."""
    if config.public_url:
        return config.public_url.rstrip("/")
    if not config.port:
        return ""
    host = config.host
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


class Simulator:
    """One simulated service: all state behind ``store``, all time behind ``clock``."""

    def __init__(self, config: SimConfig | None = None, store: Store | None = None, *,
                 scenario: Callable[[], dict[str, Any]] | None = None) -> None:
        """``scenario``: reads ``config.scenario`` (a file) into a checked document, at start-up and on every
        reset (``mock_server.scenario.configured(config)``); required when ``config.scenario`` is set, as the
        rules do not read YAML themselves."""
        self.config = config or SimConfig()
        if self.config.scenario and scenario is None:
            raise ValueError("config.scenario names a file: pass its reader too, "
                             "Simulator(config, scenario=mock_server.scenario.configured(config))")
        self.configured_scenario = scenario
        self.store = store or open_store(self.config.store_url)
        self.clock = Clock(self.store)
        self.ctx = Context(self.store, self.clock, self.config)
        self.ctx.reseed()
        self.ltx = LtxStudio(self.ctx)
        self.accounts = Accounts(self.ctx, self.ltx)
        self.assets = Assets(self.ctx)
        self.timeline = Timeline(self.ctx)
        self.deliveries = Deliveries(self.ctx)
        self.scheduler = Scheduler(self.ctx, self.accounts, self.ltx)
        self.jobs = Jobs(self.ctx, self.ltx, self.accounts, self.assets, self.scheduler, self.timeline,
                         self.deliveries)
        self.settled_at = 0.0  # (monotonic) when a request or the worker last settled due work here
        self.read_ahead_ids: frozenset[str] | None = frozenset()  # the jobs last read ahead (None: no need, ever)
        self.faults = Faults(self.ctx)  # HTTP fault rules (their state; mock_server/faults.py shapes the answers)
        self.tenants = Tenants(self.ctx)  # who may call: one per API token
        self.stubs = Stubs(self.ctx)  # per-test answers (their state; pipeline.py sends them)
        self.journal = open_journal(self.ctx)  # the request journal: this process's ring, or the shared store
        # the dashboard's and the control API's pages
        self.overview = Overview(self.ctx, self.ltx, self.scheduler, self.tenants, self.journal)
        # The origin of URLs in webhooks (which answer no request): --public-url, else the bound host:port
        # (ServerThread fills the port in once bound). Never a request's Host header: that would let the
        # first caller choose the host of every tenant's artifact URLs.
        self.base_url = configured_base_url(self.config)
        if not initialised(self.store):
            with self.store.atomic():  # two processes starting on one empty store: one resets
                if not initialised(self.store):
                    self.reset()

    # -- lifecycle ---------------------------------------------------------
    def reset(self, scenario: dict[str, Any] | None = None) -> None:
        """Back to the start-up state: tokens, demo user and account, scenario, a fresh clock.

        ``scenario`` (a parsed scenario document) stands in for the configured scenario file
        until the next reset (``POST /__admin/scenario``).
        """
        with self.store.atomic():
            key = self.ctx.signing_key().decode() if not self.config.secret else None
            self.store.clear()
            self.journal.reset()  # a journal kept outside the store starts again with it (ids from 1)
            if key:
                self.store.put_meta(SIGNING_KEY, key)  # the store's signing key outlives a reset
            self.ctx.reseed()
            self.clock.reset(speed=self.config.speed, paused=self.config.paused)
            now = self.clock.now_ms()
            for token in self.config.tokens:
                self.add_token(token)
            if scenario is None and self.configured_scenario is not None:
                scenario = self.configured_scenario()
            if scenario is not None:
                apply_scenario(self, scenario)  # sets its clock first, then the demo data (unless demo: false)
            elif self.config.demo:
                self.add_demo_accounts(now)
            self.store.put_meta(INITIALISED, {"at": time.time()})

    def add_demo_accounts(self, now: int) -> None:
        """The demo LTX user, configured as an account of every configured token (start-up, scenarios)."""
        user = self.ltx.get_user(DEMO_EMAIL) or self.ltx.create_user(now, email=DEMO_EMAIL, name="Demo User")
        for token in self.config.tokens:
            self.accounts.upsert(tenant_id(token), self.ltx.cookie_of(user), None, now)

    def now(self) -> int:
        return self.clock.now_ms()

    def atomic(self) -> AbstractContextManager[None]:
        """A block of rule calls that no other writer interleaves with (applying a scenario)."""
        return self.store.atomic()

    # -- tenants (sim/tenants.py) -------------------------------------------
    def add_token(self, token: str) -> str:
        return self.tenants.add(token)

    def counts(self) -> dict[str, int]:
        """How many records of each kind are stored (GET /__admin/state)."""
        return {k: self.store.count(k) for k in (TENANT, USER, ACCOUNT, ASSET, JOB, DELIVERY)}

    def tenant_tokens(self, limit: int | None = None) -> dict[str, str]:
        """tenant id -> its token, for the (first ``limit``) tenants whose token is kept (snapshots, the banner)."""
        return self.tenants.tokens(limit)

    def tenant_ids(self, limit: int | None = None) -> list[str]:
        """The tenants' ids, oldest first (at most ``limit``)."""
        return self.tenants.ids(limit)

    def close(self) -> None:
        """Release the store (its connections, files); the simulator is not used afterwards."""
        self.store.close()

    def tenant_for(self, token: str) -> str | None:
        """The tenant of a bearer token, or None (-> 401)."""
        return self.tenants.of(token)

    # -- requests --------------------------------------------------------------
    def begin_request(self, *, writes: bool = True, resetting: bool = False, exclusive: bool = False,
                      current: bool = False) -> int:
        """Where every request starts: one consistent view of the store (Redis: at most one round trip, and a
        transaction; ``exclusive``: the store's lock instead, for a request that conflicted too often), then due
        work settled. Returns the pinned instant.

        A shared store that has lost its start-up state under us (Redis restarted empty, its keys flushed)
        raises :class:`StoreUnavailable` on every request but one that ``resetting`` it (``POST /__admin/reset``):
        answering 401 to every token, as it otherwise would, says nothing of the cause."""
        self.store.request_begin(write=writes, exclusive=exclusive, current=current)
        try:
            if self.store.volatile and not resetting and not initialised(self.store):
                raise StoreUnavailable(STORE_RESET)
            now = self.clock.now_ms()
            self.settle(now)
        except BaseException:
            # Nothing of it is sent (Redis: a settling refused mid-way, ``Conflict``); the caller's next blocks are
            # then their own, not part of a transaction that will never end (tests/scale/*worker_claims*).
            self.store.request_discard()
            raise
        self.settled_at = time.monotonic()
        return now

    def read_ahead(self, loop: Any) -> Any:
        """What the server's event loop asks, for each read, to catch the store up for it before a thread runs it
        (``then(fn, *args)``: ``store/redis/ahead.py``), or None (memory, SQLite). Called in a worker process."""
        return self.store.read_ahead(loop)

    def store_failure(self, exc: BaseException) -> StoreUnavailable | None:
        """The 503 an exception from the store stands for (unreachable, refusing writes), else None."""
        if isinstance(exc, StoreUnavailable):
            return exc
        reason = self.store.unavailable(exc)
        return None if reason is None else StoreUnavailable(reason)

    def health(self) -> dict[str, Any]:
        """Readiness (``sim/health.py``): the store probed as a request uses it, and the clock. Call it outside
        ``begin_request``: it opens and ends its own request view, and answers (not ready) when the store is down."""
        return readiness(self.ctx)

    def job_states(self) -> dict[str, int]:
        """Jobs by state now (``Overview.job_states``), in a reading request view of its own (the metrics' scrape)."""
        self.store.request_begin(write=False)
        try:
            return self.overview.job_states(self.clock.now_ms())
        finally:
            self.store.request_end()

    def end_request(self, *, behind: bool = False) -> Any:
        """The request has its answer: its writes become durable (Redis: one round trip). Raises ``Conflict``
        when an optimistic store refused them (another request changed what this one read): nothing was written,
        and the request may be run again from ``begin_request``.

        ``behind``: the store may send the writes and return a handle at once (Redis), whose outcome
        :meth:`finish_request` waits for, later, in this thread; None: durable already."""
        return self.store.request_end(behind=behind)

    def finish_request(self, pending: Any) -> None:
        """The outcome of writes ``end_request(behind=True)`` sent: returns once durable, else raises as
        ``end_request`` would have."""
        self.store.finish(pending)

    # -- time passing --------------------------------------------------------
    def settle(self, now: int) -> int:
        """Apply every timeline task due by ``now`` and forget jobs past retention.

        Cheap when nothing is due: two index peeks. Expiry needs no task per job: the ``JOBS``
        index is ordered by creation, so the jobs past retention are always at its head.
        """
        retention_end = now - self.config.job_retention_s * 1000
        nxt = self.timeline.next_due()
        oldest = self.store.index_by_score(JOBS, max_score=retention_end, limit=1, hint=True)
        if (nxt is None or nxt > now) and not oldest:
            return 0
        return self.store.transact(lambda: self._settle(now, retention_end))

    def _settle(self, now: int, retention_end: int) -> int:
        """One transaction: the jobs past retention forgotten, the due tasks claimed and applied (run again, on
        fresh data, if it conflicts with another process's claim)."""
        n = 0
        expiring = self.store.index_by_score(JOBS, max_score=retention_end, limit=10_000)
        if expiring and self.read_ahead_ids is not None and expiring[-1][0] not in self.read_ahead_ids:
            self._read_ahead(expiring)
        for job_id, created in expiring:
            self.jobs.apply({"type": "expire", "jobId": job_id}, int(created), self.base_url)
            self.store.index_remove(JOBS, job_id)  # even if its record was already gone
            n += 1
        while True:
            batch = self.timeline.claim_due(now, CLAIM_BATCH)
            for due, task in batch:
                self.jobs.apply(task, due, self.base_url)
            n += len(batch)
            if len(batch) < CLAIM_BATCH:  # all due work is claimed (applying a task schedules none)
                return n

    def _read_ahead(self, expiring: list[tuple[str, float]]) -> None:
        """Warm the store for the jobs due to expire and the next ``EXPIRY_READ_AHEAD`` in line: two round trips
        for them all (Redis), where reading each job and its artifact as it expires costs two per job. Its cache
        keeps what was read last, so under a steady load (a job created and one expiring per request) the oldest
        jobs are no longer in it when they expire. A hint: what is warmed is read again, and checked, by expiry."""
        ahead = self.store.index_by_score(JOBS, min_score=expiring[0][1], limit=len(expiring) + EXPIRY_READ_AHEAD,
                                          hint=True)
        ids = [job_id for job_id, _ in ahead]
        self.read_ahead_ids = frozenset(ids) if self.jobs.read_ahead(ids) else None  # None: the store holds all

    def poll_for_result(self, job: Job, polls: int) -> Job | None:
        """Wait like ``pollForResult``: up to polls x 3 simulated seconds for the job to finish.

        Returns the finished job's record, or None when the window passes first. With the
        clock paused no simulated time can pass, so it answers at once. The wait looks at the
        clock (and the job) again every ``POLL_SLICE_S`` of real time, so a clock advanced, sped
        up or paused meanwhile, or a job cancelled meanwhile, ends it as soon as the answer is known;
        it never lasts longer than polls x 3 real seconds.
        """
        window_end = job.created_ms + polls * POLL_INTERVAL_S * 1000
        real_end = time.monotonic() + polls * POLL_INTERVAL_S
        while True:
            done = job.done_by()
            target = done if done is not None and done <= window_end else window_end
            wait = self.clock.real_seconds_until(target)
            if wait is None:  # paused
                return None if done is None or done > self.now() else job
            left = real_end - time.monotonic()
            if wait <= 0 or left <= 0:
                break
            self.store.refresh()  # a waiting request holds no store lock
            time.sleep(min(wait, left, POLL_SLICE_S))
            self.store.refresh()
            job = self.jobs.find(job.jobId) or job
        if done is not None and done <= window_end and done <= self.now():
            return self.jobs.find(job.jobId) or job
        return None
