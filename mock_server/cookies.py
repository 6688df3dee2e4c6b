"""The one cookie parser: the rules read sessions with it, and every mask is built to cover what it reads.

``parse_cookie`` is what useapi.net's rules (``sim/ltx.py``, ``sim/accounts.py``) take from a posted
cookie. ``mask_text`` hides the value of every part that parser would read as ``lt_token`` or
``lt_refresh_token``, and more: a name is matched in any case and anywhere in the text (a prompt that
quotes ``lt_token=...`` is masked too), with any spacing around ``=`` the parser strips. Masks work on
*decoded* text: a JSON body is parsed first, so ``lt_token\\u003d...`` (which the JSON parser turns
into ``lt_token=...`` before the rules see it) is masked like the plain spelling
(``tests/security/test_security_secrets.py`` checks this over generated cookie syntax).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from ltxstudio_mock.mock_server.bounds import load_json

SECURED = "…secured…"
SECRET_FIELDS = ("lt_token", "lt_refresh_token")
# name (any case, any whitespace the parser strips) '=' value up to the next ';' (the parser's part end)
SECRET_PART = re.compile(r"(?i)(lt_(?:refresh_)?token\s*=)[^;]*")
# the same, for text that is still JSON-escaped (a body that could not be parsed): '=' may be \u003d
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _hint(text: str) -> bool:
    """Could ``text`` hold a session secret at all? Plain substring tests: a case-insensitive regex scan costs
    ~100x more (7 ms on a 60 kB body, measured)."""
    if "\\u" in text:
        return True
    low = text.lower()
    return "lt_" in low or "lt%5f" in low


def parse_cookie(cookie: str) -> dict[str, str]:
    """``a=1; b=2`` -> {"a": "1", "b": "2"}: parts split at ``;``, names and values stripped, values may hold ``=``.

    Names are case-sensitive (RFC 6265; a browser sends ``lt_token`` exactly), so ``LT_TOKEN=x`` is not a
    session field for the rules; the masks still hide it.
    """
    out: dict[str, str] = {}
    for part in cookie.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def mask_text(text: str) -> str:
    """``text`` with the value of every session-secret cookie part replaced by ``…secured…``."""
    if "=" not in text or not _hint(text):
        return text
    return SECRET_PART.sub(lambda m: m[1] + SECURED, text)


def mask_value(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) masked, and any key naming a secret field secured."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            key = mask_text(k) if isinstance(k, str) else k
            secret = isinstance(k, str) and k.strip().lower() in SECRET_FIELDS and isinstance(v, str) and v
            out[key] = SECURED if secret else mask_value(v)
        return out
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value


def mask_raw(text: str) -> str:
    """Mask text that may be JSON: parsed and walked when it is, else un-escaped and masked as text.

    Cheap when nothing in the text can be a secret (no ``lt_`` in any case and no ``\\u`` escape).
    """
    if not _hint(text):
        return text
    try:
        parsed = load_json(text)  # depth-bounded: a hostile body is masked as text
    except (ValueError, RecursionError):
        # Not JSON (or cut short): decode \\uXXXX escapes so that an escaped '=' or name is seen.
        return mask_text(_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text)) if "\\u" in text else mask_text(text)
    if isinstance(parsed, str | dict | list):
        masked = mask_value(parsed)
        if masked != parsed:
            try:
                out = json.dumps(masked, ensure_ascii=False)
                out.encode("utf-8")
                return out
            except UnicodeEncodeError:  # a lone surrogate escape: keep it escaped
                return json.dumps(masked)
            except RecursionError:  # pragma: no cover - loads already bounded the depth
                return SECURED
    return text


class SecretFilter(logging.Filter):
    """A logging filter: the formatted message of every record passes through ``mask_text``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's to report
            return True
        masked = mask_text(message)
        if "%" in masked and _hint(message):
            # an access log line quotes the raw request line: percent-encoded (lt_token%3D...) as sent
            decoded = unquote_plus(masked)
            if mask_text(decoded) != decoded:
                masked = mask_text(decoded)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install_log_filter(*names: str) -> None:
    """Attach one SecretFilter to each named logger (idempotent): their records never carry a session secret."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())
