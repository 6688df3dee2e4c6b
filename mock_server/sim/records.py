"""The typed records the rules keep: ``Job`` and ``Asset`` (with the ``Render`` an artifact keeps of its job),
``Account`` (a useapi.net account configuration) and ``LtxUser`` (a user of the simulated LTX Studio).

Each record has one constructor used by the rules and by the scenario loader alike (``Job.admit`` with
``plan_end``; ``Asset.upload`` / ``Asset.artifact``; ``Account.configure``; ``LtxUser.new``), pure functions
for what is derived from it and an instant (``progress``, ``done_by``, ``ends_at``), and two serialised forms:

* ``to_row()`` / ``from_row(key, row)``: what the stores keep. A list of the values in field order, without
  the key it is stored under and without trailing defaults: no field names in every stored record, so a
  completed job costs ~40% of the bytes of the ~25-key dict it replaces (``benchmarks/jobs_bench.py``), and
  marshal (memory store) and JSON (SQLite, Redis) encode it as they encode any list.
* ``to_dict()`` / ``from_dict(d)``: the public form (a snapshot's ``jobs[].record``, the dashboard's plan),
  exactly the keys the dict records had, optional ones only when set.

A row written by one version and read by a later one with more (defaulted) fields still loads (how many fields
a row always has is counted from the dataclass, ``_required``); a row is never shown to anyone. A dict record (a
--state file written before rows) loads through ``from_dict`` in one place, ``load_record``.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

from mock_server.sim.catalog import CATALOG, Generation
from mock_server.store.base import Store

JOB = "job"
ASSET = "asset"
ACCOUNT = "account"
USER = "ltxuser"
DEFAULT_MAX_JOBS = 20
DEFAULT_FAILURE = "Generation failed at LTX Studio"
UPLOADS_FOLDER = "artifacts/user-uploads"
WEBHOOK_KEYS = ("copies", "delay_s", "fail_first")
GENERATION_HEX = 12  # the hex digits of a generationId the simulator mints ("gen_abc123def456" in the docs)


def _uuid_int(text: str) -> int | str:
    """A canonical (lowercase, dashed) UUID as its 128-bit int: 23 marshal bytes, not 38; anything else as given."""
    if len(text) == 36:
        try:
            n = int(text.replace("-", ""), 16)
        except ValueError:
            return text
        if _uuid_str(n) == text:
            return n
    return text


def _uuid_str(value: int | str) -> str:
    if type(value) is not int:
        return str(value)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hex_int(text: str) -> int | str:
    """The hex digits of a generationId as the simulator mints them, as their int; anything else as given."""
    if len(text) == GENERATION_HEX:
        try:
            n = int(text, 16)
        except ValueError:
            return text
        if f"{n:0{GENERATION_HEX}x}" == text:
            return n
    return text


def _strip(row: list[Any], required: int) -> list[Any]:
    """A row without its trailing ``None``s past the required fields (they come back as defaults)."""
    n = len(row)
    while n > required and row[n - 1] is None:
        n -= 1
    return row if n == len(row) else row[:n]


@dataclass(slots=True)
class Job:
    """One generation job: who asked, what, and how it ends; status and progress are derived from it and the clock.

    Field names are the keys of the public record (snapshots), hence their mixed case.
    """

    jobId: str  # the public record's key
    generationId: str
    tenant: str
    email: str
    operation: str
    model: str
    media: str
    mime: str
    subtype: str
    credits: int
    params: dict[str, Any]
    source: str | None
    created_ms: int
    start_ms: int
    total_ms: int
    artifact_uuid: str
    maxJobs: int | None
    replyUrl: str | None
    replyRef: str | None
    # the planned end (plan_end): outcome, artifact delay, stall point, end (None while stalled), webhook knobs
    outcome: str = "completed"
    artifact_delay_ms: int = 0
    stall_progress: int | None = None
    end_ms: int | None = None
    webhook: dict[str, Any] = field(default_factory=dict)
    fail_progress: int | None = None  # failed jobs only
    message: str | None = None  # failed jobs only
    cancelled_ms: int | None = None  # set by a cancel / account deletion
    start_ms_resume: int | None = None  # set when a stalled job is released

    OPTIONAL: ClassVar[tuple[str, ...]] = ("fail_progress", "message", "cancelled_ms", "start_ms_resume")

    @classmethod
    def admit(cls, *, job_uuid: str, generation_id: str, tenant: str, email: str, operation: str, gen: Generation,
              params: dict[str, Any], source: str | None, start_ms: int, total_ms: int, artifact_uuid: str,
              max_jobs: int | None = None, reply_url: str | None = None, reply_ref: str | None = None) -> Job:
        """The one constructor of a new job (``Jobs.create``, and a scenario's declared job): call ``plan_end``."""
        return cls(f"email:{email}-job:{job_uuid}-type:{gen.media}", generation_id, tenant, email, operation,
                   gen.name, gen.media, gen.mime, gen.subtype, gen.credits, params, source, start_ms, start_ms,
                   total_ms, artifact_uuid, max_jobs, reply_url, reply_ref)

    def plan_end(self, outcome: dict[str, Any], now: int) -> None:
        """How the job started at ``now`` ends: ``outcome`` is a queued outcome (or a scenario's declared state).

        ``{"outcome": "completed"|"failed"|"stalled", "progress", "message", "artifact_delay_s", copies...}``.
        """
        kind = outcome.get("outcome", "completed")
        self.artifact_delay_ms = int(float(outcome.get("artifact_delay_s") or 0) * 1000)
        self.stall_progress = None
        self.fail_progress = self.message = None
        if kind == "failed":
            p = int(outcome.get("progress", 0) or 0)
            self.outcome = "failed"
            self.fail_progress = p
            self.message = outcome.get("message") or DEFAULT_FAILURE
            self.end_ms = now + self.total_ms * p // 100
        elif kind == "stalled":
            self.outcome = "completed"
            self.stall_progress = int(outcome.get("progress", 50) or 0)
            self.end_ms = None
        else:
            self.outcome = "completed"
            self.end_ms = now + self.total_ms
        self.webhook = {k: outcome[k] for k in WEBHOOK_KEYS if outcome.get(k)}

    # -- derived -------------------------------------------------------------
    def done_by(self) -> int | None:
        """When the job is fully done (artifact included), or None while stalled."""
        if self.end_ms is None:
            return None
        return self.end_ms + (self.artifact_delay_ms if self.outcome == "completed" else 0)

    def expires_at(self, retention_s: int) -> int:
        return self.created_ms + retention_s * 1000

    # -- serialised forms ------------------------------------------------------
    def to_row(self) -> list[Any]:
        """The values after ``jobId`` in field order; what ``jobId`` and the catalog already say is None."""
        row = list(_JOB_VALUES(self))
        if self.jobId.startswith(f"email:{self.email}-job:"):
            row[_EMAIL] = None
        gen = CATALOG.get(self.model)
        if gen is not None and (gen.media, gen.mime, gen.subtype, gen.credits) == (
                self.media, self.mime, self.subtype, self.credits):
            row[_MEDIA:_CREDITS + 1] = [None, None, None, None]
        if self.start_ms == self.created_ms:
            row[_START] = None
        if self.generationId.startswith("gen_"):
            row[_GEN] = _hex_int(self.generationId[4:])
        row[_ARTIFACT] = _uuid_int(self.artifact_uuid)
        if self.outcome == "completed":
            row[_OUTCOME] = None
        if self.end_ms is not None:
            row[_END] = self.end_ms - self.start_ms  # a small int: 5 bytes, not 11
        if not self.webhook:
            row[_WEBHOOK] = None
        return _strip(row, _JOB_REQUIRED)

    @classmethod
    def from_row(cls, key: str, row: list[Any]) -> Job:
        job = cls(key, *row)
        gen_id: Any = job.generationId
        if type(gen_id) is int:
            job.generationId = f"gen_{gen_id:0{GENERATION_HEX}x}"
        elif not gen_id.startswith("gen_"):
            job.generationId = "gen_" + gen_id
        job.artifact_uuid = _uuid_str(job.artifact_uuid)
        if job.outcome is None:
            job.outcome = "completed"
        if job.webhook is None:
            job.webhook = {}
        if job.email is None:
            job.email = key[6:key.index("-job:")]
        if job.media is None:
            gen = CATALOG[job.model]
            job.media, job.mime, job.subtype, job.credits = gen.media, gen.mime, gen.subtype, gen.credits
        if job.start_ms is None:
            job.start_ms = job.created_ms
        if job.end_ms is not None:
            job.end_ms += job.start_ms
        return job

    def to_dict(self) -> dict[str, Any]:
        """The public record: every field, the optional ones only when set (as the dict records had them)."""
        return {f: v for f in _JOB_FIELDS if (v := getattr(self, f)) is not None or f not in self.OPTIONAL}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        """A public record (a snapshot's or a scenario's ``record``); unknown keys are ignored."""
        return cls(**{f: d[f] for f in _JOB_FIELDS if f in d})


def _required(cls: type) -> int:
    """How many fields of a record class have no default: the part of a row never stripped."""
    return sum(1 for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)


_JOB_FIELDS = tuple(f.name for f in fields(Job))
_JOB_REQUIRED = _required(Job) - 1  # of a row: without jobId, its key
_JOB_VALUES = attrgetter(*_JOB_FIELDS[1:])  # every field after jobId, read in C
# positions in a row (the fields after jobId)
_GEN, _EMAIL, _MEDIA, _CREDITS, _START, _ARTIFACT, _OUTCOME, _END, _WEBHOOK = (
    _JOB_FIELDS.index(f) - 1
    for f in ("generationId", "email", "media", "credits", "start_ms", "artifact_uuid", "outcome", "end_ms",
              "webhook"))


def progress(job: Job, now: int) -> int:
    """Percent done at ``now`` by the clock alone (callers clamp it to the stall point / 99 / 100)."""
    if job.start_ms_resume and job.end_ms:
        # resumed after a stall: progress climbs from the stall point to 100 by end_ms
        base = job.stall_progress or 0
        span = max(1, job.end_ms - job.start_ms_resume)
        return int(base + (100 - base) * (now - job.start_ms_resume) / span)
    return int(100 * (now - job.start_ms) / max(1, job.total_ms))


def phase(job: Job, now: int) -> tuple[str, int]:
    """``(status type, progress)`` at ``now``: active (clamped), failed (at its fail point) or completed."""
    end = job.end_ms
    if end is None:
        return "active", max(0, min(job.stall_progress or 0, progress(job, now)))
    if now < end:
        return "active", max(0, min(99, progress(job, now)))
    if job.outcome == "failed":
        return "failed", job.fail_progress or 0
    return "completed", 100


@dataclass(slots=True)
class Render:
    """What an artifact's bytes are drawn from (``artifacts.artifact_bytes``): kept with the artifact, so the
    file outlives its job record's retention."""

    jobId: str
    media: str
    operation: str
    source: str | None
    params: dict[str, Any]

    @classmethod
    def of(cls, job: Job) -> Render:
        return cls(job.jobId, job.media, job.operation, job.source, job.params)


@dataclass(slots=True)
class Asset:
    """An uploaded file or a finished job's artifact, as GET assets/ lists it."""

    uuid: str
    tenant: str
    email: str
    type: str  # an upload's declared type (image, reference-image...), or "artifact"
    mimeType: str
    created_ms: int
    size: int | None = None  # uploads
    jobId: str | None = None  # artifacts: the job that made it
    subtype: str | None = None  # artifacts: artifactSubtype
    render: Render | None = None  # artifacts

    @classmethod
    def upload(cls, uuid: str, tenant: str, email: str, upload_type: str, mime: str, created_ms: int,
               size: int) -> Asset:
        return cls(uuid, tenant, email, upload_type, mime, created_ms, size)

    @classmethod
    def artifact(cls, job: Job, created_ms: int, *, render: bool = False) -> Asset:
        """A finished job's artifact; ``render``: with its own copy of what draws it (kept once the job is gone;
        while the job is stored, the job says it)."""
        return cls(job.artifact_uuid, job.tenant, job.email, "artifact", job.mime, created_ms, None, job.jobId,
                   job.subtype, Render.of(job) if render else None)

    @property
    def folder(self) -> str:
        return f"artifacts/{self.subtype}" if self.jobId else UPLOADS_FOLDER

    def to_row(self) -> list[Any]:
        """An upload: ``[tenant, email, type, mimeType, created_ms, size]``. An artifact: type None, its job's
        uuid for ``jobId`` when the id is the usual one, and its render (kept once its job has expired)."""
        if self.jobId is None:
            return [self.tenant, self.email, self.type, self.mimeType, self.created_ms, self.size]
        job_ref: int | str = self.jobId
        uuid = self.jobId[len(f"email:{self.email}-job:"):][:36]
        if self.jobId == _job_id(self.email, uuid, self.mimeType):
            job_ref = _uuid_int(uuid)
            if type(job_ref) is not int:
                job_ref = self.jobId
        r = self.render  # its jobId is the asset's own: not written twice
        render = None if r is None else [r.media, r.operation, r.source, r.params]
        kind: int | str = self.mimeType
        subtype = self.subtype
        pair = _ARTIFACT_KINDS.get((self.mimeType, self.subtype or ""))
        if pair is not None:  # a catalog model's (mimeType, artifactSubtype): one small int for both
            kind, subtype = pair, None
        return _strip([self.tenant, self.email, None, kind, self.created_ms, None, job_ref, subtype, render], 5)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Asset:
        """The dict record (a --state file written before rows); unknown keys (``folder``) are ignored."""
        render = d.get("render")
        return cls(d["uuid"], d["tenant"], d["email"], d["type"], d["mimeType"], d["created_ms"], d.get("size"),
                   d.get("jobId"), d.get("subtype"),
                   Render(**{k: render.get(k) for k in ("jobId", "media", "operation", "source", "params")})
                   if render else None)

    @classmethod
    def from_row(cls, key: str, row: list[Any]) -> Asset:
        asset = cls(key, *row)
        if asset.type is None:
            asset.type = "artifact"
            kind: Any = asset.mimeType
            if type(kind) is int:
                asset.mimeType, asset.subtype = _ARTIFACT_PAIRS[kind]
            ref: Any = asset.jobId
            if type(ref) is int:
                asset.jobId = _job_id(asset.email, _uuid_str(ref), asset.mimeType)
            if asset.render is not None:
                asset.render = Render(asset.jobId or "", *row[8])
        return asset


# (mimeType, artifactSubtype) of the catalog's models. Append only: stored rows name a pair by its index.
_ARTIFACT_PAIRS = (("image/png", "vertex-ai"), ("video/mp4", "model-serving"), ("video/mp4", "vertex-ai"))
_ARTIFACT_KINDS = {pair: i for i, pair in enumerate(_ARTIFACT_PAIRS)}


def _job_id(email: str, uuid: str, mime: str) -> str:
    return f"email:{email}-job:{uuid}-type:{mime.partition('/')[0]}"


# -- reading and writing them (the only code that knows their stored form) ----------------------------------
R = TypeVar("R", "Job", "Asset", "Account", "LtxUser")


def load_record(cls: type[R], key: str, stored: Any) -> R:
    """A record from what a store keeps: its row; or, the one upgrade path, the dict a --state file written
    before rows holds (``from_dict``, its key put back as the field it names)."""
    if type(stored) is dict:
        name = _KEY_FIELD[cls]
        return cls.from_dict({**stored, name: key} if name else stored)
    return cls.from_row(key, stored)


def get_job(store: Store, job_id: str) -> Job | None:
    row = store.get(JOB, job_id)
    return None if row is None else load_record(Job, job_id, row)


def get_jobs(store: Store, job_ids: list[str]) -> list[Job]:
    """The stored ones of ``job_ids``, in order (one round trip)."""
    return [load_record(Job, k, row) for k, row in zip(job_ids, store.get_many(JOB, job_ids), strict=True)
            if row is not None]


def put_job(store: Store, job: Job) -> None:
    store.put(JOB, job.jobId, job.to_row())


def get_asset(store: Store, uuid: str) -> Asset | None:
    row = store.get(ASSET, uuid)
    return None if row is None else load_record(Asset, uuid, row)


def get_assets(store: Store, uuids: list[str]) -> list[Asset]:
    return [load_record(Asset, k, row) for k, row in zip(uuids, store.get_many(ASSET, uuids), strict=True)
            if row is not None]


def put_asset(store: Store, asset: Asset) -> None:
    store.put(ASSET, asset.uuid, asset.to_row())


@dataclass(slots=True)
class Account:
    """A useapi.net account configuration: one per (API token's tenant, LTX Studio email).

    ``cookie`` keeps the LTX Studio session (lt_id, lt_token, lt_refresh_token): secrets, never shown
    (``Accounts.view`` masks them). Stored under ``account_key(tenant, email)``, so a row holds neither.
    """

    tenant: str
    email: str
    created_ms: int
    updated_ms: int
    maxJobs: int = DEFAULT_MAX_JOBS  # the public record's key
    cookie: dict[str, str] = field(default_factory=dict)

    @classmethod
    def configure(cls, tenant: str, email: str, created_ms: int, updated_ms: int, *, max_jobs: int | None = None,
                  cookie: dict[str, str] | None = None) -> Account:
        """The one constructor (POST /accounts, a scenario's declared account)."""
        return cls(tenant, email, int(created_ms), int(updated_ms),
                   DEFAULT_MAX_JOBS if max_jobs is None else int(max_jobs), dict(cookie or {}))

    @property
    def key(self) -> str:
        return account_key(self.tenant, self.email)

    def to_row(self) -> list[Any]:
        """``[created_ms, updated_ms, maxJobs, cookie]``: tenant and email are in the key."""
        return [self.created_ms, self.updated_ms, self.maxJobs, self.cookie]

    @classmethod
    def from_row(cls, key: str, row: list[Any]) -> Account:
        tenant, _, email = key.partition(_KEY_SEP)
        return cls(tenant, email, *row)

    def to_dict(self) -> dict[str, Any]:
        """The keys the dict records had."""
        return {"tenant": self.tenant, "email": self.email, "created_ms": self.created_ms,
                "updated_ms": self.updated_ms, "maxJobs": self.maxJobs, "cookie": dict(self.cookie)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Account:
        return cls(d["tenant"], d["email"], d["created_ms"], d.get("updated_ms", d["created_ms"]),
                   d.get("maxJobs", DEFAULT_MAX_JOBS), dict(d.get("cookie") or {}))


_KEY_SEP = "\x1f"


def account_key(tenant: str, email: str) -> str:
    return f"{tenant}{_KEY_SEP}{email}"


@dataclass(slots=True)
class LtxUser:
    """A user of the simulated LTX Studio: a session (``lt_id``, an expiring JWT-shaped ``lt_token``, an
    ``lt_refresh_token``), a subscription flag and a credit balance. The tokens are secrets: the views show
    them masked, or in clear only in the answer that issues them. Stored under its email.
    """

    email: str
    name: str | None
    lt_id: str
    credits: int
    subscription: bool
    created_ms: int
    lt_token: str = ""  # "" until a session is issued
    lt_refresh_token: str = ""
    token_expire: int = 0
    refresh_expire: int = 0
    latest_created_ms: int | None = None  # the last generation it paid for
    revoked: bool = False  # the session was ended upstream (PATCH tokenExpired)

    @classmethod
    def new(cls, email: str, name: str | None, lt_id: str, credits: int, subscription: bool,
            created_ms: int) -> LtxUser:
        """The one constructor (``LtxStudio.create_user``, which a scenario's declared user goes through too);
        the session comes from ``LtxStudio``, which signs it."""
        return cls(email, name, lt_id, int(credits), bool(subscription), created_ms)

    def to_row(self) -> list[Any]:
        """The values after ``email`` in field order, without trailing defaults."""
        row = list(_USER_VALUES(self))
        n = len(row)
        while n > _USER_REQUIRED and row[n - 1] == _USER_DEFAULTS[n - 1]:
            n -= 1
        return row[:n]

    @classmethod
    def from_row(cls, key: str, row: list[Any]) -> LtxUser:
        return cls(key, *row)

    def to_dict(self) -> dict[str, Any]:
        """The keys the dict records had (secrets included: a record, not a view)."""
        return {f: getattr(self, f) for f in _USER_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LtxUser:
        """A dict record; keys it lacks (older versions) take their defaults, unknown keys are ignored."""
        values = {f: d[f] for f in _USER_FIELDS if f in d and (d[f] is not None or f in _USER_NULLABLE)}
        values.setdefault("name", None)
        values["revoked"] = bool(values.get("revoked"))
        return cls(**values)


_USER_FIELDS = tuple(f.name for f in fields(LtxUser))
_USER_VALUES = attrgetter(*_USER_FIELDS[1:])
_USER_NULLABLE = ("name", "latest_created_ms")
_USER_REQUIRED = _required(LtxUser) - 1  # of a row: without email, its key
_USER_DEFAULTS = tuple(None if f.default is MISSING else f.default for f in fields(LtxUser)[1:])


def get_account(store: Store, tenant: str, email: str) -> Account | None:
    key = account_key(tenant, email)
    row = store.get(ACCOUNT, key)
    return None if row is None else load_record(Account, key, row)


def get_accounts(store: Store, tenant: str, emails: list[str]) -> list[Account]:
    """The stored ones of these accounts, in order (one round trip)."""
    keys = [account_key(tenant, e) for e in emails]
    return [load_record(Account, k, row) for k, row in zip(keys, store.get_many(ACCOUNT, keys), strict=True)
            if row is not None]


def put_account(store: Store, account: Account) -> None:
    store.put(ACCOUNT, account.key, account.to_row())


def get_user(store: Store, email: str) -> LtxUser | None:
    row = store.get(USER, email)
    return None if row is None else load_record(LtxUser, email, row)


def get_users(store: Store, emails: list[str]) -> list[LtxUser | None]:
    """Users for ``emails`` in order, None where missing (one round trip)."""
    return [None if row is None else load_record(LtxUser, k, row)
            for k, row in zip(emails, store.get_many(USER, emails), strict=True)]


def put_user(store: Store, user: LtxUser) -> None:
    store.put(USER, user.email, user.to_row())


_KEY_FIELD: dict[type, str | None] = {Job: "jobId", Asset: "uuid", LtxUser: "email", Account: None}  # in its key
