"""Scenario files: declare a simulator's state in YAML, load it, write it back.

A scenario lists tokens, LTX users, configured accounts, uploaded assets (from
files or inline), jobs in given states, faults and the clock. ``ltx-mock serve
--scenario FILE`` loads one at start-up (and on every reset); ``ltx-mock
snapshot FILE`` writes the live state back as one. Loading validates the file
against ``scenario-schema.yaml`` and names the line and field of any mistake.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import yaml

from mock_server.errors import ApiError

if TYPE_CHECKING:
    from mock_server.sim import Simulator

SCHEMA_PATH = Path(__file__).with_name("scenario-schema.yaml")


class ScenarioError(ValueError):
    """A scenario file that does not fit the schema, with its location."""


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers where each mapping key was."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[key_node.value] = key_node.start_mark.line + 1
    mapping_with_lines = _Located(mapping)
    mapping_with_lines.lines = lines
    mapping_with_lines.line = node.start_mark.line + 1
    return mapping_with_lines


class _Located(dict):
    lines: dict[str, int]
    line: int


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _locate(doc: Any, path: list[Any]) -> int | None:
    node, line = doc, getattr(doc, "line", None)
    for part in path:
        if isinstance(node, dict) and part in node:
            line = getattr(node, "lines", {}).get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def parse(text: str, source: str = "<scenario>") -> dict[str, Any]:
    """Parse and validate; raise ScenarioError naming file, line and field."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if doc is None:
        doc = _Located()
        doc.lines, doc.line = {}, 1
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema_rs.Draft202012Validator(schema)
    plain = _plain(doc)
    for err in validator.iter_errors(plain):
        path = list(err.instance_path)
        field = ".".join(str(p) for p in path) or "(top level)"
        raise ScenarioError(f"{source}:{_locate(doc, path) or 1}: {field}: {err.message}")
    return plain


def load_scenario(sim: Simulator, path: str | Path) -> None:
    """Apply a scenario file to a (freshly reset) simulator."""
    path = Path(path)
    apply(sim, parse(path.read_text(encoding="utf-8"), str(path)), base_dir=path.parent)


def apply(sim: Simulator, doc: dict[str, Any], base_dir: Path = Path(".")) -> None:
    from mock_server.sim import tenant_id

    now = sim.now()
    clock = doc.get("clock") or {}
    if clock:
        sim.clock.reset(speed=float(clock.get("speed", sim.config.speed)), start_ms=clock.get("now"))
        if clock.get("paused"):
            sim.clock.set(paused=True)
        now = sim.now()
    for token in doc.get("tokens", []):
        sim.add_token(token)
    for u in doc.get("ltx_users", []):
        user = sim.ltx.get_user(u["email"]) or sim.ltx.create_user(
            now, email=u["email"], credits=u.get("credits"), subscription=u.get("subscription", True))
        for key in ("lt_id", "lt_token", "lt_refresh_token", "token_expire", "refresh_expire", "revoked", "name",
                    "credits", "latest_created_ms"):
            if key in u:
                user[key] = u[key]
        sim.ltx.save(user)
        sim.ltx.reindex(user)
    for a in doc.get("accounts", []):
        user = sim.ltx.require_user(a["email"])
        tid = sim.add_token(a["token"])
        sim.accounts.upsert(tid, sim.ltx.cookie_of(user), a.get("maxJobs"), now)
    for asset in doc.get("assets", []):
        tid = sim.add_token(asset["token"])
        email = asset.get("email") or sim.accounts.resolve(tid, None)["email"]
        if "file" in asset:
            data = (base_dir / asset["file"]).read_bytes()
        else:
            data = base64.b64decode(asset["base64"])
        sim.assets.restore(tid, email, data, asset["mimeType"], asset.get("type", "image"),
                           asset.get("created", now), asset.get("uuid"))
    for j in doc.get("jobs", []):
        sim.jobs.restore(sim.add_token(j["token"]), j, now)
    for f in doc.get("faults", []):
        sim.faults.add(f)
    for o in doc.get("outcomes", []):
        sim.jobs.queue_outcome(o)
    _ = tenant_id


def snapshot(sim: Simulator) -> dict[str, Any]:
    """The live state as a scenario document (assets inline as base64)."""
    tokens = sim.store.get_meta("tokens") or []
    by_tenant = {sim_tenant: token for token in tokens for sim_tenant in [_tid(token)]}
    doc: dict[str, Any] = {"clock": {}, "tokens": list(tokens), "ltx_users": [], "accounts": [], "assets": [],
                           "jobs": [], "faults": [], "outcomes": sim.store.get_meta("outcomes") or []}
    st = sim.clock.state()
    doc["clock"] = {"now": sim.now(), "speed": st.speed, "paused": st.paused}
    for user in sim.ltx.list_users(0, 100000):
        doc["ltx_users"].append({k: user[k] for k in ("email", "name", "lt_id", "lt_token", "lt_refresh_token",
                                                    "token_expire", "refresh_expire", "credits", "subscription",
                                                    "latest_created_ms") if user.get(k) is not None}
                                | {"revoked": bool(user.get("revoked"))})
    for tid, token in by_tenant.items():
        for account in sim.accounts.all(tid):
            doc["accounts"].append({"token": token, "email": account["email"], "maxJobs": account["maxJobs"]})
            for record in sim.assets.uploads(tid, account["email"]):
                data = sim.store.blob_get(record["uuid"]) or b""
                doc["assets"].append({"token": token, "email": account["email"], "uuid": record["uuid"],
                                      "mimeType": record["mimeType"], "type": record["type"],
                                      "created": record["created_ms"], "base64": base64.b64encode(data).decode()})
        for job in sim.jobs.all(tid):
            doc["jobs"].append(sim.jobs.export(job, token))
    doc["faults"] = [{k: v for k, v in f.items() if k not in ("id", "hits") and v is not None}
                     for f in sim.faults.list()]
    return doc


def _tid(token: str) -> str:
    from mock_server.sim import tenant_id

    return tenant_id(token)


__all__ = ["ApiError", "ScenarioError", "apply", "load_scenario", "parse", "snapshot"]
