"""The far side: LTX Studio itself, as useapi.net sees it.

Fake LTX Studio users (made with faker) own a session (``lt_id``, a JWT-shaped
``lt_token`` that expires, an ``lt_refresh_token``), a subscription flag and a
credit balance. useapi.net resolves the cookie a user posts to one of these
sessions, refreshes an expired ``lt_token`` with the refresh token, and spends
the user's credits per generation.
"""

from __future__ import annotations

import base64
import json
import secrets

from mock_server.cookies import parse_cookie
from mock_server.errors import ApiError, bad_request, not_found
from mock_server.sim.context import Context
from mock_server.sim.records import USER, LtxUser, get_user, get_users, put_user

LTX_USERS = "ltxusers"  # index: users' emails, oldest first
BY_TOKEN = "ltxtoken"
BY_REFRESH = "ltxrefresh"
TOKEN_TTL_MS = 30 * 24 * 3600 * 1000  # the docs' examples: tokenExpire one month after update
REFRESH_TTL_MS = 90 * 24 * 3600 * 1000  # "LTX Studio cookie expires after 3 months"
MISSING_COOKIE = "Missing required cookie fields: lt_token | lt_refresh_token"
# parse_cookie lives in mock_server/cookies.py, shared with the masks; the user record in records.py
__all__ = ["USER", "LtxStudio", "LtxUser", "parse_cookie"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LtxStudio:
    """Users, sessions and credits of the simulated LTX Studio."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- sessions ----------------------------------------------------------
    def _jwt(self, user: LtxUser, now: int, exp_ms: int) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({"sub": user.lt_id, "email": user.email, "iat": now // 1000,
                                   "exp": exp_ms // 1000, "jti": self.ctx.token_hex(8)}).encode())
        return f"{header}.{payload}.{self.ctx.sign(header + '.' + payload)}"

    def _issue_session(self, user: LtxUser, now: int, *, refresh: bool = True) -> None:
        store = self.ctx.store
        if user.lt_token:
            store.delete(BY_TOKEN, user.lt_token)
        user.token_expire = now + TOKEN_TTL_MS
        user.lt_token = self._jwt(user, now, user.token_expire)
        store.put(BY_TOKEN, user.lt_token, {"email": user.email})
        if refresh:
            if user.lt_refresh_token:
                store.delete(BY_REFRESH, user.lt_refresh_token)
            user.lt_refresh_token = _b64(secrets.token_bytes(24)) if self.ctx.config.seed is None \
                else _b64(bytes.fromhex(self.ctx.token_hex(48)))
            user.refresh_expire = now + REFRESH_TTL_MS
            store.put(BY_REFRESH, user.lt_refresh_token, {"email": user.email})
        user.revoked = False

    def reissue_tokens(self, user: LtxUser, now: int) -> None:
        """New lt_token and lt_refresh_token for a user whose expiries are already set (loading a snapshot)."""
        user.lt_token = self._jwt(user, now, int(user.token_expire))
        user.lt_refresh_token = _b64(secrets.token_bytes(24)) if self.ctx.config.seed is None \
            else _b64(bytes.fromhex(self.ctx.token_hex(48)))

    def cookie_of(self, user: LtxUser) -> str:
        """The cookie string a browser would send for this session (what POST /accounts takes)."""
        return (f"optimizelyEndUserId=oeu{user.created_ms}r0.{user.lt_id[:8]}; x-country-code=US; "
                f"successfulLogin=true; lt_refresh_token={user.lt_refresh_token}; lt_id={user.lt_id}; "
                f"lt_token={user.lt_token}")

    # -- users -------------------------------------------------------------
    def create_user(self, now: int, *, email: str | None = None, credits: int | None = None,
                    subscription: bool = True, name: str | None = None) -> LtxUser:
        """A new LTX Studio user with a fresh session; an existing email is an error."""
        ctx = self.ctx
        with ctx.store.atomic():
            if email is None:
                for _ in range(20):
                    email = ctx.faker.unique.email() if ctx.config.seed is None else ctx.faker.email()
                    if ctx.store.get(USER, email) is None:
                        break
            assert email is not None
            email = email.strip()
            if ctx.store.get(USER, email) is not None:
                raise ApiError(409, f"LTX Studio user {email} already exists")
            user = LtxUser.new(email, name or ctx.faker.name(),
                               _b64(bytes.fromhex(ctx.token_hex(32)))[:21],  # 21 url-safe chars, like the setup page's
                               ctx.config.demo_credits if credits is None else int(credits), bool(subscription), now)
            self._issue_session(user, now)
            put_user(ctx.store, user)
            ctx.store.index_add(LTX_USERS, email, now)
            return user

    def get_user(self, email: str) -> LtxUser | None:
        return get_user(self.ctx.store, email)

    def require_user(self, email: str) -> LtxUser:
        user = self.get_user(email)
        if user is None:
            raise not_found(f"LTX Studio user {email} not found")
        return user

    def save(self, user: LtxUser) -> None:
        put_user(self.ctx.store, user)

    def restore(self, user: LtxUser) -> None:
        """Write a user back exactly as given (scenarios, snapshots), with its session lookups and listing."""
        store = self.ctx.store
        with store.atomic():
            old = self.get_user(user.email)
            if old is not None:
                store.delete(BY_TOKEN, old.lt_token or "")
                store.delete(BY_REFRESH, old.lt_refresh_token or "")
            store.put(BY_TOKEN, user.lt_token, {"email": user.email})
            store.put(BY_REFRESH, user.lt_refresh_token, {"email": user.email})
            self.save(user)
            store.index_add(LTX_USERS, user.email, user.created_ms)

    def list_users(self, offset: int = 0, limit: int | None = 100) -> list[LtxUser]:
        """Users oldest first; ``limit=None``: all of them from ``offset``."""
        emails = self.ctx.store.index_range(LTX_USERS, offset, limit)
        return [u for u in get_users(self.ctx.store, emails) if u is not None]

    def users(self, emails: list[str]) -> list[LtxUser | None]:
        """These users in order, None where gone (one round trip)."""
        return get_users(self.ctx.store, emails)

    def user_count(self) -> int:
        """How many LTX users there are (GET /__admin/ltx-users' X-Total-Count)."""
        return self.ctx.store.index_count(LTX_USERS)

    def patch_user(self, now: int, email: str, *, credits: int | None = None, subscription: bool | None = None,
                   token_expired: bool | None = None, new_session: bool = False) -> LtxUser:
        """Admin changes: credits, subscription, an expired (revoked) session, or a fresh session."""
        with self.ctx.store.atomic():
            user = self.require_user(email)
            if credits is not None:
                user.credits = int(credits)
            if subscription is not None:
                user.subscription = bool(subscription)
            if new_session or token_expired is False:
                self._issue_session(user, now)
            if token_expired:
                # The session is gone upstream: the access token is past its expiry and the
                # refresh token no longer works (the user logged out, or the cookie aged out).
                user.token_expire = min(user.token_expire, now)
                user.refresh_expire = min(user.refresh_expire, now)
                user.revoked = True
            self.save(user)
            return user

    # -- what useapi.net does with a posted cookie ---------------------------
    def resolve_cookie(self, now: int, fields: dict[str, str]) -> LtxUser:
        """The user behind a cookie, refreshing an expired access token; 400 when LTX Studio refuses it."""
        if not fields.get("lt_token") or not fields.get("lt_refresh_token"):
            raise bad_request(MISSING_COOKIE)
        store = self.ctx.store
        with store.atomic():
            ref = store.get(BY_TOKEN, fields["lt_token"]) or store.get(BY_REFRESH, fields["lt_refresh_token"])
            user = self.get_user(ref["email"]) if ref else None
            if user is None:
                raise bad_request("LTX Studio rejected the cookie: lt_token and lt_refresh_token are not valid")
            if fields.get("lt_id") and fields["lt_id"] != user.lt_id:
                raise bad_request("LTX Studio rejected the cookie: lt_id does not match lt_token")
            if user.revoked or user.refresh_expire <= now:
                raise bad_request("LTX Studio session expired: log in to LTX Studio again and post the new cookie")
            if user.token_expire <= now or user.lt_token != fields["lt_token"]:
                self._issue_session(user, now, refresh=False)  # refresh with lt_refresh_token
                self.save(user)
            return user

    def session_error(self, user: LtxUser | None, now: int) -> str | None:
        """Why useapi.net cannot act for this user right now, or None."""
        if user is None:
            return "LTX Studio user no longer exists"
        if user.revoked or user.refresh_expire <= now:
            return "LTX Studio session expired: log in to LTX Studio again and post the new cookie to POST /accounts"
        return None

    # -- credits -----------------------------------------------------------
    def charge(self, email: str, credits: int, now: int, user: LtxUser | None = None) -> None:
        """Spend credits for a generation (inside the caller's atomic block).

        Only credits decide here: the generation pages document one 402, "Insufficient credits". The
        subscription is checked when useapi.net verifies the cookie (POST /accounts), not per generation.
        """
        if user is None:  # else the caller read it in this atomic block
            user = self.require_user(email)
        if user.credits < credits:
            raise ApiError(402, "Insufficient credits")
        user.credits -= credits
        user.latest_created_ms = now
        self.save(user)
        self.ctx.emit("credits.charged", credits)

    def refund(self, email: str, credits: int) -> None:
        user = self.get_user(email)
        if user is not None:
            user.credits += credits
            self.save(user)
            self.ctx.emit("credits.refunded", credits)
