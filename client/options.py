"""Local checks of request options, before anything is sent.

Why check locally at all: a rejected generation still costs a round trip, and with `pollForResult` a
valid one can block for a minute; a typo in an option name would otherwise be sent and silently ignored.

The rules are not written here: they come from the request schemas of openapi.yaml (enums, ranges,
max lengths, and the per-model `if`/`then` rules, whose `x-error-message` becomes the error text), asked of
the contract engine (`contracts.spec`) by operationId, so the client, the simulator and the contract tests
enforce one set of rules with one implementation. Only the wording of the messages is the client's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from contracts.spec import Contract, SchemaCheck, get_contract

from .exceptions import ValidationError

__all__ = ["api_name", "build_body", "check_params", "python_name"]

# Python keyword -> the API's field name, where plain snake_case -> camelCase is not it.
_SPECIAL: dict[str, str] = {
    "audio_sfx": "audioSFX",
    "reference_strength": "reference_strength",
}
_REVERSE = {v: k for k, v in _SPECIAL.items()}


def api_name(name: str) -> str:
    """`aspect_ratio` -> `aspectRatio`, `reference_asset_id2` -> `referenceAssetId2`; API names stay."""
    if name in _SPECIAL:
        return _SPECIAL[name]
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def python_name(name: str) -> str:
    """The keyword a Python caller uses for an API field (for error messages)."""
    if name in _REVERSE:
        return _REVERSE[name]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _label(api: str) -> str:
    py = python_name(api)
    return py if py == api else f"{py} ({api})"


def _wants_string(schema: Any) -> bool:
    """True when a field takes strings only (durations are "5", not 5), so an int can be converted."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    if kinds:
        return "string" in kinds and not kinds & {"integer", "number"}
    values = schema.get("enum")
    if isinstance(values, list) and values:
        return all(isinstance(v, str) for v in values)
    return False


# Fields that carry credentials: their values never appear in an error message (or a log line).
SECRET_FIELDS = frozenset({"cookie"})


def _secret_message(name: str, error: Any) -> str:
    kind = getattr(error.kind, "name", None) or type(error.kind).__name__
    if name == "cookie" and kind.lower() == "pattern":
        return "must contain lt_token and lt_refresh_token (value not shown: it holds session secrets)"
    return f"invalid ({kind}; value not shown: it holds credentials)"


def _shorten(message: str, instance: Any) -> str:
    """Keep a 2000-character prompt out of the error message that says it is too long."""
    if isinstance(instance, str) and len(instance) > 60:
        quoted = json.dumps(instance, ensure_ascii=False)
        short = json.dumps(instance[:40], ensure_ascii=False)[:-1] + f'…" ({len(instance)} characters)'
        message = message.replace(quoted, short)
    return message if len(message) <= 300 else message[:297] + "..."


def _operation_id(operation: str) -> str:
    """An operationId; a Python method name (``create_image``) is accepted too."""
    return api_name(operation)


def _messages(check: SchemaCheck, instance: Any, prefix: str = "") -> list[str]:
    messages: list[str] = []
    for error, custom in check.failures(instance):
        path = list(error.instance_path)
        where = _label(str(path[0])) if path else ""
        if len(path) > 1:
            where += "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path[1:])
        if custom:
            text = custom
        elif (path and path[0] in SECRET_FIELDS) or prefix in SECRET_FIELDS:
            text = _secret_message(str(path[0]) if path else prefix, error)
        else:
            text = _shorten(error.message, error.instance)
        if prefix:
            where = prefix
        message = f"{where}: {text}" if where and not custom else text
        if message not in messages:
            messages.append(message)
    return messages


def build_body(operation: str, fields: dict[str, Any], *, contract: Contract | None = None,
               validate: bool = True) -> dict[str, Any]:
    """Map Python keywords to the API's field names, drop Nones and check the body against the contract.

    ``operation`` is the operationId (``createImage``). Raises `ValidationError` listing every problem;
    nothing is sent then.
    """
    operation_id = _operation_id(operation)
    label = python_name(operation_id)
    body: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        name = api_name(key)
        if name in body:
            raise ValidationError(f"{label}: {_label(name)} given twice")
        body[name] = value
    if not validate:
        return body
    op = (contract if contract is not None else get_contract())[operation_id]
    known = op.body_properties
    if known:
        unknown = [k for k in body if k not in known]
        if unknown:
            names = ", ".join(_label(k) for k in unknown)
            listed = ", ".join(sorted(python_name(k) for k in known))
            raise ValidationError(f"{label}: unknown option(s) {names}; known: {listed}")
        for key, value in body.items():
            is_int = isinstance(value, int) and not isinstance(value, bool)
            if is_int and _wants_string(known[key]):
                body[key] = str(value)
    check = op.request_body_check()
    if check is not None:
        problems = _messages(check, body)
        if problems:
            raise ValidationError(f"{label}: " + "; ".join(problems), problems)
    return body


def check_params(operation: str, params: dict[str, Any], *, contract: Contract | None = None,
                 validate: bool = True, location: str = "query") -> None:
    """Check query (or path) parameters of ``operation`` (an operationId) against their schemas."""
    if not validate:
        return
    operation_id = _operation_id(operation)
    op = (contract if contract is not None else get_contract())[operation_id]
    problems: list[str] = []
    for name, value in params.items():
        if value is None:
            continue
        check = op.param_check(location, name)
        if check is not None:
            problems += _messages(check, value, prefix=_label(name))
    if problems:
        raise ValidationError(f"{python_name(operation_id)}: " + "; ".join(problems), problems)
