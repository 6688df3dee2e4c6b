"""Deeply nested JSON is refused with a 400 before it is parsed, on every JSON operation of both contracts,
and the journal, its count and the dashboard's request detail still read afterwards (they used to answer 500
``RecursionError`` until the journal was cleared)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mock_server.bounds import MAX_JSON_DEPTH, load_json, too_deep

ROOT = Path(__file__).resolve().parents[2]
SPECS = {"/v1/ltxstudio": ROOT / "openapi.yaml", "/__admin": ROOT / "mock_server/admin/admin-openapi.yaml"}
DEEP = 3000


def json_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation taking a JSON body, read from the two contracts themselves."""
    out = []
    for prefix, spec in SPECS.items():
        doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and "application/json" in (op.get("requestBody") or {}).get("content", {}):
                    out.append((method.upper(), prefix + path.replace("{email}", "demo@example.com")))
    return out


API_JSON_OPERATIONS = 8  # the journal keeps the API's exchanges: six operations and the two older image paths


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def state(live: Any) -> dict[str, Any]:
    counts = requests.get(f"{live.admin}/state", timeout=10).json()["counts"]
    return {"counts": counts, "clock": requests.get(f"{live.admin}/clock", timeout=10).json()}


def test_security_json_operations_are_all_covered() -> None:
    ops = json_operations()
    # the six API operations of the issue, and the two older image paths (issue 25)
    assert len([p for _, p in ops if p.startswith("/v1/")]) == 8, ops
    assert len(ops) >= 12, ops  # and the control API's


@pytest.mark.parametrize("where", ["field", "top"])
def test_security_deep_json_is_400_on_every_json_operation_and_journal_still_reads(serve: Any, where: str) -> None:
    live = serve()
    before = state(live)
    for method, path in json_operations():
        body = f'{{"prompt": {nested(DEEP)}}}' if where == "field" else nested(DEEP)
        r = requests.request(method, live.url + path, data=body, timeout=30,
                             headers={**live.headers, "Content-Type": "application/json"})
        assert r.status_code == 400, (method, path, r.status_code, r.text[:300])
        assert r.json() == {"error": f"Request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
                            "code": 400}, (method, path)
    assert state(live) == before  # nothing changed
    journal = requests.get(f"{live.admin}/requests", timeout=10)
    assert journal.status_code == 200, journal.text[:300]
    entries = journal.json()["items"]
    assert len(entries) == API_JSON_OPERATIONS and all(e["status"] == 400 for e in entries)
    assert all(isinstance(e["body"], str) for e in entries)  # too deep to parse: shown as the text it was
    assert requests.get(f"{live.admin}/requests/count", timeout=10).json() == {"count": API_JSON_OPERATIONS}
    detail = requests.get(f"{live.admin}/dashboard/requests/{entries[0]['id']}", timeout=10)
    assert detail.status_code == 200, detail.text[:300]
    assert requests.get(f"{live.admin}/dashboard/data", timeout=10).status_code == 200


def test_security_depth_limit_is_exact_and_ignores_brackets_in_strings(serve: Any) -> None:
    live = serve()
    url = f"{live.api}/images/create"
    # At the limit the body is parsed: the schema then refuses the field (not the depth).
    at_limit = requests.post(url, data=f'{{"prompt": "x", "seed": {nested(MAX_JSON_DEPTH - 1)}}}', timeout=10,
                             headers={**live.headers, "Content-Type": "application/json"})
    assert at_limit.status_code == 400 and "deeper" not in at_limit.json()["error"], at_limit.text[:200]
    over = requests.post(url, data=f'{{"prompt": "x", "seed": {nested(MAX_JSON_DEPTH)}}}', timeout=10,
                         headers={**live.headers, "Content-Type": "application/json"})
    assert over.status_code == 400 and "deeper than 64" in over.json()["error"]
    # Brackets inside a string are text: a prompt of 1,500 '[' is a valid prompt.
    ok = requests.post(url, json={"prompt": "[" * 1500 + '\\"]' + "{" * 400}, headers=live.headers, timeout=10)
    assert ok.status_code == 200, ok.text[:200]


def test_security_depth_check_is_linear_and_agrees_with_the_parser() -> None:
    assert not too_deep(nested(MAX_JSON_DEPTH)) and too_deep(nested(MAX_JSON_DEPTH + 1))
    assert not too_deep('{"a": "' + "[" * 10_000 + '"}')
    assert not too_deep('["\\"' + "[" * 100 + '"]')  # an escaped quote does not end the string
    assert load_json('{"a": [[1], {"b": [2]}]}') == {"a": [[1], {"b": [2]}]}
    hostile = b'{"a": ' + b"[" * 10_000_000 + b"]" * 10_000_000 + b"}"
    t0 = time.perf_counter()
    assert too_deep(hostile)
    assert time.perf_counter() - t0 < 2.0  # stops at its first chunk (measured: ~0.03 s)
