"""Turn a request into validated input, using the contract's compiled schemas.

The one request validator: the pipeline's ``validate`` step (both contracts) and the proxy's judgement of what a
client sent (``proxy/violations.py``) use these functions. Each takes its input explicitly (a werkzeug
``Request``, or a mapping of query values): no context lookups on the hot path.

JSON and multipart/form-data bodies are both accepted where the docs say so;
form fields arrive as strings and are coerced to the schema's types before the
same schema checks them, so both encodings get identical rules and messages.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from werkzeug.wrappers import Request

from contracts.spec import Operation, SchemaCheck, properties
from mock_server.bounds import TooDeep, load_json
from mock_server.errors import ApiError, bad_request

INT = re.compile(r"^[+-]?\d+$")
NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
BOOLS = {"true": True, "false": False, "1": True, "0": False}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
LONE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # cheap pre-check: any surrogate escape, paired or not


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return t
    if t:
        return [t]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [x for sub in schema[key] for x in _types(sub)]
    return []


def coerce(value: str, schema: dict[str, Any]) -> Any:
    """A form or query string as the type its schema wants (left alone when it does not fit)."""
    types = _types(schema)
    if "string" in types:
        return value
    if "integer" in types and INT.match(value) and len(value) <= 40:  # int() refuses > 4,300 digits: a 400, not a 500
        return int(value)
    if "number" in types and NUM.match(value):
        return float(value)
    if "boolean" in types and value.lower() in BOOLS:
        return BOOLS[value.lower()]
    return value


def _form_body(op: Operation, req: Request) -> dict[str, Any]:
    props = properties(op.body_schemas.get("multipart/form-data") or op.body_schema)
    body: dict[str, Any] = {}
    for name in req.form:
        if name is None:  # werkzeug's key for a part whose name="..." it could not parse: nothing to bind
            continue
        body[name] = coerce(req.form[name], props.get(name, {}))
    return body


def parse_body(op: Operation, req: Request) -> dict[str, Any]:
    """The request body as a dict: JSON, multipart or url-encoded; 400 on anything unreadable."""
    mimetype = req.mimetype
    if req.content_length is None:  # chunked: werkzeug stops one byte past the limit instead of refusing
        limit = req.max_content_length
        if limit is not None and len(req.get_data(cache=True)) >= limit:  # (forms then parse the cache)
            raise ApiError(413, f"Request body exceeds the {limit - 1} byte limit")
    if mimetype in FORM_TYPES and req.form:
        return _form_body(op, req)
    return parse_json_body(req.get_data(cache=True))


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON request body as a dict (empty: ``{}``); 400 on anything unreadable."""
    if not raw.strip():
        return {}
    try:
        body = load_json(raw)  # depth checked before parsing: deep nesting is a 400, not a RecursionError
    except TooDeep as exc:
        raise bad_request(f"Request body {exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    if LONE_SURROGATE.search(raw):
        try:  # "\ud800" alone parses, but the validator (and every JSON answer) must encode it as UTF-8
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request("Request body is not valid JSON: a \\u escape encodes a lone surrogate") from None
    return body


@functools.cache
def _declared(op: Operation, location: str) -> tuple[tuple[str, bool, dict[str, Any]], ...]:
    """The parameters of one location, looked up once per operation: (name, required, schema)."""
    return tuple((name, bool(param.get("required")), param.get("schema", {}))
                 for (loc, name), param in op.parameters.items() if loc == location)


MISSING: Any = object()  # a required parameter the request did not send


def _params(op: Operation, location: str, raw: Mapping[str, str]) -> Iterator[tuple[str, Any, SchemaCheck | None]]:
    """Each declared parameter of one location that was sent, coerced to its schema's type, with its check; a
    required one not sent as ``(name, MISSING, None)``."""
    for name, required, schema in _declared(op, location):
        if name not in raw:
            if required:
                yield name, MISSING, None
            continue
        yield name, coerce(raw[name], schema), op.param_check(location, name)


def check_params(op: Operation, location: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """Coerce and validate the declared parameters of one location (query or path): 400 on the first problem."""
    out: dict[str, Any] = {}
    if not _declared(op, location):
        return out  # most operations: no parameter here, no generator to run
    for name, value, check in _params(op, location, raw):
        if value is MISSING:
            raise bad_request(f"{name} is required")
        errors = check.errors(value) if check else []
        if errors:
            raise bad_request(f"{name}: {errors[0]}")
        out[name] = value
    return out


def check_body(op: Operation, body: dict[str, Any]) -> None:
    check = op.request_body_check()
    if check is None:
        return
    errors = check.errors(body)
    if errors:
        raise bad_request(errors[0])


def request_problems(op: Operation, req: Request, path: Mapping[str, str], *,
                     body: bool = True) -> list[tuple[str, str]]:
    """Every way a request breaks its operation's parameters and body, as ``(where, message)`` (``query.limit``,
    ``body.prompt``): Prism's "validate input", for the proxy. The same reading and checks as the pipeline's
    ``validate`` step (which answers 400 on the first): parameters coerced as :func:`check_params` does, a JSON or
    form body read as :func:`parse_body` does. ``body`` False: the body was not kept, only the parameters count."""
    out: list[tuple[str, str]] = []
    for location, raw in (("query", req.args), ("path", path)):
        for name, value, check in _params(op, location, raw):
            if value is MISSING:
                out.append((f"{location}.{name}", f"{name} is required"))
                continue
            out.extend((f"{location}.{name}" + (f".{where}" if where else ""), message)
                       for where, message in (check.problems(value) if check else []))
    data = req.get_data(cache=True) if body else None
    if data is None:
        return out
    if not data:
        return [*out, ("body", "a request body is required")] if op.body_required else out
    if req.mimetype != "application/json" and req.mimetype not in FORM_TYPES:
        return out  # a file (uploadAsset): its media type is the upstream's to judge
    try:
        parsed = parse_body(op, req)
    except ApiError as exc:
        return [*out, ("body", exc.message)]
    check = op.request_body_check()
    out.extend(("body" + (f".{where}" if where else ""), message)
               for where, message in (check.problems(parsed) if check else []))
    return out
