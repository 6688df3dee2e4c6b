"""Hypothesis strategies for contract-valid requests and responses of any operation.

For people testing their own client against this API without a server::

    from hypothesis import given
    from contracts.strategies import response_body

    @given(response_body("getJob"))
    def test_my_client_parses_any_job(body): ...

Values are built from the resolved schemas of ``openapi.yaml`` (OpenAPI 3.1, i.e.
JSON Schema 2020-12: ``if``/``then``, ``const``, type lists, ``oneOf`` with
``not``) by schemathesis' own JSON Schema generator (schemathesis 4 no longer
pulls in ``hypothesis-jsonschema``; its generator canonicalises 2020-12 in
Rust, through ``jsonschema_rs``, and is what ``ltx-mock check`` generates
requests with, so both sides agree). ``x-`` extension
keys and ``example(s)`` are stripped first. Every value is also checked with the
same compiled validator the simulator uses, so a draw is valid by construction
*and* by test. With ``semantic=True`` (the default) response bodies are also
made to obey ``contracts.checks`` (consistent pagination ``meta``, scheduler
counts, masked secrets, well-formed ids), so a client can rely on them.
"""

from __future__ import annotations

import functools
import math
import re
import uuid as uuid_mod
from typing import Any

from hypothesis import strategies as st

from contracts.checks import GENERATION_MEDIA, JOB_ID, SECRET_FIELDS, SECURED
from contracts.spec import SchemaCheck, get_contract

MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")  # RFC 6838
DROPPED_KEYS = frozenset({"example", "examples", "description", "summary", "title", "$comment", "externalDocs"})


