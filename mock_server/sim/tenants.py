"""Tenants: who may call the API. One per API token, keyed by a hash of it, so no secret is ever a store key.

``Tenants.add`` (start-up, ``POST /__admin/tokens``, scenarios) registers a token; ``Tenants.of`` answers the
bearer check of every request (one store read); the rest reads them for the dashboard, snapshots and the banner.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from mock_server.sim.context import Context

TENANT = "tenant"  # record kind: a Tenant, under its id
TENANTS = "tenants"  # index: tenant ids, oldest first


def tenant_id(token: str) -> str:
    """Tenants are keyed by a hash of their token, so no secret is ever a store key or a log line."""
    return "t_" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Tenant:
    """An API token's tenant. ``hint``: the token's first 4 characters (what views show of it); ``token`` is
    kept (as a value, never a key) only so that snapshots can write it back."""

    id: str
    hint: str
    created: float  # real epoch seconds
    token: str | None = None

    @classmethod
    def new(cls, token: str, created: float) -> Tenant:
        hint = (token[:4] + "…") if len(token) >= 16 else "…"  # a short token would show whole
        return cls(tenant_id(token), hint, created, token)

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the keys the dict records had)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tenant:
        return cls(d["id"], d.get("hint", ""), d.get("created", 0.0), d.get("token"))


class Tenants:
    """Every tenant of the simulator, in the store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, token: str) -> str:
        """Register ``token`` (again: nothing changes); returns its tenant id."""
        tid = tenant_id(token)
        store = self.ctx.store
        if store.get(TENANT, tid) is None:
            tenant = Tenant.new(token, time.time())
            store.put(TENANT, tid, tenant.to_dict())
            store.index_add(TENANTS, tid, tenant.created)
        return tid

    def of(self, token: str) -> str | None:
        """The tenant of a bearer token, or None (-> 401)."""
        if not token:
            return None
        tid = tenant_id(token)
        return tid if self.ctx.store.get(TENANT, tid) is not None else None

    def ids(self, limit: int | None = None) -> list[str]:
        """The tenants' ids, oldest first (at most ``limit``)."""
        return self.ctx.store.index_range(TENANTS, 0, limit)

    def get(self, tid: str) -> Tenant | None:
        record = self.ctx.store.get(TENANT, tid)
        return None if record is None else Tenant.from_dict(record)

    def tokens(self, limit: int | None = None) -> dict[str, str]:
        """tenant id -> its token, for the (first ``limit``) tenants whose token is kept (snapshots, the banner)."""
        out: dict[str, str] = {}
        for tid in self.ids(limit):
            tenant = self.get(tid)
            if tenant is not None and tenant.token:
                out[tid] = tenant.token
        return out

    def count(self) -> int:
        return self.ctx.store.index_count(TENANTS)
