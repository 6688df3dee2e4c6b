"""The one masking engine: every place that shows what crossed the wire hides its secrets with these functions.

Used by the request journal (``journal.py``, the dashboard), ``ltx-mock proxy`` (its record, violation lines,
JUnit report and ``/__proxy/violations``), snapshots, the admin views and the log filter, so a secret one of them
hides, all of them hide. What counts as a secret, wherever it occurs (a body, a prompt, a query string, a header,
a path):

- LTX session fields in cookie syntax, ``lt_token=...`` / ``lt_refresh_token=...`` (any case, any spacing the
  rules' cookie parser strips; ``cookies.parse_cookie`` is that parser), and JSON keys of those names;
- a bare JWT (``eyJ...``.``eyJ...``.``...``), the shape of an LTX session token;
- an API bearer token (``Bearer <token>``), and the credential headers (``Authorization``, ``Cookie``, ...);
- credentials in a query string or URL: ``token=``, ``access_token=``, ``api_key=``, signed-URL signatures
  (``Signature=``, ``X-Amz-Signature=``, ``X-Goog-Signature=``, ``sig=``) and a URL's ``user:password@``.

Entry points (stable; other modules build on them): :func:`mask_text` for any text, :func:`mask_value` for a
parsed JSON value, :func:`mask_raw` for text that may be JSON, :func:`mask_headers`, :func:`mask_query`
(a mapping of parameters), :func:`mask_query_string` and :func:`mask_url`. Each is cheap when nothing in the text
can be a secret: plain substring tests come before any regex.

Masks work on *decoded* text: a JSON body is parsed first, so ``lt_token\\u003d...`` is masked like the plain
spelling, and a query string is split and percent-decoded before its values are masked.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

from mock_server.bounds import load_json
from mock_server.cookies import SECRET_FIELDS

__all__ = ["SECRET_FIELDS", "SECRET_HEADERS", "SECRET_PARAMS", "SECURED", "SecretFilter", "install_log_filter",
           "mask_headers", "mask_query", "mask_query_string", "mask_raw", "mask_text", "mask_url", "mask_value"]

SECURED = "…secured…"
#: Headers whose whole value is a credential: shown as ``<scheme> …secured…``.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                            "x-admin-token", "x-auth-token", "x-amz-security-token"})
#: Query (and form) parameter names whose value is a credential: API tokens and signed-URL signatures.
SECRET_PARAMS = frozenset({"lt_token", "lt_refresh_token", "token", "access_token", "refresh_token", "id_token",
                           "api_key", "apikey", "api-key", "key", "auth", "password", "secret", "client_secret",
                           "signature", "sig", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
                           "x-goog-signature", "x-goog-credential"})
BODY_LIMIT = 16 * 1024  # characters of one header or parameter value kept by the header and query masks

# name (any case, any whitespace the parser strips) '=' value up to the next ';' (the cookie parser's part end)
_COOKIE_PART = re.compile(r"(?i)(lt_(?:refresh_)?token\s*=)[^;]*")
# a JWT: base64url header (a JSON object, so it starts eyJ), payload, signature; also one cut short after its
# payload began (a message that clips a long value: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi…")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
# an API bearer token in text (a pasted header, a curl line): 8+ token characters after "Bearer"
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!…)([A-Za-z0-9._~+/:@=-]{3,})")
# a credential parameter written in text (a URL in a prompt, a signed assetUrl): name=value up to a separator
_PARAM_NAMES = (r"token|access_token|refresh_token|id_token|api_key|apikey|api-key|client_secret|password")
_SIGNATURE_NAMES = (r"signature|sig|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
                    r"x-goog-credential")
_PARAM = re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_PARAM_NAMES}|{_SIGNATURE_NAMES})(=\s*|:\s*)(?!…)([^&\s;,\"'<>#)]+)")
_TOKEN_PARAM = re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_PARAM_NAMES})(=\s*|:\s*)(?!…)([^&\s;,\"'<>#)]+)")
_STEMS = ("token", "key", "secret", "password", "signature", "sig", "credential")  # what _PARAM's names end with
_HINT = re.compile(r"lt_|lt%5f|eyj|bearer|(?:token|key|secret|password|signature|sig|credential)[=:]")
# a URL's user:password@
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _param_hint(low: str) -> bool:
    """A credential parameter name (by its ending) followed by ``=`` or ``:``, found with ``str.find`` only."""
    for stem in _STEMS:
        i = low.find(stem)
        while i >= 0:
            if low[i + len(stem):i + len(stem) + 1] in ("=", ":"):
                return True
            i = low.find(stem, i + 1)
    return False


def _userinfo_hint(low: str) -> bool:
    """``user:password@`` right after a scheme's ``://`` (a plain ``@`` in a job id or an email is no hint)."""
    return "://" in low and any("@" in part.split("/", 1)[0] for part in low.split("://")[1:])


