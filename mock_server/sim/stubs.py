"""Per-test answers (stubs): which API requests get an answer a test chose, and how many times.

A stub matches by operationId, or by method and a path glob; optionally by tenant (its token's) and by body
fields (JSONPath -> the value a node there must equal); for the next ``times`` matching requests (then it
expires) or for every one. Its answer is fixed (status, headers, a JSON ``body`` or a raw ``text``), or
``patch``: the simulator answers as usual, then these JSONPath fields of its JSON answer are set. The newest
matching stub wins (a test's stub overrides a scenario's), as in WireMock.

Stubs live in the store, so every process of a shared simulator answers and counts the same. A request reads
one small meta value (the stubs' version; None: no stubs, and nothing more is done); each process keeps an index
of the stubs by *key* (the operationId, or the method for a path stub, ``*`` for any method), rebuilt when the
version changes, so a request looks only at the stubs that could answer it: 100 stubs on other operations cost
a dictionary look-up. Compiled JSONPaths are cached per process by stub id.
Turning a matched stub into bytes on the wire is the HTTP side's: ``mock_server/pipeline.py``.
"""

from __future__ import annotations

import builtins
import copy
import fnmatch
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonpath

from mock_server.errors import ApiError
from mock_server.sim.context import Context

STUBS = "stubs"  # meta: the stubs, oldest first
VERSION = "stub-version"  # meta: changes with every change to the stubs; None: no stubs
SEQ = "stub-seq"  # meta: the last stub number handed out
MAX_STUBS = 10_000
MAX_TIMES = 1_000_000
# A path a patch may create when nothing is there yet: $.a.b, $['a'], $.a[0] (a singular query).
SINGULAR = re.compile(r"^\$(?:\.[A-Za-z_][\w-]*|\['[^'\\]*'\]|\[\d+\])+$")
SEGMENT = re.compile(r"\.([A-Za-z_][\w-]*)|\['([^'\\]*)'\]|\[(\d+)\]")
ANSWER_KEYS = ("status", "headers", "body", "text", "patch")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$")
# Framing the server owns (WSGI forbids hop-by-hop headers; a wrong Content-Length would hang a client).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


@dataclass(frozen=True, slots=True)
class Compiled:
    """A stub's matchers, compiled once per process."""

    body: tuple[tuple[jsonpath.JSONPath | jsonpath.CompoundJSONPath, Any], ...]
    patch: tuple[tuple[str, jsonpath.JSONPath | jsonpath.CompoundJSONPath, Any], ...]


def _compile(expr: str, where: str) -> jsonpath.JSONPath | jsonpath.CompoundJSONPath:
    if not isinstance(expr, str) or not expr.startswith("$"):
        raise ApiError(400, f"{where}: {expr!r} is not a JSONPath (it starts with $)")
    try:
        return jsonpath.compile(expr)
    except jsonpath.JSONPathError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError(400, f"{where}: {expr!r} is not a JSONPath: {reason}") from None


def _compile_stub(stub: dict[str, Any]) -> Compiled:
    body = tuple((_compile(k, "match.body"), v) for k, v in (stub["match"].get("body") or {}).items())
    patch = tuple((k, _compile(k, "answer.patch"), v) for k, v in (stub["answer"].get("patch") or {}).items())
    return Compiled(body, patch)


def _key(match: dict[str, Any]) -> str:
    return match["operationId"] if match.get("operationId") else (match.get("method") or "*")


