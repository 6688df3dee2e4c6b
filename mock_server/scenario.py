"""Scenario files: declare a simulator's state in YAML, load it, write it back.

A scenario lists tokens, LTX users, configured accounts, uploaded assets (from
files or inline), jobs in given states, faults, queued outcomes and the clock
(the format: ``scenario-schema.yaml`` beside this file, with a description of
every field). ``ltx-mock serve --scenario FILE`` loads one at start-up and on
every reset; ``POST /__admin/scenario`` loads one into a running simulator until
its next reset; ``ltx-mock snapshot FILE`` writes the live state back as one,
exact enough that serving the snapshot answers every API read the same way.

Loading checks the whole file first and reports every mistake as
``FILE:LINE: field.path: problem``, so nothing is half-loaded from a bad file.
"""

from __future__ import annotations

import base64
import binascii
import functools
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import yaml
from ltxstudio_mock.mock_server.errors import ApiError
from ltxstudio_mock.mock_server.sim.records import Asset, Job

if TYPE_CHECKING:
    from ltxstudio_mock.mock_server.sim import Simulator

SCHEMA_PATH = Path(__file__).with_name("scenario-schema.yaml")
UPLOADS_FOLDER = "artifacts/user-uploads"
USER_FIELDS = {  # scenario field -> user record field
    "name": "name", "credits": "credits", "subscription": "subscription", "created": "created_ms",
    "lt_id": "lt_id", "lt_token": "lt_token", "lt_refresh_token": "lt_refresh_token",
    "tokenExpire": "token_expire", "refreshTokenExpire": "refresh_expire", "revoked": "revoked",
    "latestCreatedAtMs": "latest_created_ms",
}
WEBHOOK_KEYS = ("copies", "delay_s", "fail_first")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names file, line and field of each problem."""


# -- reading -------------------------------------------------------------------------------------
class _Located(dict):
    """A mapping that remembers the line of itself and of each of its keys."""

    line: int = 1
    lines: dict[str, int]


class _LocatedList(list):
    line: int = 1


class _LineLoader(yaml.SafeLoader):
    """A safe YAML loader whose mappings and sequences know their line numbers."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Located:
    out = _Located(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    out.lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LocatedList:
    out = _LocatedList(loader.construct_sequence(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime):  # YAML reads an unquoted timestamp as a datetime
        return node.isoformat().replace("+00:00", "Z")
    return node


def _line(doc: Any, path: list[Any]) -> int:
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


@functools.cache
def _schema() -> tuple[dict[str, Any], jsonschema_rs.Validator]:
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema, jsonschema_rs.Draft202012Validator(schema)


def _message(schema: dict[str, Any], err: Any) -> tuple[list[Any], str]:
    """A readable message and the instance path it is about (an unexpected key: that key)."""
    path = list(err.instance_path)
    node: Any = schema
    for part in list(err.schema_path)[:-1]:
        node = node.get(part) if isinstance(node, dict) else node[part] if isinstance(node, list) else None
        if node is None:
            break
    kind = type(err.kind).__name__
    if isinstance(node, dict) and node.get("errorMessage"):
        return path, node["errorMessage"]
    if kind == "AdditionalProperties":
        unexpected = list(getattr(err.kind, "unexpected", []))
        if unexpected:
            return [*path, unexpected[0]], f"unknown field {unexpected[0]!r}"
    if kind == "Enum" and isinstance(node, dict) and "enum" in node:
        return path, "must be one of: " + ", ".join(str(v) for v in node["enum"])
    return path, err.message


def parse(text: str, source: str = "<scenario>") -> dict[str, Any]:
    """Parse and check a scenario; raise ScenarioError naming every bad line and field."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ScenarioError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if doc is None:
        doc = _Located()
        doc.lines = {}
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}:1: (top level): a scenario is a mapping (tokens:, ltx_users:, ...)")
    check(doc, source)
    return doc


def check(doc: dict[str, Any], source: str = "<scenario>") -> None:
    """Validate a scenario document (parsed YAML or posted JSON) against the schema."""
    schema, validator = _schema()
    problems = []
    for err in validator.iter_errors(_plain(doc)):
        path, message = _message(schema, err)
        field = ".".join(str(p) for p in path) or "(top level)"
        problems.append((_line(doc, path), field, message))
    if problems:
        problems = sorted(set(problems), key=lambda p: (p[0], p[1]))
        raise ScenarioError("\n".join(f"{source}:{line}: {field}: {msg}" for line, field, msg in problems))


def read_scenario(path: str | Path) -> dict[str, Any]:
    """Read and check a scenario file; its ``file:`` entries are relative to its directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc.strerror or exc}") from None
    doc = parse(text, str(path))
    doc.source = str(path)  # type: ignore[attr-defined]
    doc.base_dir = path.parent.resolve()  # type: ignore[attr-defined]
    for i, asset in enumerate(doc.get("assets") or []):
        if "file" in asset and not (doc.base_dir / asset["file"]).is_file():  # type: ignore[attr-defined]
            raise ScenarioError(f"{path}:{_line(doc, ['assets', i, 'file'])}: assets.{i}.file: "
                                f"no such file {asset['file']!r} (paths are relative to the scenario)")
    return doc


def load_scenario(sim: Simulator, path: str | Path) -> None:
    """Apply a scenario file on top of a simulator's current state."""
    apply(sim, read_scenario(path), demo=False)


# -- applying ------------------------------------------------------------------------------------
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
        return ScenarioError(f"{self.source}:{_line(self.doc, path)}: {field}: {message}")

    def tenant(self, item: dict[str, Any], path: list[Any]) -> str:
        token = item.get("token") or self.default_token
        if not token:
            raise self.fail([*path, "token"], "no token given and the scenario declares none")
        return self.sim.add_token(token)

    def account_email(self, tenant: str, item: dict[str, Any], path: list[Any]) -> str:
        try:
            return self.sim.accounts.resolve(tenant, item.get("email"))["email"]
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
        sim.clock.reset(speed=float(clock.get("speed", before.speed)), start_ms=start)
        sim.clock.set(paused=bool(clock.get("paused", before.paused)))

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
                    user[key] = spec[field]
            if "lt_token" not in spec:
                # Snapshots carry no live session secrets: a fresh session, valid as long as the written one.
                sim.ltx.reissue_tokens(user, now)
            sim.ltx.restore(user)
            if spec.get("tokenExpired"):
                sim.ltx.patch_user(now, email, token_expired=True)
            elif spec.get("tokenExpired") is False and user.get("revoked"):
                sim.ltx.patch_user(now, email, new_session=True)

    def accounts(self) -> None:
        from ltxstudio_mock.mock_server.sim.accounts import DEFAULT_MAX_JOBS
        from ltxstudio_mock.mock_server.sim.ltx import parse_cookie

        sim = self.sim
        for i, spec in enumerate(self.doc.get("accounts") or []):
            path = ["accounts", i]
            tenant = self.tenant(spec, path)
            user = sim.ltx.get_user(spec["email"])
            if user is None:
                raise self.fail([*path, "email"], f"no LTX Studio user {spec['email']}: declare it under ltx_users:")
            now = self.now()
            old = sim.accounts.get(tenant, spec["email"]) or {}
            sim.accounts.restore({
                "tenant": tenant, "email": user["email"],
                "created_ms": spec.get("created", old.get("created_ms", now)),
                "updated_ms": spec.get("updated", now),
                "maxJobs": spec.get("maxJobs", old.get("maxJobs", DEFAULT_MAX_JOBS)),
                "cookie": _account_cookie(spec.get("cookie"), parse_cookie(sim.ltx.cookie_of(user))),
            })

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
        from ltxstudio_mock.mock_server.sim.catalog import CATALOG, TIMING_META, run_seconds
        from ltxstudio_mock.mock_server.sim.jobs import DEFAULT_MODEL, video_seconds

        sim = self.sim
        email = self.account_email(tenant, spec, path)
        operation = spec.get("operation", "images/create")
        model = "upscale" if operation == "images/upscale" else spec.get("model") or DEFAULT_MODEL[operation]
        gen = CATALOG[model]
        want_media = "video" if operation.startswith("videos/") else "image"
        if gen.media != want_media:
            raise self.fail([*path, "model"], f"{model} makes {gen.media}s; {operation} makes {want_media}s")
        params = dict(spec.get("params") or {"prompt": "A scenario job"})
        if model != "upscale" and operation != "images/upscale":
            params.setdefault("model", model)
        total = int((spec.get("runTime") or run_seconds(gen, operation, video_seconds(operation, model, params), 0,
                                                        sim.store.get_meta(TIMING_META))) * 1000)
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
        job = Job.admit(job_uuid=spec.get("id") or sim.ctx.uuid(), generation_id=f"gen_{sim.ctx.token_hex(12)}",
                        tenant=tenant, email=email, operation=operation, gen=gen, params=params, source=None,
                        start_ms=start, total_ms=total, artifact_uuid=sim.ctx.uuid(),
                        reply_url=spec.get("replyUrl"), reply_ref=spec.get("replyRef"))
        job.plan_end({"outcome": state if state in ("failed", "stalled") else "completed", "progress": progress,
                      "message": spec.get("message"), "artifact_delay_s": spec.get("artifactDelay")}, start)
        return job

    def timing(self) -> None:
        """Recorded run times: jobs of these models (and operations) take them instead of the catalog's."""
        from ltxstudio_mock.mock_server.sim.catalog import TIMING_META

        entries = self.doc.get("timing") or []
        if entries:
            self.sim.store.put_meta(TIMING_META, {
                (f"{e['operation']} {e['model']}" if e.get("operation") else e["model"]): float(e["seconds"])
                for e in entries})

    def faults(self) -> None:
        faults = self.sim.faults
        for i, rule in enumerate(self.doc.get("faults") or []):
            try:
                faults.add(dict(rule))
            except ApiError as exc:
                raise self.fail(["faults", i], exc.message) from None

    def outcomes(self) -> None:
        for spec in self.doc.get("outcomes") or []:
            flat = {k: v for k, v in spec.items() if k != "webhook"}
            flat.update(spec.get("webhook") or {})
            self.sim.jobs.queue_outcome(flat)


def apply(sim: Simulator, doc: dict[str, Any], *, demo: bool | None = None) -> None:
    """Apply a checked scenario document, in one atomic step.

    Order: clock, tokens, the demo data (when ``demo``, default the server's setting, and the
    scenario does not say ``demo: false``), users, accounts, assets, timing, jobs, faults, outcomes.
    """
    loader = _Loader(sim, doc)
    demo = sim.config.demo if demo is None else demo
    with sim.store.atomic():
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
        loader.outcomes()


def _account_cookie(declared: dict[str, str] | None, session: dict[str, str]) -> dict[str, str]:
    """An account's stored cookie: the declared fields, with the user's live session secrets where none are given.

    Snapshots write cookies without ``lt_token``/``lt_refresh_token`` (they never leave in clear).
    """
    from ltxstudio_mock.mock_server.cookies import SECRET_FIELDS

    if not declared:
        return session
    return {**declared, **{k: session[k] for k in SECRET_FIELDS if not declared.get(k) and k in session}}


# -- writing -------------------------------------------------------------------------------------
def snapshot(sim: Simulator) -> dict[str, Any]:
    """The live state as a scenario document that loads back to the same API answers.

    Uploaded bytes are inlined as base64 (``ltx-mock snapshot --assets-dir`` writes them as files).
    No LTX session secret is written: users and account cookies go without ``lt_token`` and
    ``lt_refresh_token`` (loading issues fresh ones). The API tokens are written: they are the
    snapshot's tenants, chosen by whoever configured the simulator (protect /__admin with --admin-token).
    Tenants whose token is unknown (state written before tokens were kept) are left out.
    """
    from ltxstudio_mock.mock_server.cookies import SECRET_FIELDS, mask_value

    store = sim.store
    st = sim.clock.state()
    doc: dict[str, Any] = {"version": 1, "demo": False,
                           "clock": {"now": sim.now(), "speed": st.speed, "paused": st.paused},
                           "tokens": [], "ltx_users": [], "accounts": [], "assets": [], "jobs": [],
                           "faults": [], "outcomes": []}
    tokens = sim.tenant_tokens()
    doc["tokens"] = list(tokens.values())
    for user in sim.ltx.list_users(0, 10**9):
        # the user's definition, not its live session secrets (a fresh session is issued on load)
        out = {field: user[key] for field, key in USER_FIELDS.items() if key in user and field not in SECRET_FIELDS}
        out["revoked"] = bool(user.get("revoked"))
        doc["ltx_users"].append({"email": user["email"], **out})
    for tid, token in tokens.items():
        for account in sim.accounts.all(tid):
            doc["accounts"].append({"token": token, "email": account["email"], "maxJobs": account["maxJobs"],
                                    "created": account["created_ms"], "updated": account["updated_ms"],
                                    "cookie": {k: v for k, v in account.get("cookie", {}).items()
                                               if k not in SECRET_FIELDS}})
            for upload in sim.assets.uploads(tid, account["email"]):
                data = sim.assets.blob(upload.uuid) or b""
                doc["assets"].append({"token": token, "email": account["email"], "uuid": upload.uuid,
                                      "mimeType": upload.mimeType, "type": upload.type,
                                      "created": upload.created_ms, "base64": base64.b64encode(data).decode()})
    for job in sim.jobs.all():
        if job.tenant in tokens:
            # a prompt may quote a cookie
            record = mask_value({k: v for k, v in job.to_dict().items() if k != "tenant"})
            doc["jobs"].append({"token": tokens[job.tenant], "record": record})
    from ltxstudio_mock.mock_server.sim.catalog import TIMING_META

    for key, seconds in (store.get_meta(TIMING_META) or {}).items():
        operation, _, model = key.rpartition(" ")
        doc.setdefault("timing", []).append({**({"operation": operation} if operation else {}), "model": model,
                                             "seconds": seconds})
    for rule in sim.faults.list():
        if rule.get("count") == 0 and rule.get("fraction") is None:
            continue
        doc["faults"].append({k: v for k, v in rule.items()
                              if k not in ("id", "hits") and v is not None and v is not False})
    for spec in store.get_meta("outcomes") or []:
        out = {k: v for k, v in spec.items() if k not in WEBHOOK_KEYS}
        hook = {k: spec[k] for k in WEBHOOK_KEYS if spec.get(k)}
        if hook:
            out["webhook"] = hook
        doc["outcomes"].append(out)
    return doc


def dump_yaml(doc: dict[str, Any]) -> str:
    """A snapshot as YAML text (key order kept, long base64 unwrapped)."""
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=2**31 - 1)


__all__ = ["ScenarioError", "apply", "check", "dump_yaml", "load_scenario", "parse", "read_scenario", "snapshot"]
