"""The request journal: every request and its answer, secrets masked.

Kept in the store (so every process of a shared simulator writes to one journal)
as records plus one index by time, trimmed to ``journal_limit`` entries. Tests
read it through ``GET /__admin/requests`` to assert exactly what their code sent.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

from ltxstudio_mock.mock_server.bounds import load_json
from ltxstudio_mock.mock_server.store.base import Store

ENTRY = "request"
INDEX = "journal"
SECURED = "…secured…"
SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
SECRET_COOKIE = re.compile(r"(lt_token|lt_refresh_token)=([^;\s\"']+)")
BODY_LIMIT = 16 * 1024


def mask_text(text: str) -> str:
    """Hide LTX Studio session secrets wherever they appear in a body."""
    return SECRET_COOKIE.sub(lambda m: f"{m[1]}={SECURED}", text)


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def mask_form(form: dict[str, str]) -> dict[str, str]:
    """Form fields as logged: the cookie field masked like a JSON body's."""
    return {k: mask_text(v[:BODY_LIMIT]) for k, v in form.items()}


def mask_headers(headers: Any) -> dict[str, str]:
    """Headers as a dict, credentials masked (``Authorization: Bearer …secured…``)."""
    out = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[name] = f"{scheme} {SECURED}".strip()
        else:
            out[name] = value
    return out


def raw_body(raw: bytes, mimetype: str | None) -> str | None:
    """A body as stored: masked text bounded to BODY_LIMIT, or a size note for binaries. Cheap: no parsing."""
    if not raw:
        return None
    if mimetype and not (mimetype.startswith("text/") or "json" in mimetype or "form" in mimetype):
        return f"<{len(raw)} bytes {mimetype}>"
    text = raw[:BODY_LIMIT].decode("utf-8", "replace")
    if "lt_" in text:
        text = mask_text(text)
    return text + ("…" if len(raw) > BODY_LIMIT else "")


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


class Journal:
    """Append, query, count, clear."""

    def __init__(self, store: Store, limit: int = 10000) -> None:
        self.store = store
        self.limit = limit

    def _seq(self) -> int:
        with self.store.atomic():
            seq = (self.store.get_meta("journal-seq") or 0) + 1
            self.store.put_meta("journal-seq", seq)
            return seq

    def append(self, entry: dict[str, Any]) -> None:
        # One block for the number and the entry: every request appends, and with a shared store
        # (Redis) each block is a lock round trip that all processes queue for.
        with self.store.atomic():
            seq = self._seq()
            entry["id"] = seq
            self.store.put(ENTRY, str(seq), entry)
            self.store.index_add(INDEX, str(seq), seq)
            excess = self.store.index_count(INDEX) - self.limit
            if excess > 0:
                for old in self.store.index_range(INDEX, 0, excess):
                    self.store.index_remove(INDEX, old)
                    self.store.delete(ENTRY, old)

    def query(self, *, method: str | None = None, path: str | None = None, status: int | None = None,
              since: int | None = None, operation: str | None = None, contains: str | None = None,
              limit: int = 100,
              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Entries matching every filter given, newest first, and how many matched in all.

        ``path`` is a glob (``/v1/ltxstudio/images/*``); ``since`` an entry id or epoch ms.
        """
        ids = self.store.index_range(INDEX, reverse=True)
        matched = []
        for entry in self.store.get_many(ENTRY, ids):
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
            matched.append(render(entry))
        return matched[offset:offset + limit], len(matched)

    def clear(self) -> None:
        with self.store.atomic():
            for old in self.store.index_range(INDEX):
                self.store.delete(ENTRY, old)
            self.store.index_drop(INDEX)
