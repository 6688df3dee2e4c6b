"""This API's own semantic checks: rules a JSON schema cannot say.

Each check is a plain function that takes a response (a ``requests.Response``,
or anything shaped like one, such as schemathesis' ``Response``) and raises
``CheckFailure`` naming the defect, or returns ``None``. They are usable on
their own, in a user's test suite, and ``ltx-mock check`` runs them on every
response schemathesis gets.

Stateless checks look at one response::

    check_job_id_format, check_asset_id_format, check_secrets_masked,
    check_scheduler_capacity, check_pagination

Stateful ones also take a small history object::

    check_job_status(response, history)                 status only moves forward, progress never falls
    check_artifacts_arrived(history, fetch, ...)         a completed job eventually has an artifact
    check_refusal_side_effects(response, before, after)  a 402/429 spends nothing and creates no job

``semantic_failures(response, history)`` runs every check that applies to a
response and returns what failed.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from contracts.spec import Operation, get_contract

SECURED = "…secured…"
SECRET_FIELDS = ("lt_token", "lt_refresh_token")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MIME_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # RFC 6838 restricted-name: a MIME type or subtype
# JSON Schema's (ECMA-262's) \s, which is narrower than Python's: the spec's Email pattern means this one.
WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
JOB_ID = re.compile(rf"^email:(?P<email>[^@{WS}]+@[^@{WS}]+)-job:(?P<uuid>{UUID})-type:(?P<type>image|video)$")
FILE_ID = re.compile(rf"^asset:(?P<uuid>{UUID})-type:(?P<mime>{MIME_NAME}/{MIME_NAME})$")
# Three base64url segments, the first two JSON objects ("eyJ" is base64 of '{"'): a JWT, signed or not.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# A cookie fragment carrying a token-looking value (8+ token characters; not a regex or a mask).
COOKIE_SECRET = re.compile(r"\b(lt_token|lt_refresh_token)=([A-Za-z0-9._~+/-]{8,}=*)")
GENERATION_MEDIA = {"createImage": "image", "editImage": "image", "upscaleImage": "image",
                    "createLtxVideo": "video", "createVeoVideo": "video"}
GENERATION_OPERATIONS = frozenset(GENERATION_MEDIA)
STATUS_RANK = {"active": 0, "completed": 1, "failed": 1}


class CheckFailure(AssertionError):
    """A response breaks one of this API's rules; ``defect`` names the rule, the message says how."""

    def __init__(self, defect: str, message: str, *, expected: str = "", where: str = "") -> None:
        super().__init__(f"{defect}: {message}")
        self.defect = defect
        self.detail = message
        self.expected = expected
        self.where = where  # the JSON path in the body it is about ("available[0].executing"), "" if none
        self.check = ""  # the check function that raised it, filled in by runners