def clean_schema(node: Any) -> Any:
    """A copy of ``node`` without ``x-`` extensions or annotations a generator must not read."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key.startswith("x-") or key in DROPPED_KEYS:
                continue
            # ``properties`` maps names to schemas: its keys are property names, never keywords
            out[key] = {k: clean_schema(v) for k, v in value.items()} if key in ("properties", "$defs") \
                and isinstance(value, dict) else clean_schema(value)
        return out
    if isinstance(node, list):
        return [clean_schema(v) for v in node]
    return node


_COMPOSITION = ("allOf", "if", "then", "else", "not")  # further rules on the same object
_ALTERNATIVES = ("anyOf", "oneOf")
_OPEN_KEYWORDS = ("additionalProperties", "propertyNames", "patternProperties", "unevaluatedProperties")


def _property_names(node: Any) -> set[str]:
    """Names an object schema declares, through its composition keywords."""
    if not isinstance(node, dict):
        return set()
    names = set((node.get("properties") or {}).keys())
    for key in (*_COMPOSITION, *_ALTERNATIVES):
        value = node.get(key)
        for sub in value if isinstance(value, list) else [value]:
            names |= _property_names(sub)
    return names


def close_objects(node: Any, outermost: bool = True) -> Any:
    """A copy of ``node`` whose objects carry only their declared properties (``propertyNames`` enum).

    The contract leaves objects open; generating their arbitrary extra members is most of the
    cost of a draw, and a client only sometimes needs to be tested against them. Only the
    outermost schema of an object is closed: ``allOf``/``if``/``then`` parts describe the same
    object and name only some of its properties.
    """
    if isinstance(node, list):
        return [close_objects(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: close_objects(sub) for name, sub in value.items()}
        elif key in _COMPOSITION:
            out[key] = [close_objects(v, False) for v in value] if isinstance(value, list) else \
                close_objects(value, False)
        elif key in _ALTERNATIVES and isinstance(value, list):
            separate = outermost and not node.get("properties")  # alternatives for the whole value
            out[key] = [close_objects(v, separate) for v in value]
        elif key in ("items", "additionalProperties", "contains") and isinstance(value, dict):
            out[key] = close_objects(value)
        else:
            out[key] = value
    names = _property_names(node)
    if outermost and names and not any(k in node for k in _OPEN_KEYWORDS):
        out["propertyNames"] = {"enum": sorted(names)}
    return out


@functools.cache
def _formats() -> dict[str, st.SearchStrategy[Any]]:
    from schemathesis.specs.openapi.formats import get_default_format_strategies

    return get_default_format_strategies()


@functools.cache
def _draft_2020_12() -> int:
    import jsonschema_rs
    from schemathesis.core.jsonschema import CANONICALIZE_DRAFT_BY_VALIDATOR

    return CANONICALIZE_DRAFT_BY_VALIDATOR[jsonschema_rs.Draft202012Validator]


def from_schema(schema: dict[str, Any], *, extra_properties: bool = True) -> st.SearchStrategy[Any]:
    """Values valid against a resolved JSON Schema 2020-12 ``schema`` (no ``$ref`` left).

    ``extra_properties=False`` draws objects with only their declared members (2-3x faster).
    """
    from schemathesis.generation.jsonschema.builder import build

    check = SchemaCheck(schema)
    cleaned = clean_schema(schema)
    if not extra_properties:
        cleaned = close_objects(cleaned)
    strategy = build(cleaned, draft=_draft_2020_12(), formats=_formats())
    return strategy.filter(check.validator.is_valid)


def _operation(operation_id: str) -> Any:
    contract = get_contract()
    if operation_id not in contract.operations:
        raise KeyError(f"unknown operation {operation_id!r}; known: {', '.join(contract.operations)}")
    return contract[operation_id]


@functools.cache
def response_body(operation_id: str, status: int = 200, media_type: str = "application/json", *,
                  semantic: bool = True, extra_properties: bool = True) -> st.SearchStrategy[Any]:
    """Bodies the contract allows ``operation_id`` to answer with ``status`` (KeyError if undocumented).

    A documented status without content (a 204) yields ``None``. ``semantic`` also makes them obey
    ``contracts.checks``; ``extra_properties=False`` leaves out undeclared object members (faster).
    """
    op = _operation(operation_id)
    if not op.documents_status(status):
        raise KeyError(f"{operation_id} documents no {status} response; documented: {', '.join(op.responses)}")
    content = next(op.responses[k] for k in (str(status), f"{str(status)[0]}XX", "default") if k in op.responses)
    if not content:
        return st.none()
    if media_type not in content:
        raise KeyError(f"{operation_id} {status} has no {media_type} body; documented: {', '.join(content)}")
    strategy = from_schema(content[media_type], extra_properties=extra_properties)
    if semantic:
        repair = functools.partial(make_semantic, operation_id) if status < 300 else _mask_only
        strategy = st.tuples(strategy, st.randoms(use_true_random=False)).map(lambda drawn: repair(*drawn))
    return strategy


@functools.cache
def request_body(operation_id: str, media_type: str = "application/json", *,
                 extra_properties: bool = True) -> st.SearchStrategy[Any]:
    """Request bodies the contract accepts for ``operation_id`` (KeyError if it takes none in ``media_type``).

    ``extra_properties=False`` sends only the fields the contract names (the service ignores others).
    """
    op = _operation(operation_id)
    schema = op.body_schemas.get(media_type)
    if schema is None:
        raise KeyError(f"{operation_id} takes no {media_type} body; it takes: {', '.join(op.body_schemas) or 'none'}")
    if schema.get("format") == "binary":  # an upload: the raw file
        return st.binary(min_size=1, max_size=4096)
    return from_schema(schema, extra_properties=extra_properties)


# -- making bodies obey the semantic checks -----------------------------------------
def _uuid(rnd: Any) -> str:
    return str(uuid_mod.UUID(int=rnd.getrandbits(128)))


def make_semantic(operation_id: str, body: Any, rnd: Any) -> Any:
    """Adjust a schema-valid success ``body`` so it also passes ``contracts.checks`` (stays schema-valid)."""
    body = _mask(body)  # a fresh copy: drawn values may be shared (enum / const members)
    if not isinstance(body, (dict, list)):
        return body
    if operation_id == "listAssets" and isinstance(body, dict):
        _fix_pagination(body)
    if operation_id == "getSchedulerAvailable" and isinstance(body, dict):
        _fix_capacity(body)
    media = GENERATION_MEDIA.get(operation_id)
    _fix_ids(body, rnd, media)
    return body


def _mask_only(body: Any, _rnd: Any) -> Any:
    return _mask(body)


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (SECURED if k in SECRET_FIELDS else _mask(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v) for v in node]
    if isinstance(node, str) and ("eyJ" in node or "lt_token=" in node or "lt_refresh_token=" in node):
        return node.replace("eyJ", "ey_").replace("lt_token=", "lt_token:").replace("lt_refresh_token=", "lt_refresh:")
    return node


def _fix_pagination(body: dict[str, Any]) -> None:
    """Make ``meta`` describe ``items``: a full page anywhere, or a short last page."""
    items = body.get("items")
    meta = body.get("meta")
    if not isinstance(items, list) or not isinstance(meta, dict):
        return
    per_page = max(len(items), 1, meta.get("itemsPerPage") or 0)
    current = max(1, meta.get("currentPage") or 1)
    before = (current - 1) * per_page
    # a short page is the last one; a full page may have any number of pages after it
    total = before + len(items) if len(items) < per_page else max(meta.get("totalItems") or 0, before + len(items))
    meta.update(totalItems=total, itemCount=len(items), itemsPerPage=per_page, currentPage=current,
                totalPages=math.ceil(total / per_page))


def _fix_capacity(body: dict[str, Any]) -> None:
    """``executing`` = the account's listed jobs (it may exceed ``maxJobs``), ``available`` = max(0, the difference)."""
    listed: dict[str, int] = {}
    for job in body.get("executing") or []:
        if isinstance(job, dict) and isinstance(job.get("email"), str):
            listed[job["email"]] = listed.get(job["email"], 0) + 1
    for entry in body.get("available") or []:
        if not isinstance(entry, dict):
            continue
        email = entry.get("email")
        executing = listed.get(email, 0) if isinstance(email, str) else 0
        max_jobs = entry["maxJobs"] if isinstance(entry.get("maxJobs"), int) else executing
        entry.update(executing=executing, maxJobs=max_jobs, available=max(0, max_jobs - executing))


