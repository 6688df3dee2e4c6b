"""The request journal: every request and its answer, secrets masked.

Kept in the store (so every process of a shared simulator writes to one journal)
as records plus one index by time, trimmed to ``journal_limit`` entries. Tests
read it through ``GET /__admin/requests`` to assert exactly what their code sent.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from ltxstudio_mock.mock_server.bounds import load_json
from ltxstudio_mock.mock_server.cookies import SECURED, mask_raw, mask_text
from ltxstudio_mock.mock_server.store.base import Store

__all__ = ["SECURED", "Journal", "mask_form", "mask_headers", "mask_query", "mask_text", "raw_body", "render"]

ENTRY = "request"
INDEX = "journal"
SIZES = "journal-sizes"  # entry id -> its size, scored: the byte cap trims without reading entries
STATE = "journal-state"  # {"seq": last id, "bytes": stored size of the entries kept}
SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key", "x-admin-token"}
BODY_LIMIT = 16 * 1024  # characters of one body kept (request and response each); the rest is cut ("…")
MAX_BYTES = 32 * 1024 * 1024  # default for SimConfig.journal_max_bytes
ENTRY_OVERHEAD = 256  # the fixed fields of an entry, counted towards the byte cap


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def mask_form(form: Mapping[str | None, str | None]) -> dict[str, str]:
    """Form fields as logged: each value bounded and masked like a JSON body's strings (same parser).

    A part whose name werkzeug cannot read (e.g. ``name="x\\"``: the quote escaped) comes with the name None.
    """
    return {mask_text((k or "")[:256]): mask_text((v or "")[:BODY_LIMIT]) for k, v in form.items()}


def mask_headers(headers: Any) -> dict[str, str]:
    """Headers as a dict, credentials masked (``Authorization: Bearer …secured…``), cookie parts masked anywhere."""
    out = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {SECURED}".strip()
        else:
            out[name] = mask_text(value[:BODY_LIMIT])
    return out


def mask_query(args: Any) -> dict[str, str]:
    """Query parameters as logged: values bounded and masked."""
    return {mask_text(k[:256]): mask_text(v[:BODY_LIMIT]) for k, v in args.items()}


def raw_body(raw: bytes, mimetype: str | None) -> str | None:
    """A body as stored: masked text bounded to BODY_LIMIT, or a size note for binaries. Cheap: no parsing."""
    if not raw:
        return None
    if mimetype and not (mimetype.startswith("text/") or "json" in mimetype or "form" in mimetype):
        return f"<{len(raw)} bytes {mimetype}>"
    if len(raw) > 4 * BODY_LIMIT:
        # Masked whole when it can still be parsed cheaply; beyond that only its first part is kept anyway.
        text = mask_raw(raw[:BODY_LIMIT].decode("utf-8", "replace"))
    else:
        text = mask_raw(raw.decode("utf-8", "replace"))
    return text[:BODY_LIMIT] + ("…" if len(text) > BODY_LIMIT or len(raw) > 4 * BODY_LIMIT else "")


def _parsed(text: Any, mimetype: str | None) -> Any:
    """A stored body for reading: JSON text becomes the object it spells, anything else stays."""
    if not isinstance(text, str) or "json" not in (mimetype or "") or text.endswith("…"):
        return text
    try:
        parsed = load_json(text)  # a body refused for its depth stays text (TooDeep is a ValueError)
        if "\\u" in text:  # a lone surrogate escape ("\ud800") parses, but no JSON answer can carry it
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        return parsed
    except ValueError:  # includes UnicodeEncodeError
        return text


def render(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as readers get it: bodies parsed where they are JSON (stored as text for speed)."""
    if "body_type" not in entry and "response_type" not in entry:
        return entry  # written before bodies were stored raw
    out = {k: v for k, v in entry.items() if k not in ("body_type", "response_type")}
    out["body"] = _parsed(entry.get("body"), entry.get("body_type"))
    out["response"] = _parsed(entry.get("response"), entry.get("response_type"))
    return out