# -- reading any response ---------------------------------------------------
class ResponseView:
    """What the checks need from a response, whichever library produced it.

    Works for ``requests.Response`` and schemathesis' ``Response`` (whose headers are a dict of lists).
    """

    def __init__(self, response: Any, operation_id: str | None = None) -> None:
        self.raw = response
        self.status = int(response.status_code)
        self.content: bytes = response.content or b""
        self._request = getattr(response, "request", None)
        self.method = (getattr(self._request, "method", None) or "GET").upper()
        self.url = getattr(self._request, "url", None) or ""
        self._operation_id = operation_id
        self._json: Any = ...

    @functools.cached_property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)

    @functools.cached_property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.url).query, keep_blank_values=True).items()}

    @functools.cached_property
    def request_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in dict(getattr(self._request, "headers", None) or {}).items()}

    @functools.cached_property
    def request_body(self) -> bytes:
        body = getattr(self._request, "body", None)
        return body.encode() if isinstance(body, str) else (body or b"")

    def header(self, name: str) -> str:
        headers = self.raw.headers
        value = headers.get(name) if hasattr(headers, "get") else None
        if value is None and hasattr(headers, "get"):
            value = headers.get(name.lower())
        if isinstance(value, list):
            value = value[0] if value else None
        return value or ""

    @property
    def json(self) -> Any:
        """The parsed body, or None when it is empty or not JSON."""
        if self._json is ...:
            try:
                self._json = json.loads(self.content) if self.content else None
            except ValueError:
                self._json = None
        return self._json

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @functools.cached_property
    def request_json(self) -> Any:
        ctype = self.request_headers.get("content-type", "")
        if "json" not in ctype or not self.request_body:
            return None
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None

    @functools.cached_property
    def request_fields(self) -> list[tuple[str, str]]:
        """(name, value) of every string the request sent: JSON members, form fields, query, path."""
        out: list[tuple[str, str]] = [(k, v) for k, v in self.query.items()]
        out.append(("path", self.path))
        body = self.request_json
        if body is not None:
            out += [(str(k), v) for _, k, v in _walk(body) if isinstance(v, str)]
        elif self.request_body and "form" in self.request_headers.get("content-type", ""):
            from werkzeug.formparser import parse_form_data
            from werkzeug.test import EnvironBuilder

            environ = EnvironBuilder(method="POST", data=self.request_body,
                                     content_type=self.request_headers["content-type"]).get_environ()
            try:
                _, form, _ = parse_form_data(environ)
                out += [(str(k), v) for k, v in form.items(multi=True)]
            except ValueError:
                pass
        return out

    @functools.cached_property
    def operation(self) -> Operation | None:
        if self._operation_id:
            return get_contract()[self._operation_id]
        return operation_for(self.method, self.path)

    @functools.cached_property
    def operation_id(self) -> str | None:
        op = self.operation
        return op.operation_id if op else None

    @property
    def token(self) -> str:
        scheme, _, token = self.request_headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def path_param(self, name: str) -> str | None:
        op = self.operation
        if op is None:
            return None
        for candidate in _relative_paths(self.path):
            m = op.path_regex.match(candidate)
            if m and name in m.groupdict():
                return m[name]
        return None


def _relative_paths(path: str) -> Iterator[str]:
    """``path`` with the server prefix removed, then every suffix (a server mounted elsewhere)."""
    prefix = get_contract().server_prefix
    if prefix and path.startswith(prefix + "/"):
        yield path[len(prefix):]
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/" + "/".join(parts[i:])


def operation_for(method: str, path: str) -> Operation | None:
    """The operation serving ``method path`` (a full URL path, with or without the server prefix)."""
    contract = get_contract()
    for rel in _relative_paths(path):
        for candidate in (rel, rel + "/" if not rel.endswith("/") else rel.rstrip("/")):
            op = contract.match(method, candidate)
            if op is not None:
                return op
    return None


def _view(response: Any, operation_id: str | None = None) -> ResponseView:
    return response if isinstance(response, ResponseView) else ResponseView(response, operation_id)


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) of a JSON document, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            where = f"{path}.{k}" if path else str(k)
            yield where, k, v
            yield from _walk(v, where)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            where = f"{path}[{i}]"
            yield where, i, v
            yield from _walk(v, where)


def _objects_with(body: Any, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, object) for every object in ``body`` that has ``key``."""
    if isinstance(body, dict) and key in body:
        yield "", body
    for where, _, value in _walk(body):
        if isinstance(value, dict) and key in value:
            yield where, value


def _listed(body: Any, key: str | None) -> Iterator[tuple[str, Any]]:
    items = body.get(key) if key is not None and isinstance(body, dict) else body if key is None else None
    if isinstance(items, list):
        prefix = key or ""
        yield from ((f"{prefix}[{i}]", item) for i, item in enumerate(items))


def _job_carriers(op_id: str | None, body: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, object) for the places the contract puts a ``jobId`` in this operation's answer."""
    if op_id is None:
        yield from _objects_with(body, "jobId")
        return
    if op_id in GENERATION_MEDIA or op_id == "getJob":
        candidates: Iterable[tuple[str, Any]] = [("", body)]
    elif op_id == "listRunningJobs":
        candidates = _listed(body, None)
    elif op_id == "getSchedulerAvailable":
        candidates = _listed(body, "executing")
    elif op_id == "listAssets":
        candidates = _listed(body, "items")
    else:
        candidates = []
    yield from ((where, obj) for where, obj in candidates if isinstance(obj, dict) and "jobId" in obj)


