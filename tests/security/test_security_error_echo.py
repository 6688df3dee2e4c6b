"""An error message quotes at most a short prefix of the offending value (a 400 used to echo a whole 1 MB
prompt back), and still says what is wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from mock_server.bounds import MESSAGE_LIMIT, QUOTE_LIMIT, clip_message


@pytest.fixture
def store_url() -> None:
    """Messages do not depend on the store: memory only."""
    return None


def test_security_400_for_a_1_mb_prompt_quotes_a_prefix_and_its_length(serve: Any) -> None:
    live = serve()
    prompt = "p" * 1_000_000
    r = requests.post(f"{live.api}/images/create", json={"prompt": prompt}, headers=live.headers, timeout=30)
    assert r.status_code == 400
    body = r.json()
    assert len(r.content) < 300, len(r.content)
    assert body["error"] == f'prompt: "{"p" * QUOTE_LIMIT}…" (1000000 characters) is longer than 2000 characters'
    journal = requests.get(f"{live.admin}/requests?limit=1", timeout=10).json()["items"][0]
    assert len(str(journal["response"])) < 300  # the journal keeps the short answer too


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/v1/ltxstudio/assets/", {"params": {"page": "x" * 8_000}}),
    ("GET", "/v1/ltxstudio/assets/", {"params": {"filter": "f" * 8_000}}),
    ("POST", "/v1/ltxstudio/accounts", {"json": {"cookie": "c" * 100_000}}),
    ("POST", "/v1/ltxstudio/videos/ltx-create", {"json": {"prompt": "x", "model": "m" * 100_000}}),
    ("POST", "/v1/ltxstudio/assets/", {"data": b"x", "headers": {"Content-Type": "t/" + "x" * 50_000}}),
    ("GET", "/__admin/dashboard/data", {"params": {"jobs_offset": "z" * 8_000}}),
    ("POST", "/__admin/ltx-users", {"json": {"email": "e" * 100_000}}),
    ("POST", "/__admin/faults", {"json": {"path": "/x", "status": "9" * 100_000}}),
])
def test_security_no_error_echoes_a_long_value(serve: Any, method: str, path: str, kwargs: dict[str, Any]) -> None:
    live = serve()
    headers = {**live.headers, **kwargs.pop("headers", {})}
    r = requests.request(method, live.url + path, headers=headers, timeout=30, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert set(r.json()) == {"error", "code"}
    assert len(r.json()["error"]) <= MESSAGE_LIMIT, r.text[:300]
    assert not re.search(rf"(.)\1{{{QUOTE_LIMIT}}}", r.text), r.text[:300]  # no run longer than the quote limit


def test_security_clip_message_keeps_what_follows_and_short_messages_whole() -> None:
    assert clip_message("prompt is required") == "prompt is required"
    short_quote = 'model: "x" is not one of ["ltxv-2", "veo3"]'
    assert clip_message(short_quote + " " * 100) == short_quote + " " * 100
    long = f"got {'q' * 10_000!r}, expected an integer"
    assert clip_message(long) == f"got '{'q' * QUOTE_LIMIT}…' (10000 characters), expected an integer"
    many = " ".join(f'"{i}"' for i in range(2_000))
    assert len(clip_message(many)) <= MESSAGE_LIMIT
