"""Applying a scenario: build the state a checked scenario document declares, through the rules.

The document comes parsed and checked (``mock_server/scenario/read.py`` reads YAML with line numbers and
validates it against ``scenario-schema.yaml``; ``POST /__admin/scenario`` posts JSON). Applying it is
rules work (users, accounts, uploads, jobs in given states, faults, queued outcomes, the clock), so it
lives here beside the rules and calls them: a declared job is built by the same constructor and end
planner as a created one (``Job.admit`` + ``Job.plan_end``). A problem found while applying is a
``ScenarioError`` naming the file, line and field, like the reader's.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mock_server.cookies import SECRET_FIELDS, parse_cookie
from mock_server.errors import ApiError
from mock_server.sim.catalog import CATALOG, model_of, run_seconds, video_resolution, video_seconds
from mock_server.sim.records import WEBHOOK_KEYS, Account, Asset, Job
from mock_server.sim.tenants import tenant_id

if TYPE_CHECKING:
    from mock_server.sim import Simulator

USER_FIELDS = {  # scenario field -> user record field
    "name": "name", "credits": "credits", "subscription": "subscription", "created": "created_ms",
    "lt_id": "lt_id", "lt_token": "lt_token", "lt_refresh_token": "lt_refresh_token",
    "tokenExpire": "token_expire", "refreshTokenExpire": "refresh_expire", "revoked": "revoked",
    "latestCreatedAtMs": "latest_created_ms",
}
__all__ = ["USER_FIELDS", "WEBHOOK_KEYS", "ScenarioError", "apply", "line_of"]


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names file, line and field of each problem."""


