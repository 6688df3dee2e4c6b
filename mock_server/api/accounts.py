"""GET/POST /accounts, GET/DELETE /accounts/{email}."""

from __future__ import annotations

from typing import Any

from mock_server.api import route
from mock_server.errors import not_found
from mock_server.views import NO_CONTENT, InFlight, Reply


@route("GET", "/accounts", "listAccounts")
def list_accounts(call: InFlight) -> Any:
    accounts = call.sim.accounts.all(call.tenant)
    if not accounts:
        raise not_found("Configuration not found. To create configuration use POST /accounts")
    return {a.email: call.sim.accounts.view(a, call.now) for a in accounts}


@route("POST", "/accounts", "createAccount")
def create_account(call: InFlight) -> Any:
    return call.sim.accounts.upsert(call.tenant, call.data["cookie"], call.data.get("maxJobs"), call.now)


@route("GET", "/accounts/<email>", "getAccount")
def get_account(call: InFlight, email: str) -> Any:
    account = call.sim.accounts.require(call.tenant, email)
    return call.sim.accounts.view(account, call.now, with_balance=True)


@route("DELETE", "/accounts/<email>", "deleteAccount")
def delete_account(call: InFlight, email: str) -> Reply:
    call.sim.scheduler.delete_account(call.tenant, email, call.now)
    return NO_CONTENT
