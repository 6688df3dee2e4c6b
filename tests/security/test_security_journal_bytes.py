"""The request journal is bounded in bytes as well as entries; a page is read without reading the rest (issue 19)."""

from __future__ import annotations

from typing import Any

from mock_server import SimConfig, create_app
from mock_server.journal import BODY_LIMIT, ENTRY, INDEX, Journal, entry_size
from mock_server.store.memory import MemoryStore

AUTH = {"Authorization": "Bearer demo-token"}


def _entry(i: int, body_chars: int) -> dict[str, Any]:
    return {"time_ms": i, "sim_ms": i, "method": "POST", "path": "/v1/ltxstudio/images/create", "query": {},
            "headers": {"Content-Type": "application/json"}, "body": "x" * body_chars, "body_type": "application/json",
            "status": 400, "response": '{"error": "bad", "code": 400}', "response_type": "application/json",
            "duration_ms": 1.0, "operation": "createImage", "tenant": "t", "fault": None}


def _stored(store: MemoryStore) -> list[dict[str, Any]]:
    return [e for e in store.get_many(ENTRY, store.index_range(INDEX)) if e]


def test_security_journal_byte_cap_trims_oldest_and_keeps_accounts_exact() -> None:
    store = MemoryStore()
    journal = Journal(store, limit=10_000, max_bytes=300_000)
    for i in range(200):
        journal.append(_entry(i, 20_000))
    kept = _stored(store)
    assert sum(entry_size(e) for e in kept) == journal.stored_bytes() <= 300_000
    assert len(kept) == 300_000 // entry_size(_entry(0, 20_000))  # as many as fit, no fewer
    assert [e["id"] for e in kept] == list(range(201 - len(kept), 201))  # the newest, in order
    journal.clear()
    assert journal.stored_bytes() == 0 and _stored(store) == []
    journal.append(_entry(0, 10))
    assert _stored(store)[0]["id"] == 201  # ids keep counting after a clear


def test_security_journal_entry_cap_still_holds_and_one_huge_entry_stays() -> None:
    store = MemoryStore()
    journal = Journal(store, limit=5, max_bytes=10**9)
    for i in range(12):
        journal.append(_entry(i, 10))
    assert [e["id"] for e in _stored(store)] == [8, 9, 10, 11, 12]
    tiny = Journal(MemoryStore(), limit=5, max_bytes=100)
    tiny.append(_entry(0, 5000))  # bigger than the whole cap: the newest entry always stays
    assert len(_stored(tiny.store)) == 1  # type: ignore[arg-type]


def test_security_journal_unfiltered_page_reads_only_the_page() -> None:
    """``GET /__admin/requests?limit=1`` at the cap read every entry (1.2 s at 10,000 x 60 kB); now it reads one."""
    store = MemoryStore()
    journal = Journal(store, limit=10_000)
    for i in range(2_000):
        journal.append(_entry(i, 100))
    reads: list[int] = []
    real = store.get_many

    def counting(kind: str, keys: list[str]) -> list[Any]:
        reads.append(len(keys))
        return real(kind, keys)

    store.get_many = counting  # type: ignore[method-assign]
    items, total = journal.query(limit=1)
    assert total == 2_000 and [e["id"] for e in items] == [2_000] and sum(reads) == 1
    reads.clear()
    items, total = journal.query(limit=3, offset=5)
    assert [e["id"] for e in items] == [1_995, 1_994, 1_993] and sum(reads) == 3
    reads.clear()
    items, total = journal.query(method="POST", limit=1)  # a filter must look at every entry (the bytes cap bounds it)
    assert total == 2_000 and sum(reads) == 2_000


def test_security_journal_rejected_large_requests_stay_within_the_cap() -> None:
    """60 kB rejected requests through the app: each body cut to BODY_LIMIT, all of them within journal_max_bytes."""
    app = create_app(SimConfig(background=False, paused=True, journal_max_bytes=400_000))
    client = app.test_client()
    journal = app.extensions["ltx_journal"]
    prompt = "p" * 60_000
    for _ in range(60):
        resp = client.post("/v1/ltxstudio/images/create", json={"prompt": prompt}, headers=AUTH)
        assert resp.status_code in (400, 413)
    assert journal.stored_bytes() <= 400_000
    entries = client.get("/__admin/requests", query_string={"limit": 1000}).get_json()
    assert 10 <= entries["total"] < 60  # trimmed by bytes, not by the 10,000-entry limit
    newest = entries["items"][0]
    assert isinstance(newest["body"], str) and len(newest["body"]) <= BODY_LIMIT + 1 and newest["body"].endswith("…")
