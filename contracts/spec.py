"""The contract engine: the one place that reads ``openapi.yaml`` (and the admin API's document).

The document is parsed, its ``$ref``s inlined and every schema compiled into a
``jsonschema_rs`` validator once, when first asked for; after that a request or
response check is a dictionary lookup and a call into Rust.

Everything that interprets the contract asks this module, by operationId: the simulator's
request validation (``mock_server/api/inputs.py``) and strict response mode, the admin API
(its own document, same engine), the reference client's local option checks
(``client/options.py``) and the toolkit (``contracts.validate``, checks, strategies, runner).
So parameters, schemas, property lookup, ``x-error-message`` and response validation each
have one implementation.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jsonschema_rs

SPEC_NAME = "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def spec_path() -> Path:
    """Where ``openapi.yaml`` is: inside the installed package, else the source checkout's root."""
    packaged = importlib.resources.files(__name__.rpartition(".")[0]) / SPEC_NAME
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1] / SPEC_NAME


@functools.cache
def load_spec(path: str | None = None) -> dict[str, Any]:
    """The parsed YAML document (cached; treat it as read-only)."""
    import yaml  # on first use: importing the client (which asks this engine) stays cheap

    with open(path or spec_path(), encoding="utf-8") as fh:
        # libyaml's parser when present: the same document, ~85 ms less of every start-up.
        document: dict[str, Any] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return document