def set_path(doc: Any, expr: str, path: jsonpath.JSONPath | jsonpath.CompoundJSONPath, value: Any) -> Any:
    """``doc`` with every node at ``path`` set to ``value``; a singular path that finds nothing is created.
    Returns the (possibly new) document: ``$`` itself replaces the whole answer."""
    if expr == "$":
        return copy.deepcopy(value)
    matches = list(path.finditer(doc))
    if matches:
        for m in matches:
            parent = m.parent.obj if m.parent is not None else None
            if isinstance(parent, (dict, list)) and m.parts:
                parent[m.parts[-1]] = copy.deepcopy(value)  # type: ignore[index]
        return doc
    if not SINGULAR.match(expr):
        return doc  # a filter or wildcard that selects nothing sets nothing
    node = doc
    segments = [name or quoted if index == "" else int(index) for name, quoted, index in SEGMENT.findall(expr)]
    for seg, nxt in zip(segments, [*segments[1:], None], strict=True):
        if isinstance(seg, int):
            if not isinstance(node, list) or seg >= len(node):
                return doc  # arrays are not grown
            if nxt is None:
                node[seg] = copy.deepcopy(value)
            node = node[seg]
        else:
            if not isinstance(node, dict):
                return doc
            if nxt is None:
                node[seg] = copy.deepcopy(value)
            else:
                node = node.setdefault(seg, [] if isinstance(nxt, int) else {})
    return doc


