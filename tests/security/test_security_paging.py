"""Paging numbers are bounded by the contracts, and every store honours the bounds (no int64 overflow:
``GET /assets/?page=9223372036854775807`` used to be a 500 on SQLite and Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mock_server.bounds import MAX_OFFSET, MAX_PAGE
from mock_server.store import open_store
from mock_server.store.base import INDEX_SPAN

ROOT = Path(__file__).resolve().parents[2]
HUGE = ["9223372036854775807", "9223372036854775808", "1" + "0" * 30, "9" * 5000]
PAGING = {"page", "offset", "limit"}


def integer_paging_params() -> list[tuple[str, str, dict[str, Any]]]:
    """(spec, name, schema) of every paging parameter (page/offset/limit, dashboard *_offset) in both contracts."""
    out = []
    for spec in (ROOT / "openapi.yaml", ROOT / "mock_server/admin/admin-openapi.yaml"):
        doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
        params = list((doc.get("components") or {}).get("parameters", {}).values())
        for item in doc["paths"].values():
            for op in [item, *item.values()]:
                if isinstance(op, dict):
                    params += [p for p in op.get("parameters", []) if "$ref" not in p]
        for p in params:
            if p["name"] in PAGING or p["name"].endswith("_offset"):
                out.append((spec.name, p["name"], p["schema"]))
    return out


def test_security_every_paging_parameter_has_a_maximum_the_stores_can_honour() -> None:
    params = integer_paging_params()
    assert len(params) >= 10, params
    for spec, name, schema in params:
        assert schema["type"] == "integer", (spec, name)
        if name.endswith("_limit"):
            continue
        assert "maximum" in schema, (spec, name)
        assert schema["maximum"] <= MAX_OFFSET, (spec, name)
    assert ("openapi.yaml", "page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}) in params


@pytest.mark.parametrize("value", HUGE)
def test_security_huge_paging_numbers_are_400_on_every_store(serve: Any, value: str) -> None:
    live = serve()
    cases = [(f"{live.api}/assets/?page={value}", live.headers), (f"{live.admin}/jobs?offset={value}", {}),
             (f"{live.admin}/requests?offset={value}", {}), (f"{live.admin}/ltx-users?offset={value}", {}),
             (f"{live.admin}/ltx-users?limit={value}", {})]
    cases += [(f"{live.admin}/dashboard/data?{section}_offset={value}", {})
              for section in ("jobs", "requests", "webhooks", "users")]
    for url, headers in cases:
        r = requests.get(url, headers=headers, timeout=10)
        assert r.status_code == 400, (url[:120], r.status_code, r.text[:200])
        assert set(r.json()) == {"error", "code"} and len(r.text) < 400, r.text[:500]


def test_security_paging_at_the_maximum_answers_an_empty_page_on_every_store(serve: Any) -> None:
    live = serve()
    up = requests.post(f"{live.api}/assets/", data=b"\x89PNG", headers={**live.headers, "Content-Type": "image/png"},
                       timeout=10)
    assert up.status_code == 200, up.text
    r = requests.get(f"{live.api}/assets/?page={MAX_PAGE}&limit=100", headers=live.headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [] and r.json()["meta"]["totalItems"] == 1
    for url in (f"{live.admin}/jobs?offset={MAX_OFFSET}", f"{live.admin}/requests?offset={MAX_OFFSET}",
                f"{live.admin}/ltx-users?offset={MAX_OFFSET}", f"{live.admin}/dashboard/data?jobs_offset={MAX_OFFSET}"):
        r = requests.get(url, timeout=10)
        assert r.status_code == 200, (url, r.text[:200])


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_security_stores_read_any_offset_without_overflow(kind: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    """The stores' own guard, behind the contracts': an offset or limit beyond int64 reads as past the end."""
    url = {"memory": "memory://", "sqlite": f"sqlite://{tmp_path / 's.db'}",
           "redis": f"{request.getfixturevalue('redis_url') if kind == 'redis' else ''}?prefix=ltxsecp:{kind}:"}[kind]
    store = open_store(url)
    try:
        store.index_add("i", "a", 1)
        for big in (INDEX_SPAN, 2**63 - 1, 2**63, 10**30):
            assert store.index_range("i", big, 10) == []
            assert store.index_range("i", big, 10, reverse=True) == []
            assert store.index_range("i", 0, big) == ["a"]
            assert store.index_by_score("i", limit=big) == [("a", 1.0)]
    finally:
        store.clear()
        store.close()
