"""The contract (openapi.yaml) as the client sees it: operations by (method, path), $ref resolution and
compiled request-body validators.

The client's local option checks are derived from the same file the simulator and the contract tests
use, so the three cannot drift apart. The file is found through `contracts.spec.load_spec()` when that
module exists, else as `contracts/openapi.yaml` (where the wheel puts it), else at the repository root.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.resources
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

log = logging.getLogger("client")

# Client method -> (HTTP method, path template relative to the base URL).
OPERATIONS: dict[str, tuple[str, str]] = {
    "list_accounts": ("GET", "/accounts"),
    "create_account": ("POST", "/accounts"),
    "get_account": ("GET", "/accounts/{email}"),
    "delete_account": ("DELETE", "/accounts/{email}"),
    "list_assets": ("GET", "/assets"),
    "upload_asset": ("POST", "/assets"),
    "get_job": ("GET", "/assets/{jobId}"),
    "create_image": ("POST", "/images/create"),
    "edit_image": ("POST", "/images/edit"),
    "upscale_image": ("POST", "/images/upscale"),
    "create_ltx_video": ("POST", "/videos/ltx-create"),
    "create_veo_video": ("POST", "/videos/veo-create"),
    "list_running_jobs": ("GET", "/scheduler"),
    "scheduler_available": ("GET", "/scheduler/available"),
    "cancel_job": ("DELETE", "/scheduler/{jobId}"),
}

_PARAM = re.compile(r"\{[^}]*\}")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _norm(path: str) -> str:
    """Compare paths without parameter names or trailing slashes."""
    return _PARAM.sub("{}", path).rstrip("/") or "/"


def load_spec_document() -> dict[str, Any] | None:
    """The parsed openapi.yaml, or None when no copy can be found or read."""
    try:
        spec_module = importlib.import_module("ltxstudio_mock.contracts.spec")
        loader = getattr(spec_module, "load_spec", None)
        if loader is not None:
            spec = loader()
            if isinstance(spec, dict):
                return spec
    except Exception as exc:  # a half-written contracts package must not break the client
        log.debug("ltxstudio_mock.contracts.spec unavailable: %s", exc)
    import yaml

    candidates: list[Any] = []
    with contextlib.suppress(Exception):  # contracts not installed
        candidates.append(importlib.resources.files("ltxstudio_mock.contracts") / "openapi.yaml")
    candidates.append(Path(__file__).resolve().parents[1] / "openapi.yaml")
    for candidate in candidates:
        try:
            if candidate.is_file():
                data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    return data
        except Exception as exc:
            log.warning("cannot read %s: %s", candidate, exc)
    return None


@dataclass
class Operation:
    """One API operation: what the client sends and what the contract says about it."""

    name: str
    method: str
    path: str
    operation_id: str
    spec: dict[str, Any] | None = None
    parameters: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    body_schema: Any = None
    body_media_types: list[str] = field(default_factory=list)
    body_properties: dict[str, Any] = field(default_factory=dict)
    _validator: Any = None
    _param_validators: dict[tuple[str, str], Any] = field(default_factory=dict)


class Contract:
    """openapi.yaml, indexed for the client. Without a spec every check passes (the server still checks)."""

    def __init__(self, spec: dict[str, Any] | None):
        self.spec = spec
        self.components = (spec or {}).get("components") or {}
        self._ops: dict[str, Operation] = {}

    @property
    def available(self) -> bool:
        return bool(self.spec and self.spec.get("paths"))

    # -- $ref ------------------------------------------------------------------------------------
    def resolve(self, node: Any, _depth: int = 0) -> Any:
        """Follow local `$ref`s (`#/components/...`) until a node without one."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and _depth < 50:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                return node
            target: Any = self.spec
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    return node
            node = target
            _depth += 1
        return node

    def rooted(self, schema: Any) -> Any:
        """A schema that jsonschema_rs can compile on its own: the spec's components sit beside it."""
        if isinstance(schema, dict):
            return {**schema, "components": self.components}
        return schema

    def validator(self, schema: Any) -> Any:
        return jsonschema_rs.Draft202012Validator(self.rooted(schema))

    # -- operations ------------------------------------------------------------------------------
    def _find(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        if not self.available:
            return None
        want = _norm(path)
        best: tuple[str, dict[str, Any], dict[str, Any]] | None = None
        for spec_path, item in (self.spec or {}).get("paths", {}).items():
            item = self.resolve(item)
            if not isinstance(item, dict):
                continue
            op = item.get(method.lower())
            if not isinstance(op, dict):
                continue
            norm = _norm(spec_path)
            if norm == want:
                return spec_path, item, op
            if norm.endswith(want) and best is None:
                best = (spec_path, item, op)
        return best

    def operation(self, name: str) -> Operation:
        """The operation behind a client method (cached)."""
        if name in self._ops:
            return self._ops[name]
        method, path = OPERATIONS[name]
        op = Operation(name=name, method=method, path=path, operation_id=name)
        found = self._find(method, path)
        if found is not None:
            spec_path, item, spec_op = found
            if spec_path.endswith("/") and not op.path.endswith("/"):
                op.path += "/"  # e.g. `assets/`: spare a redirect, send what the docs show
            op.spec = spec_op
            op.operation_id = str(spec_op.get("operationId") or name)
            for param in [*(item.get("parameters") or []), *(spec_op.get("parameters") or [])]:
                param = self.resolve(param)
                if isinstance(param, dict) and "name" in param and "in" in param:
                    op.parameters[(param["in"], param["name"])] = param
            body = self.resolve(spec_op.get("requestBody"))
            content = body.get("content") if isinstance(body, dict) else None
            if isinstance(content, dict):
                op.body_media_types = list(content)
                json_body = next((v for k, v in content.items() if "json" in k), None)
                if isinstance(json_body, dict) and "schema" in json_body:
                    op.body_schema = json_body["schema"]
                    op.body_properties = self.properties(op.body_schema)
        self._ops[name] = op
        return op

    def properties(self, schema: Any, _seen: set[int] | None = None) -> dict[str, Any]:
        """Every property a schema names, also inside allOf/anyOf/oneOf/if-then-else (first one wins)."""
        seen = _seen if _seen is not None else set()
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or id(schema) in seen:
            return {}
        seen.add(id(schema))
        found: dict[str, Any] = {}
        for key, sub in (schema.get("properties") or {}).items():
            found.setdefault(key, self.resolve(sub))
        for keyword in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(keyword) or []:
                for key, value in self.properties(sub, seen).items():
                    found.setdefault(key, value)
        for keyword in ("then", "else"):
            for key, value in self.properties(schema.get(keyword), seen).items():
                found.setdefault(key, value)
        return found

    def body_validator(self, op: Operation) -> Any:
        if op._validator is None and op.body_schema is not None:
            op._validator = self.validator(op.body_schema)
        return op._validator

    def param_validator(self, op: Operation, key: tuple[str, str]) -> Any:
        if key not in op._param_validators:
            schema = op.parameters.get(key, {}).get("schema")
            op._param_validators[key] = self.validator(schema) if isinstance(schema, dict) else None
        return op._param_validators[key]

    # -- error messages --------------------------------------------------------------------------
    def custom_message(self, root: Any, schema_path: list[Any]) -> str | None:
        """The deepest `x-error-message` on the way to the failing keyword (conditional rules carry one)."""
        node: Any = self.rooted(root)
        message: str | None = None
        for part in schema_path:
            if isinstance(node, dict):
                if isinstance(node.get("x-error-message"), str):
                    message = node["x-error-message"]
                node = node.get(part) if isinstance(part, str) else None
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                node = None
            if node is None:
                break
        if isinstance(node, dict) and isinstance(node.get("x-error-message"), str):
            message = node["x-error-message"]
        elif isinstance(node, list):
            # A failed anyOf/oneOf: the branches may each carry the same explanation.
            for branch in node:
                if isinstance(branch, dict) and isinstance(branch.get("x-error-message"), str):
                    return branch["x-error-message"]
        return message


@functools.cache
def get_contract() -> Contract:
    """The process-wide contract, read once on first use (importing the client never reads files)."""
    spec = load_spec_document()
    if spec is None:
        log.warning("openapi.yaml not found: local option checks are off, the server still checks")
    return Contract(spec)


def reset_contract_cache() -> None:
    """Forget the loaded spec (tests; or after openapi.yaml changed)."""
    get_contract.cache_clear()