def entry_size(entry: dict[str, Any]) -> int:
    """What an entry costs towards the byte cap: its bodies, path, query and headers (characters) plus a fixed part."""
    n = ENTRY_OVERHEAD + len(entry.get("path") or "")
    for key in ("body", "response"):
        value = entry.get(key)
        n += len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False, default=str))
    for key in ("headers", "query"):
        n += sum(len(k) + len(v) for k, v in (entry.get(key) or {}).items())
    return n


class Journal:
    """Append, query, count, clear; bounded to ``limit`` entries and ``max_bytes`` stored characters."""

    def __init__(self, store: Store, limit: int = 10000, max_bytes: int = MAX_BYTES) -> None:
        self.store = store
        self.limit = limit
        self.max_bytes = max_bytes

    def _state(self) -> dict[str, int]:
        state = self.store.get_meta(STATE)
        if state is None:  # a store written before the byte cap: its sequence, its size unknown (counted as 0)
            state = {"seq": self.store.get_meta("journal-seq") or 0, "bytes": 0}
        return state

    def stored_bytes(self) -> int:
        """The size (characters) of the entries kept, as counted towards ``max_bytes``."""
        return int(self._state()["bytes"])

    def append(self, entry: dict[str, Any]) -> None:
        # One block for the number, the entry and the trimming: every request appends, and with a shared
        # store (Redis) each block is a lock round trip that all processes queue for.
        size = entry_size(entry)
        with self.store.atomic():
            state = self._state()
            seq = state["seq"] + 1
            total = state["bytes"] + size
            entry["id"] = seq
            self.store.put(ENTRY, str(seq), entry)
            self.store.index_add(INDEX, str(seq), seq)
            self.store.index_add(SIZES, str(seq), size)  # sizes beside the entries: trimming reads no entry
            count = self.store.index_count(INDEX)

            def over() -> bool:
                return count > self.limit or (total > self.max_bytes and count > 1)  # the newest always stays

            while over():
                oldest = self.store.index_range(INDEX, 0, min(max(count - self.limit, 1), count - 1))
                if not oldest:
                    break
                for member in oldest:
                    if not over():
                        break
                    total -= int(self.store.index_score(SIZES, member) or 0)
                    self.store.index_remove(INDEX, member)
                    self.store.index_remove(SIZES, member)
                    self.store.delete(ENTRY, member)
                    count -= 1
            self.store.put_meta(STATE, {"seq": seq, "bytes": max(0, total)})

    def query(self, *, method: str | None = None, path: str | None = None, status: int | None = None,
              since: int | None = None, operation: str | None = None, contains: str | None = None,
              limit: int = 100,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first, and how many matched in all.

        ``path`` is a glob (``/v1/ltxstudio/images/*``); ``since`` an entry id or epoch ms. Without a
        filter only the page is read; with one every entry is looked at, but only the page is rendered.
        """
        store = self.store
        if not (method or path or status is not None or operation or contains or since is not None):
            total = store.index_count(INDEX)
            ids = store.index_range(INDEX, offset, limit, reverse=True) if limit > 0 and offset < total else []
            return [render(e) for e in store.get_many(ENTRY, ids) if e is not None], total
        ids = store.index_range(INDEX, reverse=True)
        matched: list[dict[str, Any]] = []
        for entry in store.get_many(ENTRY, ids):
            if entry is None:
                continue
            if method and entry["method"] != method.upper():
                continue
            if path and not fnmatch.fnmatchcase(entry["path"], path):
                continue
            if status is not None and entry["status"] != status:
                continue
            if operation and entry.get("operation") != operation:
                continue
            if contains:
                raw = entry.get("body")
                if contains not in (raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)):
                    continue
            if since is not None and (entry["id"] <= since if since < 10**12 else entry["time_ms"] < since):
                continue
            matched.append(entry)
        return [render(e) for e in matched[offset:offset + limit]], len(matched)

    def clear(self) -> None:
        with self.store.atomic():
            for old in self.store.index_range(INDEX):
                self.store.delete(ENTRY, old)
            self.store.index_drop(INDEX)
            self.store.index_drop(SIZES)
            state = self._state()
            self.store.put_meta(STATE, {"seq": state["seq"], "bytes": 0})