def resolve_refs(node: Any, root: dict[str, Any], _seen: tuple[str, ...] = ()) -> Any:
    """Return ``node`` with every local ``$ref`` replaced by a copy of its target."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in _seen:
                raise ValueError(f"recursive $ref {ref}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return resolve_refs(merged, root, (*_seen, ref))
        return {k: resolve_refs(v, root, _seen) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, root, _seen) for v in node]
    return node


def properties(schema: Any) -> dict[str, Any]:
    """Every property a resolved schema names, also inside ``allOf``/``anyOf``/``oneOf`` and ``then``/``else``.

    The first declaration wins, so the top-level ``properties`` (the field's full schema) beat the
    narrowing repeats of the per-model rules. The simulator types form fields by it; the client
    rejects option names outside it.
    """
    if not isinstance(schema, dict):
        return {}
    found: dict[str, Any] = dict(schema.get("properties") or {})
    subs = [sub for keyword in ("allOf", "anyOf", "oneOf") for sub in schema.get(keyword) or []]
    subs += [schema.get("then"), schema.get("else")]
    for sub in subs:
        for name, value in properties(sub).items():
            found.setdefault(name, value)
    return found


@dataclass
class SchemaCheck:
    """A compiled schema plus the raw one, to find ``x-error-message`` on failure."""

    schema: dict[str, Any]
    validator: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.validator = jsonschema_rs.Draft202012Validator(self.schema, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        return bool(self.validator.is_valid(instance))

    def failures(self, instance: Any) -> Iterator[tuple[Any, str | None]]:
        """Each failure as (``jsonschema_rs.ValidationError``, its ``x-error-message`` or None).

        The client words its own messages from these (Python names, secrets withheld).
        """
        for err in self.validator.iter_errors(instance):
            yield err, self.custom_message(err.schema_path)

    def errors(self, instance: Any, *, limit: int = 5) -> list[str]:
        """Readable messages, empty when valid."""
        out = [msg if custom or not parts else f"{'.'.join(str(p) for p in parts)}: {msg}"
               for parts, msg, custom in self._problems(instance, limit)]
        return list(dict.fromkeys(out))

    def problems(self, instance: Any, *, limit: int = 5) -> list[tuple[str, str]]:
        """(JSON path such as ``items[0].asset.fileId``, message) of each error, empty when valid.

        The path is "" for the document itself. ``ltx-mock proxy`` reports it beside the message.
        """
        return list(dict.fromkeys((json_path(parts), msg) for parts, msg, _ in self._problems(instance, limit)))

    def _problems(self, instance: Any, limit: int) -> list[tuple[tuple[Any, ...], str, bool]]:
        if self.validator.is_valid(instance):
            return []
        out: list[tuple[tuple[Any, ...], str, bool]] = []
        for err, custom in self.failures(instance):
            parts = tuple(err.instance_path)
            out.append((parts, custom, True) if custom else (parts, err.message, False))
            if len(out) >= limit:
                break
        # A custom message (from x-error-message) is the most specific: show it first.
        return sorted(dict.fromkeys(out), key=lambda p: not p[2])

    def custom_message(self, schema_path: Any) -> str | None:
        """The deepest ``x-error-message`` on the way to the failing keyword.

        Conditional rules carry theirs on ``then`` or on the ``allOf`` item; a failed
        ``anyOf``/``oneOf`` may carry it on its branches (each the same explanation).
        """
        node: Any = self.schema
        message: str | None = None
        for part in (*schema_path, None):
            if isinstance(node, dict) and isinstance(node.get("x-error-message"), str):
                message = node["x-error-message"]
            if part is None:
                break
            if isinstance(node, dict) and isinstance(part, str):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return message
        if isinstance(node, list):
            for branch in node:
                if isinstance(branch, dict) and isinstance(branch.get("x-error-message"), str):
                    return cast(str, branch["x-error-message"])
        return message


def json_path(parts: Any) -> str:
    """``["items", 0, "asset"]`` as ``items[0].asset`` (the form the semantic checks' messages use)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(eq=False)
class Operation:
    """One operation of the contract, with its compiled checks."""

    operation_id: str
    method: str
    path: str
    raw: dict[str, Any]
    parameters: dict[tuple[str, str], dict[str, Any]]  # (in, name) -> resolved parameter
    body_required: bool
    body_schemas: dict[str, dict[str, Any]]  # media type -> schema
    responses: dict[str, dict[str, dict[str, Any]]]  # status -> media type -> schema

    @functools.cached_property
    def path_regex(self) -> re.Pattern[str]:
        pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{pattern}$")

    @functools.cached_property
    def body_schema(self) -> dict[str, Any] | None:
        """The request body's schema: the JSON one, else the form one (they name the same fields)."""
        for media_type in ("application/json", "multipart/form-data"):
            if media_type in self.body_schemas:
                return self.body_schemas[media_type]
        return next(iter(self.body_schemas.values()), None)

    @functools.cached_property
    def body_properties(self) -> dict[str, Any]:
        """Every field the request body names (see ``properties``)."""
        return properties(self.body_schema)

    @functools.cache  # noqa: B019 - operations live as long as the contract
    def body_check(self, media_type: str) -> SchemaCheck | None:
        schema = self.body_schemas.get(media_type)
        return SchemaCheck(schema) if schema is not None else None

    def request_body_check(self) -> SchemaCheck | None:
        """The check of a parsed body, whichever encoding it came in (the rules are the same)."""
        return self.body_check("application/json") or self.body_check("multipart/form-data")

    @functools.cache  # noqa: B019
    def param_check(self, location: str, name: str) -> SchemaCheck | None:
        param = self.parameters.get((location, name))
        return SchemaCheck(param.get("schema", {})) if param else None

    @functools.cache  # noqa: B019 - per request in strict mode: spare the string building
    def response_key(self, status: int) -> str | None:
        """The ``responses`` key documenting ``status``: itself, else ``4XX``-style, else ``default``."""
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in self.responses:
                return key
        return None

    @functools.cache  # noqa: B019
    def response_check(self, status: int, media_type: str = "application/json") -> SchemaCheck | None:
        """The check for a status (falling back to ``4XX``/``default``); None if the status is undocumented."""
        key = self.response_key(status)
        if key is None:
            return None
        content = self.responses[key]
        schema = content.get(media_type)
        if schema is None and content:
            return SchemaCheck({"not": {}})  # documented status, but not this media type
        return SchemaCheck(schema if schema is not None else {})

    def documents_status(self, status: int) -> bool:
        return self.response_key(status) is not None


class Contract:
    """The compiled contract: operations by id and by (method, path)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: dict[str, Operation] = {}
        for path, item in document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                params = {}
                for p in [*shared, *op.get("parameters", [])]:
                    p = resolve_refs(p, document)
                    params[(p["in"], p["name"])] = p
                body = resolve_refs(op.get("requestBody", {}), document)
                responses = {}
                for status, resp in op.get("responses", {}).items():
                    resp = resolve_refs(resp, document)
                    responses[str(status)] = {mt: c.get("schema", {}) for mt, c in resp.get("content", {}).items()}
                self.operations[op["operationId"]] = Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    raw=op,
                    parameters=params,
                    body_required=bool(body.get("required")),
                    body_schemas={mt: c.get("schema", {}) for mt, c in body.get("content", {}).items()},
                    responses=responses,
                )

    def __getitem__(self, operation_id: str) -> Operation:
        return self.operations[operation_id]

    def path_template(self, path: str) -> str | None:
        """The documented path ``path`` falls under; literal segments win over templates, as OpenAPI says."""
        best: tuple[int, str] | None = None
        for op in self.operations.values():
            if op.path_regex.match(path):
                rank = op.path.count("{")
                if best is None or rank < best[0]:
                    best = (rank, op.path)
        return best[1] if best else None

    def methods(self, path: str) -> list[str]:
        """The methods documented for the path ``path`` falls under."""
        template = self.path_template(path)
        return [op.method for op in self.operations.values() if op.path == template]

    def match(self, method: str, path: str) -> Operation | None:
        """The operation serving ``method path`` (path relative to the server URL)."""
        template = self.path_template(path)
        for op in self.operations.values():
            if op.path == template and op.method == method.upper():
                return op
        return None

    @functools.cached_property
    def server_prefix(self) -> str:
        """Path part of the first server URL, e.g. ``/v1/ltxstudio``."""
        from urllib.parse import urlsplit

        servers = self.document.get("servers") or [{"url": ""}]
        return urlsplit(str(servers[0]["url"])).path.rstrip("/")


@functools.cache
def get_contract(path: str | None = None) -> Contract:
    """The product contract, compiled once per process."""
    return Contract(load_spec(path))