class Stubs:
    """The stubs in force: add, list (with match counts), remove, and the one (if any) that answers a request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._compiled: dict[tuple[str, str], Compiled] = {}  # (stub id, its JSONPaths) -> matchers
        self._index: tuple[Any, dict[str, tuple[dict[str, Any], ...]]] = (None, {})  # (version, key -> newest first)

    # -- control ---------------------------------------------------------------------------------------------
    def add(self, spec: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
        """Check and store a stub (``tenant``: the id of the token it names); 400 naming what is wrong."""
        match = dict(spec.get("match") or {})
        answer = dict(spec.get("answer") or {})
        if not match.get("operationId") and not match.get("path"):
            raise ApiError(400, "match needs operationId, or a path (glob) with an optional method")
        if match.get("operationId") and match.get("path"):
            raise ApiError(400, "match takes operationId or path, not both")
        if not any(k in answer for k in ANSWER_KEYS):
            raise ApiError(400, f"answer needs one of {', '.join(ANSWER_KEYS)}")
        if "patch" in answer and ("body" in answer or "text" in answer):
            raise ApiError(400, "answer.patch edits the simulator's answer: it cannot go with body or text")
        if "body" in answer and "text" in answer:
            raise ApiError(400, "answer takes body (JSON) or text (raw), not both")
        status = answer.get("status")
        if status is not None and not (isinstance(status, int) and 200 <= status <= 599):
            raise ApiError(400, "answer.status must be a final status from 200 to 599")
        for name, value in (answer.get("headers") or {}).items():
            if not HEADER_NAME.match(str(name)) or name.lower() in HOP_BY_HOP:
                raise ApiError(400, f"answer.headers: {str(name)[:100]!r} cannot be set by a stub")
            if any(c in str(value) for c in "\r\n\x00"):
                raise ApiError(400, f"answer.headers: the value of {name} has a line break or NUL")
        times = spec.get("times")
        if times is not None and not (isinstance(times, int) and 1 <= times <= MAX_TIMES):
            raise ApiError(400, f"times must be an integer from 1 to {MAX_TIMES}")
        if match.get("method"):
            match["method"] = str(match["method"]).upper()
        match.pop("token", None)
        stored: dict[str, Any] = {"match": {**match, "tenant": tenant}, "answer": answer, "times": times,
                                  "remaining": times, "hits": 0}
        _compile_stub(stored)  # refuse a bad JSONPath now, not at the first request
        store = self.ctx.store
        with store.atomic():
            stubs = self.list()
            if len(stubs) >= MAX_STUBS:
                raise ApiError(400, f"at most {MAX_STUBS} stubs at once")
            seq = (store.get_meta(SEQ) or 0) + 1
            store.put_meta(SEQ, seq)
            stored = {"id": f"stub-{seq}", "seq": seq, **stored}
            self._save([*stubs, stored])
        return stored

    def list(self) -> list[dict[str, Any]]:
        """Every stub, oldest first, each with ``hits`` (how many requests it answered) and ``remaining``."""
        stubs: list[dict[str, Any]] = self.ctx.store.get_meta(STUBS) or []
        return stubs

    def remove(self, stub_id: str | None = None) -> int:
        """Remove one stub (``stub_id``) or all of them; returns how many went."""
        with self.ctx.store.atomic():
            stubs = self.list()
            keep = [s for s in stubs if stub_id is not None and s["id"] != stub_id]
            self._save(keep)
            return len(stubs) - len(keep)

    def _save(self, stubs: builtins.list[dict[str, Any]]) -> None:
        """Store the list and a new version (None with no stubs: the request path's one cheap read)."""
        store = self.ctx.store
        store.put_meta(STUBS, stubs or None)
        store.put_meta(VERSION, secrets.token_hex(8) if stubs else None)  # not the seeded stream: ids stay put

    # -- the request path --------------------------------------------------------------------------------------
    def candidates(self, operation_id: str, method: str) -> tuple[dict[str, Any], ...]:
        """The stubs that could answer this operation and method, newest first: one small meta read, then this
        process's index of the stubs by key (rebuilt when the stored version changes)."""
        version = self.ctx.store.get_meta(VERSION)
        if version is None:
            return ()
        cached_version, index = self._index
        if cached_version != version:
            index = self._build_index()
            self._index = (version, index)
        found = index.get(operation_id, ()) + index.get(method, ()) + index.get("*", ())
        if len(found) > 1:
            found = tuple(sorted(found, key=lambda s: -s["seq"]))
        return found

    def _build_index(self) -> dict[str, tuple[dict[str, Any], ...]]:
        index: dict[str, builtins.list[dict[str, Any]]] = {}
        for stub in self.list():
            index.setdefault(_key(stub["match"]), []).append(stub)
        return {k: tuple(sorted(v, key=lambda s: -s["seq"])) for k, v in index.items()}

    def match(self, operation_id: str, method: str, path: str, tenant: Callable[[], str | None],
              body: Callable[[], Any], candidates: tuple[dict[str, Any], ...] | None = None) -> dict[str, Any] | None:
        """The newest stub that answers this request, its count taken (expired at 0); None: no stub does.

        ``tenant`` and ``body`` return the request's tenant id and parsed JSON body (None: none); each is called
        only if a candidate matches on it. ``candidates``: what :meth:`candidates` gave, if the caller asked.
        """
        if candidates is None:
            candidates = self.candidates(operation_id, method)
        for stub in candidates:
            if self._matches(stub, path, tenant, body):
                fired = self._fire(stub["id"])
                if fired is not None:
                    return fired
        return None

    def _fire(self, stub_id: str) -> dict[str, Any] | None:
        """Count one answer of this stub (expiring it at 0); None if another request used it up first."""
        with self.ctx.store.atomic():
            stubs = self.list()
            for i, stub in enumerate(stubs):
                if stub["id"] != stub_id:
                    continue
                stub["hits"] += 1
                if stub["remaining"] is not None:
                    stub["remaining"] -= 1
                if stub["remaining"] is not None and stub["remaining"] <= 0:
                    stubs.pop(i)
                self._save(stubs)
                return stub
        return None

    def _matches(self, stub: dict[str, Any], path: str, tenant: Callable[[], str | None],
                 body: Callable[[], Any]) -> bool:
        match = stub["match"]
        if match.get("path") is not None and not fnmatch.fnmatchcase(path, match["path"]):
            return False
        if match.get("tenant") is not None and match["tenant"] != tenant():
            return False
        if match.get("body"):
            doc = body()
            for path_expr, expected in self.compiled(stub).body:
                if doc is None or not any(m.obj == expected for m in path_expr.finditer(doc)):
                    return False
        return True

    def compiled(self, stub: dict[str, Any]) -> Compiled:
        """The stub's compiled JSONPaths, cached per process by id and definition (ids restart after a reset)."""
        key = (stub["id"], repr((stub["match"].get("body"), stub["answer"].get("patch"))))
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) > 4 * MAX_STUBS:
                self._compiled.clear()
            found = self._compiled[key] = _compile_stub(stub)
        return found

    def patched(self, stub: dict[str, Any], body: Any) -> Any:
        """The simulator's JSON answer with the stub's ``patch`` fields set (a copy; ``body`` is not changed)."""
        doc = copy.deepcopy(body)
        for expr, path, value in self.compiled(stub).patch:
            doc = set_path(doc, expr, path, value)
        return doc
