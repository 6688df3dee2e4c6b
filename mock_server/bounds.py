"""Limits every request is held to before anything parses, stores or echoes it.

One module, so the API, the control API, the dashboard and the journal agree on
the numbers and the contracts (``openapi.yaml``, ``admin/admin-openapi.yaml``)
can be checked against them (``tests/security/``).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 64  # the deepest documented body (a scenario document) nests 6 levels; json.loads breaks at ~1,000
MAX_OFFSET = 1_000_000_000  # paging offsets: far past any store's size, far inside SQLite's and Redis's int64
MAX_PAGE = 10_000_000  # GET /assets/ page: (page - 1) * limit (<= 100) stays within MAX_OFFSET
QUOTE_LIMIT = 64  # characters of an offending value an error message quotes
MESSAGE_LIMIT = 1000  # characters of an error message, whatever it quotes

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string literal (unrolled: linear time)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _b in b"[{":
    _STEP[_b] = 1
for _b in b"]}":
    _STEP[_b] = -1
_CHUNK = 1 << 16


class TooDeep(ValueError):
    """A JSON text nests deeper than :data:`MAX_JSON_DEPTH` (a ``ValueError``, like any other unreadable JSON)."""


def too_deep(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests deeper than ``limit``, judged on its brackets outside strings, without parsing.

    Linear and without recursion: strings are cut out by one regex, the remaining brackets become +1/-1 and their
    running sum is taken in C (itertools) a chunk at a time, so a hostile body stops at its first chunk and a wide,
    shallow one costs about what parsing it would (~0.1 us a bracket).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # cannot be too deep: no scan (every ordinary body)
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    depth = 0
    for i in range(0, len(brackets), _CHUNK):
        sums = list(accumulate(map(_STEP.__getitem__, brackets[i:i + _CHUNK]), initial=depth))
        if max(sums) > limit:
            return True
        depth = sums[-1]
    return False


def load_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, refusing (``TooDeep``) a text nested deeper than ``max_depth`` before parsing it."""
    if too_deep(raw, max_depth):
        raise TooDeep(f"nests arrays and objects deeper than {max_depth} levels")
    return json.loads(raw)


_QUOTED = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|\'[^\'\\]*(?:\\.[^\'\\]*)*\'', re.DOTALL)  # unrolled: linear


def _clip_quote(m: re.Match[str]) -> str:
    text = m[0]
    if len(text) <= QUOTE_LIMIT + 2:
        return text
    return f"{text[:QUOTE_LIMIT + 1]}…{text[0]} ({len(text) - 2} characters)"


def clip_message(message: str) -> str:
    """An error message that quotes at most :data:`QUOTE_LIMIT` characters of any value, and is bounded itself.

    Validator messages quote the offending value whole (``"<1 MB prompt>" is longer than 2000 characters``):
    each quoted literal past the limit keeps its start and says how long it was; what follows it stays.
    """
    if len(message) <= QUOTE_LIMIT + 40:
        return message
    message = _QUOTED.sub(_clip_quote, message)
    if len(message) > MESSAGE_LIMIT:
        message = f"{message[:MESSAGE_LIMIT - 200]} … {message[-150:]}"
    return message