def line_of(doc: Any, path: list[Any]) -> int:
    """The line of the deepest part of ``path`` that the document knows."""
    node, line = doc, getattr(doc, "line", 1)
    for part in path:
        if isinstance(node, dict) and part in node:
            line = getattr(node, "lines", {}).get(str(part), line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line



class _Loader:
    """Applies one checked document; turns rule errors into ScenarioErrors that say where."""

    def __init__(self, sim: Simulator, doc: dict[str, Any]) -> None:
        self.sim = sim
        self.doc = doc
        self.source = getattr(doc, "source", "<scenario>")
        self.base_dir: Path | None = getattr(doc, "base_dir", None)
        tokens = list(doc.get("tokens") or []) or list(sim.config.tokens)
        self.default_token = tokens[0] if tokens else None

    def fail(self, path: list[Any], message: str) -> ScenarioError:
        field = ".".join(str(p) for p in path)
        return ScenarioError(f"{self.source}:{line_of(self.doc, path)}: {field}: {message}")

    def tenant(self, item: dict[str, Any], path: list[Any]) -> str:
        token = item.get("token") or self.default_token
        if not token:
            raise self.fail([*path, "token"], "no token given and the scenario declares none")
        return self.sim.add_token(token)

    def account_email(self, tenant: str, item: dict[str, Any], path: list[Any]) -> str:
        try:
            return self.sim.accounts.resolve(tenant, item.get("email")).email
        except ApiError as exc:
            raise self.fail([*path, "email"], f"{exc.message}: declare the account under accounts:") from None

    def now(self) -> int:
        return self.sim.now()

    # sections, in dependency order
    def clock(self) -> None:
        clock = self.doc.get("clock") or {}
        if not clock:
            return
        sim = self.sim
        before = sim.clock.state()
        start = clock.get("now")
        if isinstance(start, datetime):  # an unquoted YAML timestamp
            start = int(start.timestamp() * 1000)
        elif isinstance(start, str):
            start = int(datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000)
        sim.clock.reset(speed=float(clock.get("speed", before.speed)), start_ms=start,
                        paused=bool(clock.get("paused", before.paused)))

    def tokens(self) -> None:
        for token in self.doc.get("tokens") or []:
            self.sim.add_token(token)

    def users(self) -> None:
        sim = self.sim
        for spec in self.doc.get("ltx_users") or []:
            email = spec["email"]
            now = self.now()
            user = sim.ltx.get_user(email) or sim.ltx.create_user(
                now, email=email, credits=spec.get("credits"), subscription=spec.get("subscription", True))
            for field, key in USER_FIELDS.items():
                if field in spec:
                    setattr(user, key, spec[field])
            if "lt_token" not in spec:
                # Snapshots carry no live session secrets: a fresh session, valid as long as the written one.
                sim.ltx.reissue_tokens(user, now)
            sim.ltx.restore(user)
            if spec.get("tokenExpired"):
                sim.ltx.patch_user(now, email, token_expired=True)
            elif spec.get("tokenExpired") is False and user.revoked:
                sim.ltx.patch_user(now, email, new_session=True)

    def accounts(self) -> None:
        sim = self.sim
        for i, spec in enumerate(self.doc.get("accounts") or []):
            path = ["accounts", i]
            tenant = self.tenant(spec, path)
            user = sim.ltx.get_user(spec["email"])
            if user is None:
                raise self.fail([*path, "email"], f"no LTX Studio user {spec['email']}: declare it under ltx_users:")
            now = self.now()
            old = sim.accounts.get(tenant, spec["email"])
            sim.accounts.restore(Account.configure(
                tenant, user.email, spec.get("created", old.created_ms if old else now), spec.get("updated", now),
                max_jobs=spec.get("maxJobs", old.maxJobs if old else None),
                cookie=_account_cookie(spec.get("cookie"), parse_cookie(sim.ltx.cookie_of(user)))))

    def assets(self) -> None:
        sim = self.sim
        for i, spec in enumerate(self.doc.get("assets") or []):
            path = ["assets", i]
            if "file" in spec and "base64" in spec:
                raise self.fail(path, "give file or base64, not both")
            tenant = self.tenant(spec, path)
            email = self.account_email(tenant, spec, path)
            if "file" in spec:
                if self.base_dir is None:
                    raise self.fail([*path, "file"], "a posted scenario cannot name files: inline the bytes as "
                                                     "base64 (AdminClient.load_scenario does)")
                file = self.base_dir / spec["file"]
                try:
                    data = file.read_bytes()
                except OSError as exc:
                    raise self.fail([*path, "file"], f"cannot read {file}: {exc.strerror or exc}") from None
                mime = spec.get("mimeType") or mimetypes.guess_type(file.name)[0]
                if not mime:
                    raise self.fail([*path, "mimeType"], f"cannot tell the MIME type of {file.name}: give mimeType")
            else:
                try:
                    data = base64.b64decode(spec["base64"], validate=True)
                except (binascii.Error, ValueError):
                    raise self.fail([*path, "base64"], "not valid base64") from None
                mime = spec.get("mimeType")
                if not mime:
                    raise self.fail(path, "mimeType is required with base64")
            if not data:
                raise self.fail(path, "the asset is empty")
            uuid = spec.get("uuid") or sim.ctx.uuid()
            existing = sim.assets.get(uuid)
            if existing is not None and existing.tenant != tenant:
                raise self.fail([*path, "uuid"], "another tenant's asset has this uuid")
            sim.assets.restore(Asset.upload(uuid, tenant, email, spec.get("type", "image"), mime,
                                            spec.get("created", self.now()), len(data)), data)

    def jobs(self) -> None:
        for i, spec in enumerate(self.doc.get("jobs") or []):
            path = ["jobs", i]
            tenant = self.tenant(spec, path)
            record = spec.get("record")
            job = Job.from_dict({**record, "tenant": tenant}) if record else self._declared_job(tenant, spec, path)
            if not self.sim.jobs.restore(job, self.now()):
                raise self.fail(path, "this job is older than the job retention (GET /assets/{jobId} would be 404)")

    def _declared_job(self, tenant: str, spec: dict[str, Any], path: list[Any]) -> Job:
        """A job record in the declared state, as if the simulator had run it up to now."""
        sim = self.sim
        email = self.account_email(tenant, spec, path)
        operation = spec.get("operation", "images/create")
        model = model_of(operation, spec)
        gen = CATALOG[model]
        want_media = "video" if operation.startswith("videos/") else "image"
        if gen.media != want_media:
            raise self.fail([*path, "model"], f"{model} makes {gen.media}s; {operation} makes {want_media}s")
        params = dict(spec.get("params") or {"prompt": "A scenario job"})
        if model != "upscale" and operation != "images/upscale":
            params.setdefault("model", model)
        total = int((spec.get("runTime") or run_seconds(gen, operation, video_seconds(operation, model, params), 0,
                                                        sim.jobs.timing(),
                                                        video_resolution(operation, model, params))) * 1000)
        state = spec.get("state", "completed")
        progress = int(spec.get("progress", 0 if state == "failed" else 50))
        now = self.now()
        # when it started, and how it ends: a queued outcome of the same shape the rules plan with
        if state in ("active", "stalled"):
            start = now - total * progress // 100
        elif state == "failed":
            start = now - int(spec["age"] * 1000) if "age" in spec else now - total * progress // 100
        else:
            start = now - int(spec["age"] * 1000) if "age" in spec else now - total
        job = Job.admit(job_uuid=spec.get("id") or sim.ctx.uuid(), generation_id=sim.ctx.generation_id(),
                        tenant=tenant, email=email, operation=operation, gen=gen, params=params, source=None,
                        start_ms=start, total_ms=total, artifact_uuid=sim.ctx.uuid(),
                        reply_url=spec.get("replyUrl"), reply_ref=spec.get("replyRef"))
        job.plan_end({"outcome": state if state in ("failed", "stalled") else "completed", "progress": progress,
                      "message": spec.get("message"), "artifact_delay_s": spec.get("artifactDelay")}, start)
        return job

    def timing(self) -> None:
        """Recorded run times: jobs of these models (and operations) take them instead of the catalog's."""
        entries = self.doc.get("timing") or []
        if entries:
            self.sim.jobs.set_timing([{k: e[k] for k in ("operation", "model", "duration", "resolution", "seconds",
                                                          "samples", "spread") if e.get(k) is not None}
                                      for e in entries])

    def faults(self) -> None:
        faults = self.sim.faults
        for i, rule in enumerate(self.doc.get("faults") or []):
            try:
                faults.add(dict(rule))
            except ApiError as exc:
                raise self.fail(["faults", i], exc.message) from None

    def stubs(self) -> None:
        for i, spec in enumerate(self.doc.get("stubs") or []):
            token = (spec.get("match") or {}).get("token")
            try:
                self.sim.stubs.add(dict(spec), tenant_id(token) if token else None)
            except ApiError as exc:
                raise self.fail(["stubs", i], exc.message) from None

    def retry_after(self) -> None:
        try:
            self.sim.faults.set_own_retry_after(self.doc.get("retry_after") and
                                                {"retry_after": self.doc["retry_after"]["seconds"],
                                                 "retry_after_format": self.doc["retry_after"].get("format")})
        except ApiError as exc:
            raise self.fail(["retry_after"], exc.message) from None

    def outcomes(self) -> None:
        for spec in self.doc.get("outcomes") or []:
            flat = {k: v for k, v in spec.items() if k != "webhook"}
            flat.update(spec.get("webhook") or {})
            self.sim.jobs.queue_outcome(flat)


def apply(sim: Simulator, doc: dict[str, Any], *, demo: bool | None = None) -> None:
    """Apply a checked scenario document, in one atomic step.

    Order: clock, tokens, the demo data (when ``demo``, default the server's setting, and the
    scenario does not say ``demo: false``), users, accounts, assets, timing, jobs, faults, stubs, the own
    429's Retry-After, outcomes.
    """
    loader = _Loader(sim, doc)
    demo = sim.config.demo if demo is None else demo
    with sim.atomic():
        loader.clock()
        loader.tokens()
        if demo and doc.get("demo", True):
            sim.add_demo_accounts(sim.now())
        loader.users()
        loader.accounts()
        loader.assets()
        loader.timing()
        loader.jobs()
        loader.faults()
        loader.stubs()
        loader.retry_after()
        loader.outcomes()


def _account_cookie(declared: dict[str, str] | None, session: dict[str, str]) -> dict[str, str]:
    """An account's stored cookie: the declared fields, with the user's live session secrets where none are given.

    Snapshots write cookies without ``lt_token``/``lt_refresh_token`` (they never leave in clear).
    """
    if not declared:
        return session
    return {**declared, **{k: session[k] for k in SECRET_FIELDS if not declared.get(k) and k in session}}
