"""useapi.net's account configurations: one per LTX Studio email, per API token.

POST /accounts creates or updates (never duplicates) the configuration of the
user behind a cookie; every view masks the secrets as the docs show them.
"""

from __future__ import annotations

from typing import Any

from mock_server.errors import ApiError, bad_request, not_found
from mock_server.sim.context import Context, iso
from mock_server.sim.ltx import LtxStudio, parse_cookie
from mock_server.sim.records import (
    ACCOUNT,
    DEFAULT_MAX_JOBS,
    Account,
    account_key,
    get_account,
    get_accounts,
    put_account,
)

__all__ = ["ACCOUNT", "DEFAULT_MAX_JOBS", "Account", "Accounts", "account_key", "account_tenants_index",
           "accounts_index"]
SECURED = "…secured…"
# The LTX Studio session cookies useapi.net keeps. A browser's Cookie header also carries others
# (optimizelyEndUserId, x-country-code, ...); both documented account views show only these three.
LTX_COOKIES = ("lt_id", "lt_token", "lt_refresh_token")


def accounts_index(tenant: str) -> str:
    """Index: a tenant's configured accounts' emails, oldest first."""
    return f"accounts:{tenant}"


def account_tenants_index(email: str) -> str:
    """Index: the tenants that configured an LTX user's email as an account."""
    return f"account-tenants:{email}"


class Accounts:
    """Account configurations of every tenant."""

    def __init__(self, ctx: Context, ltx: LtxStudio) -> None:
        self.ctx = ctx
        self.ltx = ltx

    def upsert(self, tenant: str, cookie: str, max_jobs: int | None, now: int) -> dict[str, Any]:
        """Create or update the configuration for the cookie's user."""
        fields = parse_cookie(cookie)
        store = self.ctx.store
        with store.atomic():
            user = self.ltx.resolve_cookie(now, fields)
            if not user.subscription:
                raise ApiError(402, "Subscription required")
            account = get_account(store, tenant, user.email) or Account.configure(tenant, user.email, now, now)
            if max_jobs is not None:
                account.maxJobs = int(max_jobs)
            # Keep the LTX Studio session only (lt_token is the refreshed one); other browser cookies are dropped.
            account.cookie = {"lt_id": user.lt_id, "lt_token": user.lt_token,
                              "lt_refresh_token": user.lt_refresh_token}
            account.updated_ms = now
            put_account(store, account)
            store.index_add(accounts_index(tenant), user.email, account.created_ms)
            store.index_add(account_tenants_index(user.email), tenant, account.created_ms)
            return self.view(account, now)

    def get(self, tenant: str, email: str) -> Account | None:
        return get_account(self.ctx.store, tenant, email)

    def emails(self, tenant: str) -> list[str]:
        return self.ctx.store.index_range(accounts_index(tenant))

    def all(self, tenant: str) -> list[Account]:
        return get_accounts(self.ctx.store, tenant, self.emails(tenant))

    def require(self, tenant: str, email: str) -> Account:
        account = self.get(tenant, email)
        if account is None:
            raise not_found(f"Account configuration not found for {email}")
        return account

    def delete(self, tenant: str, email: str) -> None:
        store = self.ctx.store
        with store.atomic():
            if not store.delete(ACCOUNT, account_key(tenant, email)):
                raise not_found(f"Account configuration not found for {email}")
            store.index_remove(accounts_index(tenant), email)
            store.index_remove(account_tenants_index(email), tenant)

    def restore(self, account: Account) -> None:
        """Write a configuration back exactly as given (scenarios, snapshots), without asking LTX Studio."""
        store = self.ctx.store
        tenant, email = account.tenant, account.email
        with store.atomic():
            put_account(store, account)
            store.index_add(accounts_index(tenant), email, account.created_ms)
            store.index_add(account_tenants_index(email), tenant, account.created_ms)

    def tenants_of(self, email: str) -> list[str]:
        """Every tenant that has configured this LTX Studio user."""
        return self.ctx.store.index_range(account_tenants_index(email))

    def set_max_jobs(self, tenant: str, email: str, max_jobs: int) -> Account:
        with self.ctx.store.atomic():
            account = self.require(tenant, email)
            account.maxJobs = int(max_jobs)
            put_account(self.ctx.store, account)
            return account

    def resolve(self, tenant: str, email: str | None) -> Account:
        """The account a request acts on: ``email`` optional with one account, required with several."""
        if email:
            account = self.get(tenant, email)
            if account is None:
                raise bad_request(f"Unable to locate LTX Studio account {email}, configure it with POST /accounts")
            return account
        emails = self.emails(tenant)
        if not emails:
            raise bad_request("No LTX Studio account configured, use POST /accounts first")
        if len(emails) > 1:
            raise bad_request("Parameter email is required when multiple LTX Studio accounts are configured")
        return self.require(tenant, emails[0])

    # -- views -------------------------------------------------------------
    def view(self, account: Account, now: int, *, with_balance: bool = False) -> dict[str, Any]:
        """The documented account model, secrets masked."""
        user = self.ltx.get_user(account.email)
        stored = account.cookie  # restored configurations may still carry other cookies: not shown
        cookie = {k: (stored[k] if k == "lt_id" else SECURED) for k in LTX_COOKIES if k in stored}
        out: dict[str, Any] = {
            "email": account.email,
            "cookie": cookie,
            "maxJobs": account.maxJobs,
            "updated": account.updated_ms,
            "updatedUTC": iso(account.updated_ms),
        }
        if user is not None:
            out.update(tokenExpire=user.token_expire, tokenExpireUTC=iso(user.token_expire),
                       refreshTokenExpire=user.refresh_expire, refreshTokenExpireUTC=iso(user.refresh_expire))
        error = self.ltx.session_error(user, now)
        if error:
            out["error"] = error
        if with_balance and user is not None:
            out["balance"] = {"LTXStudio_token": user.credits}
            if user.latest_created_ms:
                out["latestCreatedAtMs"] = {"LTXStudio_token": user.latest_created_ms}
        return out
