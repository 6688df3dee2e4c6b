"""``GET /__admin/ltx-users`` returns every user (it used to stop silently at 1,000), says how many there are,
and pages with offset/limit as its contract documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

USERS = 1_050


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Memory and SQLite: making 1,050 users on Redis takes ~10 s; its unbounded index_range is covered by
    tests/store/test_store_contract.py."""
    return None if request.param == "memory" else f"sqlite://{tmp_path / 'state.db'}"


def test_security_ltx_users_lists_all_past_1000_and_pages(serve: Any) -> None:
    live = serve(demo=False)
    for n in range(USERS):
        live.sim.ltx.create_user(live.sim.now(), email=f"user{n:04d}@example.com", credits=n)
    everyone = requests.get(f"{live.admin}/ltx-users", timeout=60)
    assert everyone.status_code == 200
    emails = [u["email"] for u in everyone.json()]
    assert len(emails) == USERS and len(set(emails)) == USERS
    assert everyone.headers["X-Total-Count"] == str(USERS)
    assert all("cookie" not in u for u in everyone.json())
    paged: list[str] = []
    for offset in range(0, USERS + 500, 500):
        page = requests.get(f"{live.admin}/ltx-users", params={"offset": offset, "limit": 500}, timeout=30)
        assert page.status_code == 200 and page.headers["X-Total-Count"] == str(USERS)
        paged += [u["email"] for u in page.json()]
    assert paged == emails  # oldest first, no gap, no overlap
    for bad in ({"limit": 0}, {"limit": 10_001}, {"offset": -1}, {"offset": "x"}):
        r = requests.get(f"{live.admin}/ltx-users", params=bad, timeout=10)
        assert r.status_code == 400 and set(r.json()) == {"error", "code"}, (bad, r.text)
