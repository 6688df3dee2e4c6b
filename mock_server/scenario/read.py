"""Reading a scenario: YAML with line numbers, checked against ``scenario-schema.yaml``.

``parse``/``read_scenario`` return the document whose mappings and lists remember their lines, so every
problem is reported as ``FILE:LINE: field.path: problem``, all of them at once, before anything is
applied (``sim/scenario.py`` applies it; a problem found then names its line the same way).
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from mock_server.sim.scenario import ScenarioError
from mock_server.sim.scenario import line_of as _line

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "scenario-schema.yaml"
__all__ = ["SCHEMA_PATH", "ScenarioError", "check", "parse", "read_scenario"]


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


