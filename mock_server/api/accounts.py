"""GET/POST /accounts, GET/DELETE /accounts/{email}."""

from __future__ import annotations

from typing import Any

from flask import Response
from ltxstudio_mock.mock_server.api import api_blueprint, json_response, no_content, now, sim, tenant
from ltxstudio_mock.mock_server.api.inputs import operation
from ltxstudio_mock.mock_server.errors import not_found

bp = api_blueprint("accounts")


@bp.get("/accounts")
@operation("listAccounts")
def list_accounts(query: dict[str, Any]) -> Response:
    accounts = sim().accounts.all(tenant())
    if not accounts:
        raise not_found("Configuration not found. To create configuration use POST /accounts")
    return json_response({a["email"]: sim().accounts.view(a, now()) for a in accounts})


@bp.post("/accounts")
@operation("createAccount")
def create_account(query: dict[str, Any], data: dict[str, Any]) -> Response:
    return json_response(sim().accounts.upsert(tenant(), data["cookie"], data.get("maxJobs"), now()))


@bp.get("/accounts/<email>")
@operation("getAccount")
def get_account(query: dict[str, Any], email: str) -> Response:
    account = sim().accounts.require(tenant(), email)
    return json_response(sim().accounts.view(account, now(), with_balance=True))


@bp.delete("/accounts/<email>")
@operation("deleteAccount")
def delete_account(query: dict[str, Any], email: str) -> Response:
    sim().scheduler.delete_account(tenant(), email, now())
    return no_content()