def _asset_refs(op_id: str | None, body: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, AssetRef object) for the places the contract puts an asset reference in this answer."""
    if op_id is None:
        yield from _objects_with(body, "fileId")
        return
    if not isinstance(body, (dict, list)):
        return
    signed: list[tuple[str, Any]] = []
    if op_id == "uploadAsset":
        signed = [("", body)]
    elif op_id == "listAssets":
        signed = [(f"{where}.signedAsset", item.get("signedAsset")) for where, item in _listed(body, "items")
                  if isinstance(item, dict)]
    elif (op_id in GENERATION_MEDIA or op_id == "getJob") and isinstance(body, dict):
        status = body.get("status")
        signed = [("status.artifact", status.get("artifact"))] if isinstance(status, dict) else []
    for where, item in signed:
        asset = item.get("asset") if isinstance(item, dict) else None
        if isinstance(asset, dict) and "fileId" in asset:
            yield (f"{where}.asset" if where else "asset"), asset


# -- stateless checks -------------------------------------------------------
def check_job_id_format(response: Any, operation_id: str | None = None) -> None:
    """Every ``jobId`` is ``email:{account email}-job:{UUID}-type:{image|video}`` and fits its context.

    The schema's pattern only says "36 characters of hex and dashes"; clients parse the id (the
    account it runs on, the media type) so the parts must be right: a canonical UUID, the media of
    the operation that made it, the account the request named, the job that was asked for.
    """
    view = _view(response, operation_id)
    if view.status >= 300 or not isinstance(view.json, (dict, list)):
        return
    op_id = view.operation_id
    expected = "email:{account email}-job:{8-4-4-4-12 hex UUID}-type:{image|video}"
    for where, obj in _job_carriers(op_id, view.json):
        job_id = obj["jobId"]
        label = f"{where}.jobId" if where else "jobId"
        if not isinstance(job_id, str):
            continue  # a type error: response_schema_conformance reports it
        m = JOB_ID.match(job_id)
        if m is None:
            raise CheckFailure("malformed jobId", f"{label} {job_id!r} is not {expected}", expected=expected,
                               where=label)
        if "email" in obj and isinstance(obj["email"], str) and obj["email"] != m["email"]:
            raise CheckFailure("jobId names another account",
                               f"{label} {job_id!r} runs on {m['email']} but the entry's email is {obj['email']!r}",
                               expected="the jobId's email part equal to the entry's email", where=label)
    if op_id in GENERATION_MEDIA and isinstance(view.json, dict) and isinstance(view.json.get("jobId"), str):
        m = JOB_ID.match(view.json["jobId"])
        assert m is not None
        media = GENERATION_MEDIA[op_id]
        if m["type"] != media:
            raise CheckFailure("jobId of the wrong media type",
                               f"{op_id} returned {view.json['jobId']!r}, a {m['type']} job",
                               expected=f"a jobId ending in -type:{media}", where="jobId")
        asked = view.request_json.get("email") if isinstance(view.request_json, dict) else None
        if isinstance(asked, str) and asked and asked != m["email"]:
            raise CheckFailure("job ran on another account",
                               f"the request named email {asked!r} but the job runs on {m['email']!r}",
                               expected=f"a jobId starting with email:{asked}-job:", where="jobId")
    if op_id == "getJob" and isinstance(view.json, dict) and isinstance(view.json.get("jobId"), str):
        asked = view.path_param("jobId")
        if asked and asked != view.json["jobId"]:
            raise CheckFailure("another job returned", f"asked for {asked!r}, got {view.json['jobId']!r}",
                               expected=f"jobId {asked!r}", where="jobId")


def check_asset_id_format(response: Any, operation_id: str | None = None) -> None:
    """Asset ``fileId``s are ``asset:{UUID}-type:{MIME type}`` with the asset's own MIME type.

    Uploads and artifacts are referenced later by this id (``referenceAssetId``, ``startAssetId``),
    and the service matches its MIME part against the file, so a wrong part breaks later requests.
    An upload's id carries the ``Content-Type`` it was sent with; a job's artifact has its media.
    """
    view = _view(response, operation_id)
    if view.status >= 300 or not isinstance(view.json, (dict, list)):
        return
    op_id = view.operation_id
    expected = "asset:{8-4-4-4-12 hex UUID}-type:{the asset's mimeType}"
    for where, obj in _asset_refs(op_id, view.json):
        fid = obj["fileId"]
        label = f"{where}.fileId" if where else "fileId"
        if not isinstance(fid, str) or not fid.startswith("asset:"):
            continue  # thumbnails and other derived files have their own ids
        m = FILE_ID.match(fid)
        if m is None:
            raise CheckFailure("malformed asset id", f"{label} {fid!r} is not {expected}", expected=expected,
                               where=label)
        mime = obj.get("mimeType")
        if isinstance(mime, str) and mime and mime != m["mime"]:
            raise CheckFailure("asset id names another MIME type",
                               f"{label} {fid!r} says {m['mime']} but mimeType is {mime!r}", expected=expected,
                               where=label)
    body = view.json
    if op_id == "uploadAsset" and isinstance(body, dict) and isinstance(body.get("asset"), dict):
        fid = body["asset"].get("fileId")
        sent = view.request_headers.get("content-type", "").split(";")[0].strip().lower()
        if fid is None:
            return  # every field of an upload answer is optional in the contract
        if not isinstance(fid, str) or not FILE_ID.match(fid):
            raise CheckFailure("malformed asset id", f"upload returned asset.fileId {fid!r}", expected=expected,
                               where="asset.fileId")
        if sent and FILE_ID.match(fid)["mime"].lower() != sent:  # type: ignore[index]
            raise CheckFailure("asset id names another MIME type",
                               f"uploaded as {sent} but asset.fileId is {fid!r}",
                               expected=f"asset:{{UUID}}-type:{sent}", where="asset.fileId")
    if op_id in GENERATION_MEDIA or op_id == "getJob":
        media = GENERATION_MEDIA.get(op_id or "")
        job_id = body.get("jobId") if isinstance(body, dict) else None
        if isinstance(job_id, str) and JOB_ID.match(job_id):
            media = JOB_ID.match(job_id)["type"]  # type: ignore[index]
        artifact = ((body.get("status") or {}).get("artifact") or {}) if isinstance(body, dict) else {}
        mime = (artifact.get("asset") or {}).get("mimeType") if isinstance(artifact, dict) else None
        if media and isinstance(mime, str) and "/" in mime and not mime.startswith(media + "/"):
            raise CheckFailure("artifact of the wrong media type",
                               f"a {media} job's artifact is {mime}", expected=f"a {media}/* artifact",
                               where="status.artifact.asset.mimeType")


def check_secrets_masked(response: Any) -> None:
    """No response carries an LTX Studio session secret or the caller's API token.

    ``lt_token`` and ``lt_refresh_token`` are returned as ``…secured…``; any other value, a
    ``lt_token=...`` cookie fragment, or a JWT-looking string anywhere in the body is a leak
    (a JWT the request itself sent in a non-secret field, e.g. ``replyRef``, may be echoed).
    """
    view = _view(response)
    text = view.text
    if not text:
        return
    expected = f"lt_token / lt_refresh_token values of {SECURED!r}, no JWT, no API token"
    if "_token" in text:  # only then can a secret field be there: spare the walk otherwise
        for where, key, value in _walk(view.json):
            if key in SECRET_FIELDS and value != SECURED:
                raise CheckFailure("secret leaked", f"{where} is {_clip(value)!r}, not {SECURED!r}",
                                   expected=expected, where=where)
    if "eyJ" not in text and "_token=" not in text:
        echoed: list[str] = []
    else:
        echoed = _echoable_strings(view)
    for m in COOKIE_SECRET.finditer(text):
        if not any(m[0] in s for s in echoed):
            raise CheckFailure("secret leaked", f"the body contains the cookie fragment {_clip(m[0])!r}",
                               expected=expected)
    for m in JWT.finditer(text):
        if not any(m[0] in s for s in echoed):
            raise CheckFailure("secret leaked", f"the body contains a JWT-looking string {_clip(m[0])!r}",
                               expected=expected)
    token = view.token
    if len(token) >= 8 and token in text and not any(token in value for _, value in view.request_fields):
        raise CheckFailure("secret leaked", "the body echoes the caller's API token", expected=expected)


def _echoable_strings(view: ResponseView) -> list[str]:
    """Strings the request itself sent where the service may echo them: anything but the ``cookie``."""
    return [value for name, value in view.request_fields if name != "cookie" and "lt_token" not in value]


def _clip(value: Any, n: int = 40) -> str:
    s = value if isinstance(value, str) else json.dumps(value)
    return s if len(s) <= n else s[:n] + "…"


def check_scheduler_capacity(response: Any, history: JobHistory | None = None) -> None:
    """GET /scheduler/available reports capacity a client can act on.

    Per account: ``available`` is exactly how many plain requests (no per-request ``maxJobs``) would
    be admitted now, ``maxJobs`` - ``executing`` floored at 0, and ``executing`` counts every running
    job, i.e. the jobs ``executing[]`` lists for that account. ``executing`` may exceed ``maxJobs``:
    per-request ``maxJobs`` overrides admit jobs past the configured limit, and a lowered limit does not
    stop jobs already running. With a ``history`` (every earlier response, in order) the admissions are
    checked too: each listed job, when it was admitted, found fewer jobs of its account running (the
    ones listed before it, which are still running) than its limit, its override or the configured
    ``maxJobs``. An account with a listed job this history never saw admitted is not judged that way.
    """
    view = _view(response)
    if view.status != 200 or view.operation_id != "getSchedulerAvailable" or not isinstance(view.json, dict):
        return
    listed: dict[str, list[Any]] = {}
    started: dict[str, str] = {}  # jobId -> when it started (ISO, so it sorts): the service's admission order
    for job in view.json.get("executing") or []:
        if isinstance(job, dict) and isinstance(job.get("email"), str):
            listed.setdefault(job["email"], []).append(job.get("jobId"))
            if isinstance(job.get("jobId"), str) and isinstance(job.get("started"), str):
                started[job["jobId"]] = job["started"]
    for i, entry in enumerate(view.json.get("available") or []):
        if not isinstance(entry, dict):
            continue
        email, max_jobs, executing, free = (entry.get(k) for k in ("email", "maxJobs", "executing", "available"))
        if not (isinstance(max_jobs, int) and isinstance(executing, int)):
            continue
        if isinstance(free, int) and free != max(0, max_jobs - executing):
            raise CheckFailure("available is not maxJobs - executing",
                               f"available[{i}] ({email}): maxJobs {max_jobs}, executing {executing}, "
                               f"available {free}", expected=f"available {max(0, max_jobs - executing)}",
                               where=f"available[{i}].available")
        jobs = listed.get(email, []) if isinstance(email, str) else []
        if len(jobs) != executing:
            raise CheckFailure("executing count disagrees with the executing list",
                               f"available[{i}] ({email}) says executing {executing} but executing[] lists "
                               f"{len(jobs)} jobs of it", expected=f"executing {len(jobs)}",
                               where=f"available[{i}].executing")
        if history is not None and isinstance(email, str):
            _check_admissions(i, email, max_jobs, jobs, started, history)


def _check_admissions(i: int, email: str, max_jobs: int, jobs: list[Any], started: dict[str, str],
                      history: JobHistory) -> None:
    """Each running job was admitted below its limit: the jobs admitted before it and still running count.

    Admission order is ``started`` (the service's own clock), then the order the answers arrived in
    (concurrent requests may be answered in another order than admitted; same-instant starts may not).
    """
    if not jobs or not all(isinstance(j, str) and j in history.admitted for j in jobs):
        return
    configured = max(max_jobs, history.max_jobs_seen.get(email, max_jobs))  # it may have been lowered since
    order = sorted(jobs, key=lambda j: (started.get(j, ""), history.admitted[j][0]))
    for ahead, job_id in enumerate(order):
        override = history.admitted[job_id][1]
        limit = override if override is not None else configured
        if ahead >= limit:
            how = f"per-request maxJobs {override}" if override is not None else f"maxJobs {configured}"
            raise CheckFailure("job admitted above maxJobs",
                               f"available[{i}] ({email}): {job_id} was admitted while {ahead} jobs of the account "
                               f"(still running) were executing, with {how}",
                               expected=f"admitted only while fewer than {limit} jobs were executing",
                               where=f"available[{i}].executing")


def record_capacity(response: Any, history: JobHistory) -> None:
    """Note what the capacity check needs later: admitted jobs (in order, with any override) and maxJobs seen."""
    view = _view(response)
    body = view.json
    if view.status != 200 or not isinstance(body, (dict, list)):
        return
    op_id = view.operation_id
    if op_id in GENERATION_OPERATIONS and isinstance(body, dict) and isinstance(body.get("jobId"), str):
        if body["jobId"] not in history.admitted:
            sent = dict(view.request_fields) if view.request_json is None else view.request_json
            override = sent.get("maxJobs") if isinstance(sent, dict) else None
            if isinstance(override, str) and override.strip().isdigit():
                override = int(override)
            history.admitted[body["jobId"]] = (len(history.admitted), override if isinstance(override, int) and
                                               not isinstance(override, bool) else None)
        return
    rows: list[Any] = []
    if op_id in ("createAccount", "getAccount") and isinstance(body, dict):
        rows = [body]
    elif op_id == "listAccounts" and isinstance(body, dict):
        rows = list(body.values())
    elif op_id == "getSchedulerAvailable" and isinstance(body, dict):
        rows = body.get("available") or []
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("email"), str) and isinstance(row.get("maxJobs"), int):
            email = row["email"]
            history.max_jobs_seen[email] = max(row["maxJobs"], history.max_jobs_seen.get(email, 0))


def check_pagination(response: Any) -> None:
    """GET /assets/ ``meta`` agrees with ``items`` and with the page that was asked for.

    ``itemCount`` == len(items), ``totalPages`` == ceil(totalItems / itemsPerPage), ``currentPage``
    is the requested ``page`` (default 1), ``itemsPerPage`` the requested ``limit`` (default 20), and
    the page holds exactly the items left for it.
    """
    view = _view(response)
    if view.status != 200 or view.operation_id != "listAssets" or not isinstance(view.json, dict):
        return
    items, meta = view.json.get("items"), view.json.get("meta")
    if not isinstance(items, list) or not isinstance(meta, dict):
        return
    total, count, per_page, pages, current = (meta.get(k) for k in
                                             ("totalItems", "itemCount", "itemsPerPage", "totalPages", "currentPage"))

    def fail(what: str, expected: str) -> CheckFailure:
        return CheckFailure("pagination meta disagrees", f"{what} (meta {json.dumps(meta)})", expected=expected,
                            where="meta")

    if isinstance(count, int) and count != len(items):
        raise fail(f"itemCount {count} but {len(items)} items", f"itemCount {len(items)}")
    if isinstance(total, int) and isinstance(per_page, int) and per_page > 0 and isinstance(pages, int):
        want = math.ceil(total / per_page)
        if pages != want:
            raise fail(f"totalPages {pages} for totalItems {total} / itemsPerPage {per_page}", f"totalPages {want}")
    # What was asked for (defaults 1 and 20); a body checked without its request skips these two.
    page = _int(view.query.get("page"), 1) if view.url else None
    limit = _int(view.query.get("limit"), 20) if view.url else None
    if page is not None and isinstance(current, int) and current != page:
        raise fail(f"currentPage {current} for a request of page {page}", f"currentPage {page}")
    if limit is not None and isinstance(per_page, int) and per_page != limit:
        raise fail(f"itemsPerPage {per_page} for a request of limit {limit}", f"itemsPerPage {limit}")
    if isinstance(total, int) and isinstance(per_page, int) and isinstance(current, int) and per_page > 0:
        want = max(0, min(per_page, total - (current - 1) * per_page))
        if len(items) != want:
            raise fail(f"page {current} holds {len(items)} items of {total} at {per_page} per page",
                       f"{want} items")


def _int(value: str | None, default: int) -> int | None:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        return None


# -- stateful checks --------------------------------------------------------
@dataclass
class JobSighting:
    """The last status a job was seen in."""

    job_id: str
    status: str
    progress: float | None
    has_artifact: bool
    at: float  # time.monotonic() of the sighting
    completed_at: float | None = None  # first sighting as completed without an artifact
    had_artifact: bool = False


@dataclass
class JobHistory:
    """What has been seen of each job so far, in the order the responses arrived.

    One history per run (or per test); feed it every response with ``check_job_status``.
    """

    jobs: dict[str, JobSighting] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    # for check_scheduler_capacity: jobId -> (admission order, per-request maxJobs or None); email -> largest maxJobs
    admitted: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    max_jobs_seen: dict[str, int] = field(default_factory=dict)

    def pending_artifacts(self) -> list[str]:
        """Jobs seen completed whose artifact has not been seen yet."""
        return [j.job_id for j in self.jobs.values() if j.status == "completed" and not j.has_artifact]

    def job_ids(self) -> list[str]:
        return list(self.jobs)


def _job_of(view: ResponseView) -> dict[str, Any] | None:
    body = view.json
    if view.status != 200 or not isinstance(body, dict) or not isinstance(body.get("status"), dict):
        return None
    if not isinstance(body.get("jobId"), str):
        return None
    return body


def check_job_status(response: Any, history: JobHistory) -> None:
    """A job's status only moves forward and its ``progress`` never falls.

    ``active`` may become ``completed`` or ``failed``; neither ever becomes ``active`` again, nor
    each other. A completed job that showed an artifact keeps showing one. Records the sighting in
    ``history`` (including completed jobs still waiting for their artifact).
    """
    view = _view(response)
    job = _job_of(view)
    if job is None:
        return
    status = job["status"]
    kind = status.get("type")
    if kind not in STATUS_RANK:
        return
    progress = status.get("progress") if isinstance(status.get("progress"), (int, float)) else None
    artifact = status.get("artifact")
    has_artifact = isinstance(artifact, dict) and bool(artifact.get("assetUrl"))
    job_id = job["jobId"]
    now = history.clock()
    before = history.jobs.get(job_id)
    sighting = JobSighting(job_id, kind, progress, has_artifact, now,
                           completed_at=now if kind == "completed" and not has_artifact else None,
                           had_artifact=has_artifact)
    if before is not None:
        sighting.had_artifact = before.had_artifact or has_artifact
        if before.completed_at is not None and kind == "completed" and not has_artifact:
            sighting.completed_at = before.completed_at
        history.jobs[job_id] = sighting
        if STATUS_RANK[kind] < STATUS_RANK[before.status] or (before.status != kind and before.status != "active"):
            raise CheckFailure("job status went back",
                               f"{job_id} was {before.status} and is now {kind}",
                               expected=f"{before.status} (terminal) or a later status", where="status.type")
        if progress is not None and before.progress is not None and progress < before.progress:
            raise CheckFailure("job progress fell", f"{job_id} progress {before.progress} -> {progress}",
                               expected=f"progress >= {before.progress}", where="status.progress")
        if before.had_artifact and kind == "completed" and not has_artifact:
            raise CheckFailure("job artifact disappeared", f"{job_id} showed status.artifact before, now none",
                               expected="status.artifact with an assetUrl", where="status.artifact")
    else:
        history.jobs[job_id] = sighting


def check_artifacts_arrived(history: JobHistory, fetch: Callable[[str], Any], *, timeout_s: float = 30.0,
                            wait: Callable[[float], None] = time.sleep, interval_s: float = 1.0) -> None:
    """Every job seen ``completed`` eventually shows ``status.artifact.assetUrl``.

    The docs warn that ``completed`` and the artifact may be out of sync, so this polls each
    pending job with ``fetch(jobId)`` (a GET /assets/{jobId} returning a response) until it shows
    one or ``timeout_s`` (measured with ``wait``: pass a function that advances a simulated clock
    to avoid real sleeping) has passed. Each answer also goes through ``check_job_status``.
    """
    waited = 0.0
    pending = history.pending_artifacts()
    while pending:
        for job_id in pending:
            check_job_status(fetch(job_id), history)
        pending = history.pending_artifacts()
        if not pending or waited >= timeout_s:
            break
        step = min(interval_s, timeout_s - waited)
        wait(step)
        waited += step
    if pending:
        raise CheckFailure("completed job never got an artifact",
                           f"{', '.join(pending[:3])}{' …' if len(pending) > 3 else ''} still completed without "
                           f"status.artifact after {waited:g}s", expected="status.artifact.assetUrl")


@dataclass
class Observation:
    """Balances and running jobs at one instant, to compare around a refused request."""

    balances: dict[str, float | None]
    running: set[str]


def observe(get: Callable[[str], Any], emails: Iterable[str] | None = None) -> Observation:
    """Read every account's balance and the running jobs, with ``get(path)`` -> response.

    ``path`` is relative to the API root (``/accounts``); the responses are not checked here.
    Pass the account ``emails`` when known to save the GET /accounts.
    """
    balances: dict[str, float | None] = {}
    if emails is None:
        accounts = get("/accounts")
        body = accounts.json() if accounts.status_code == 200 else None
        emails = list(body) if isinstance(body, dict) else []
    for email in emails:
        resp = get(f"/accounts/{email}")
        value = None
        if resp.status_code == 200:
            value = ((resp.json() or {}).get("balance") or {}).get("LTXStudio_token")
        balances[email] = value if isinstance(value, (int, float)) else None
    running: set[str] = set()
    sched = get("/scheduler")
    if sched.status_code == 200 and isinstance(sched.json(), list):
        running = {j["jobId"] for j in sched.json() if isinstance(j, dict) and isinstance(j.get("jobId"), str)}
    return Observation(balances, running)


def check_refusal_side_effects(response: Any, before: Observation, after: Observation) -> None:
    """A generation refused for credits (402) or capacity (429) spends nothing and creates no job.

    ``before`` and ``after`` are ``observe()``s taken just before the request and right after its
    answer. A balance may rise in between (another job failed and was refunded) but never fall,
    and no job may start running.
    """
    view = _view(response)
    if view.status not in (402, 429) or view.operation_id not in GENERATION_OPERATIONS:
        return
    reason = "credits (402)" if view.status == 402 else "capacity (429)"
    for email, was in before.balances.items():
        now = after.balances.get(email)
        if was is not None and now is not None and now < was:
            raise CheckFailure("refused request spent credits",
                               f"refused for {reason}, yet {email}'s balance fell {was:g} -> {now:g}",
                               expected=f"balance >= {was:g}")
    new = sorted(after.running - before.running)
    if new:
        raise CheckFailure("refused request created a job", f"refused for {reason}, yet {new[0]} started running",
                           expected="no new job in GET /scheduler")


# -- all of them ------------------------------------------------------------
STATELESS_CHECKS: tuple[Callable[[Any], None], ...] = (
    check_job_id_format, check_asset_id_format, check_secrets_masked, check_scheduler_capacity, check_pagination,
)


def semantic_failures(response: Any, history: JobHistory | None = None,
                      checks: Iterable[Callable[[Any], None]] = STATELESS_CHECKS) -> list[tuple[str, CheckFailure]]:
    """Run every applicable check on ``response``: a list of (check name, failure), empty when fine.

    With a ``history`` the job-status check runs too (and records the response).
    """
    view = _view(response)
    out: list[tuple[str, CheckFailure]] = []
    named: list[tuple[str, Callable[[Any], None]]] = [(check.__name__, check) for check in checks]
    if history is not None:
        named = [(name, functools.partial(check_scheduler_capacity, history=history)
                  if check is check_scheduler_capacity else check) for name, check in named]
        named.append((check_job_status.__name__, functools.partial(check_job_status, history=history)))
    for name, check in named:
        try:
            check(view)
        except CheckFailure as exc:
            exc.check = name
            out.append((name, exc))
    if history is not None:
        record_capacity(view, history)
    return out


def check_response(response: Any, history: JobHistory | None = None) -> None:
    """Raise the first ``CheckFailure`` of ``semantic_failures`` (for ``assert``-style use in tests)."""
    failures = semantic_failures(response, history)
    if failures:
        raise failures[0][1]


__all__ = [
    "CheckFailure", "JobHistory", "JobSighting", "Observation", "ResponseView", "check_artifacts_arrived",
    "check_asset_id_format", "check_job_id_format", "check_job_status", "check_pagination",
    "check_refusal_side_effects", "check_response", "check_scheduler_capacity", "check_secrets_masked", "observe",
    "operation_for", "record_capacity", "semantic_failures",
]
