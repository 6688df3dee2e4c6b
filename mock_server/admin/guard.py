"""Who may drive the control API: no cross-site page, and with ``--admin-token`` only its holder.

A simulator on 127.0.0.1 is reachable by every web page the user's browser opens. A page cannot
read the answers (no CORS headers are ever sent), but without this guard it could still *send*
the "simple" requests browsers make without asking (a form post, or ``fetch`` with
``Content-Type: text/plain``), and so add tokens, reset or move the clock. Three rules close that:

* a body must be JSON (``415`` otherwise): a JSON body makes a browser ask first (CORS preflight),
  and the simulator never says yes;
* an ``Origin`` that is not this server's own (or ``Sec-Fetch-Site: cross-site``) is ``403``: a
  browser sends it on every cross-origin POST, bodyless ones included (``POST /reset``);
* on a loopback bind, a ``Host`` that is neither an IP address nor ``localhost`` is ``403``: that is
  what a DNS-rebinding page sends (its own name, resolved to 127.0.0.1, same origin as itself).

``--admin-token T`` (``SimConfig.admin_token``) adds a credential: every ``/__admin`` call must carry
``Authorization: Bearer T`` or ``X-Admin-Token: T`` (``401`` otherwise), except the dashboard's page,
script and stylesheet (no data; the page reads the token from its ``#token=`` fragment), the health check, and its
artifact previews (signed URLs: the signature is their credential). A request carrying the token is
trusted whatever its ``Origin``: a foreign page cannot know the token.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from mock_server.config import SimConfig
from mock_server.errors import ApiError

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PREFIXES = ("/__admin/dashboard/static/", "/__admin/dashboard/storage/")
# Open without the admin token too: the dashboard's page (no data), and the health check (a container's or a CI
# job's `curl -f` probe carries no credential; it shows readiness, the version and uptime, never a secret).
OPEN_PATHS = frozenset({"/__admin/dashboard", "/__admin/dashboard/", "/__admin/health", "/__admin/health/live"})
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("localhost",)


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _split_host(host: str, scheme: str) -> tuple[str, int | None]:
    """``Host``/netloc -> (lower-case hostname, port with the scheme's default filled in)."""
    try:
        parts = urlsplit(f"//{host}")
        port = parts.port
    except ValueError:
        return host.lower(), None
    return (parts.hostname or "").lower(), port if port is not None else DEFAULT_PORTS.get(scheme)


def loopback_bind(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _plain_host(hostname: str) -> bool:
    """An IP literal or localhost: a name no DNS-rebinding page can make the browser send."""
    if hostname in LOOPBACK_NAMES or hostname.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(hostname.strip("[]"))
        return True
    except ValueError:
        return False


class AdminGuard:
    """The checks the pipeline's ``authenticate`` step runs on every ``/__admin`` request; ``check`` answers the
    refusal or None."""

    def __init__(self, config: SimConfig) -> None:
        self.token = (config.admin_token or "").encode() or None
        self.loopback = loopback_bind(config.host)
        public = urlsplit(config.public_url) if config.public_url else None
        self.public_host = (public.hostname or "").lower() if public else None

    def _has_token(self, req: Any) -> bool:
        if self.token is None:
            return False
        given = req.headers.get("X-Admin-Token")
        if given is None:
            scheme, _, value = req.headers.get("Authorization", "").partition(" ")
            given = value.strip() if scheme.lower() == "bearer" else ""
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token)

    def check(self, req: Any) -> ApiError | None:
        authorised = self._has_token(req)
        if not authorised:
            refused = self._cross_site(req)
            if refused is not None:
                return refused
            if self.token is not None and req.path not in OPEN_PATHS and not req.path.startswith(OPEN_PREFIXES):
                return ApiError(401, "The control API needs the admin token (--admin-token): send "
                                     "'Authorization: Bearer <token>' or 'X-Admin-Token: <token>'",
                                (("WWW-Authenticate", 'Bearer realm="ltx-mock admin"'),))
        if req.method in MUTATING:
            has_body = bool(req.content_length) or "chunked" in req.headers.get("Transfer-Encoding", "").lower()
            content_type = req.headers.get("Content-Type")
            if (content_type is not None or has_body) and not _is_json(req.mimetype):
                return _error(415, f"The control API takes JSON bodies only (Content-Type: application/json), "
                                   f"got {_clip(content_type or 'no Content-Type')!r}")
        return None

    def _cross_site(self, req: Any) -> ApiError | None:
        scheme = req.scheme
        own_host, own_port = _split_host(req.host, scheme)
        origin = req.headers.get("Origin")
        if origin is not None:
            parts = urlsplit(origin) if origin != "null" else None
            try:
                port = parts.port if parts else None
            except ValueError:
                port = -1
            same = parts is not None and parts.scheme in DEFAULT_PORTS and (parts.hostname or "").lower() == own_host \
                and (port if port is not None else DEFAULT_PORTS.get(parts.scheme)) == own_port
            if not same:
                return _error(403, f"Cross-site request refused: Origin {_clip(origin)!r} is not this simulator "
                                   f"({scheme}://{_clip(req.host)}); the control API answers only its own pages, "
                                   "scripts and tools")
        if req.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return _error(403, "Cross-site request refused (Sec-Fetch-Site: cross-site)")
        if self.loopback and not _plain_host(own_host) and own_host != self.public_host:
            return _error(403, f"Host {_clip(req.host)!r} refused: this simulator is bound to loopback, so the "
                               "control API answers only an IP address or localhost (a DNS-rebinding page sends "
                               "its own name); use --public-url or --admin-token to allow another name")
        return None


def _error(status: int, message: str) -> ApiError:
    return ApiError(status, message)
