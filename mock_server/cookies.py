"""The one cookie parser: the rules read sessions with it (``sim/ltx.py``, ``sim/accounts.py``).

``parse_cookie`` is what useapi.net's rules take from a posted cookie; ``SECRET_FIELDS`` are the parts that are
session secrets. Hiding them (and every other secret) is the masking engine's job, ``mock_server/masking.py``,
whose cookie mask is built to cover everything this parser reads
(``tests/security/test_security_secrets.py`` checks this over generated cookie syntax).
"""

from __future__ import annotations

SECRET_FIELDS = ("lt_token", "lt_refresh_token")


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