def _fix_ids(node: Any, rnd: Any, media: str | None) -> None:
    if isinstance(node, list):
        for v in node:
            _fix_ids(v, rnd, media)
        return
    if not isinstance(node, dict):
        return
    job_id = node.get("jobId")
    if isinstance(job_id, str):
        m = JOB_ID.match(job_id)
        email = node["email"] if isinstance(node.get("email"), str) else (m["email"] if m else "user@example.com")
        kind = media or (m["type"] if m else "image")
        node["jobId"] = f"email:{email}-job:{_uuid(rnd)}-type:{kind}"
        media = media or kind  # a job's own artifact has the job's media
    asset = node.get("asset")
    if isinstance(asset, dict) and isinstance(asset.get("fileId"), str) and asset["fileId"].startswith("asset:"):
        mime = asset.get("mimeType")
        if not isinstance(mime, str) or not MIME.fullmatch(mime):
            mime = "image/png"
        asset["mimeType"] = mime
        asset["fileId"] = f"asset:{_uuid(rnd)}-type:{mime}"
    status = node.get("status")
    if media and isinstance(status, dict) and isinstance(status.get("artifact"), dict):
        ref = status["artifact"].get("asset")
        if isinstance(ref, dict) and isinstance(ref.get("mimeType"), str):
            ref["mimeType"] = "image/png" if media == "image" else "video/mp4"
            if isinstance(ref.get("fileId"), str) and ref["fileId"].startswith("asset:"):
                ref["fileId"] = f"asset:{_uuid(rnd)}-type:{ref['mimeType']}"
    for key, value in node.items():
        if key not in ("jobId",):
            _fix_ids(value, rnd, media)


__all__ = ["clean_schema", "close_objects", "from_schema", "make_semantic", "request_body", "response_body"]