def _hint(text: str) -> bool:
    """Could ``text`` hold a secret at all? Plain substring tests: a case-insensitive regex scan costs ~100x more
    (7 ms on a 60 kB body, measured)."""
    if "\\u" in text:
        return True
    low = text.lower()
    return ("lt_" in low or "lt%5f" in low or "eyj" in low or "bearer" in low or _param_hint(low)
            or _userinfo_hint(low))


def mask_text(text: str, *, signed_urls: bool = True) -> str:
    """``text`` with every secret it holds replaced by ``…secured…`` (names, schemes and separators kept).

    ``signed_urls=False`` leaves signed-URL signatures (``Signature=``, ``sig=``, ...) alone: for the
    simulator's own admin views, whose artifact previews are its own signed URLs.
    """
    low = text.lower()  # each pattern runs only where its plain-text hint is found
    if "=" in text and ("lt_" in low or "lt%5f" in low):
        text = _COOKIE_PART.sub(lambda m: m[1] + SECURED, text)
    if "eyj" in low:
        text = _JWT.sub(SECURED, text)
    if "bearer" in low:
        text = _BEARER.sub(lambda m: m[1] + SECURED, text)
    if _param_hint(low):
        text = (_PARAM if signed_urls else _TOKEN_PARAM).sub(lambda m: m[1] + m[2] + SECURED, text)
    if _userinfo_hint(low):
        text = _USERINFO.sub(lambda m: m[1] + SECURED + "@", text)
    return text


def mask_value(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) masked, and any key naming a session secret secured."""
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

    Cheap when nothing in the text can be a secret (see ``_hint``).
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


def _param(name: str, value: str) -> str:
    if name.strip().lower() in SECRET_PARAMS and value:
        return SECURED
    return mask_text(value[:BODY_LIMIT])


def mask_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict (names as given), credentials masked (``Authorization: Bearer …secured…``), every other
    value masked as text. A repeated header keeps its last value."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out = {}
    for name, value in items:
        if name.lower() in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value.strip() and name.lower() != "cookie" else ""
            out[name] = f"{scheme} {SECURED}".strip()
        else:
            out[name] = mask_text(value[:BODY_LIMIT])
    return out


def mask_query(args: Mapping[str, str]) -> dict[str, str]:
    """Query (or form) parameters: credential-named ones secured, every value bounded and masked as text."""
    return {mask_text(k[:256]): _param(k, v) for k, v in args.items()}


def mask_query_string(query: str) -> str:
    """A raw query string, its credentials masked; parameter order kept, re-encoded. Cheap without a hint."""
    if not query or not _hint(unquote_plus(query)):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = urlencode([(mask_text(k), _param(k, v)) for k, v in pairs], safe=":/@", quote_via=quote)
    return encoded.replace(quote(SECURED), SECURED)  # the mask shown as written elsewhere


def mask_url(url: str) -> str:
    """A URL or a path with its query: userinfo, path and query masked (the path shown percent-decoded when it
    held a secret)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = SECURED + "@" + netloc.rsplit("@", 1)[1]
    path = parts.path
    if _hint(unquote(path)):
        decoded = unquote(path)
        masked = mask_text(decoded)
        if masked != decoded:
            path = masked
    return urlunsplit((parts.scheme, netloc, path, mask_query_string(parts.query), parts.fragment))


class SecretFilter(logging.Filter):
    """A logging filter: the formatted message of every record passes through ``mask_text``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's to report
            return True
        masked = mask_text(message)
        if "%" in masked and _hint(unquote_plus(message)):
            # an access log line quotes the raw request line: percent-encoded (lt_token%3D...) as sent
            decoded = unquote_plus(masked)
            if mask_text(decoded) != decoded:
                masked = mask_text(decoded)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install_log_filter(*names: str) -> None:
    """Attach one SecretFilter to each named logger (idempotent): their records never carry a secret."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())
