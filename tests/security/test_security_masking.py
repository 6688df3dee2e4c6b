"""The one masking engine (``mock_server/masking.py``): each secret shape, each entry point, and what it leaves."""

from __future__ import annotations

import pytest

from mock_server.masking import (
    SECURED,
    mask_headers,
    mask_query,
    mask_query_string,
    mask_raw,
    mask_text,
    mask_url,
)

V = "S3cretValue0123456789"


@pytest.mark.parametrize("text", [
    f"a prompt with lt_token={V}; lt_id=1",
    f"LT_REFRESH_TOKEN = {V}",
    f"eyJhbGciOiJIUzI1NiJ9.eyJ{V}.{V}",
    f"eyJhbGciOiJIUzI1NiJ9.eyJ{V}…",  # a JWT a message clipped after its payload began
    f"curl -H 'Authorization: Bearer {V}'",
    f"see https://storage.googleapis.com/b/o.png?X-Goog-Expires=900&X-Goog-Signature={V}",
    f"https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKIA&X-Amz-Signature={V}",
    f"/storage/bucket/file.png?Expires=1&Signature={V}",
    f"https://api.example.com/hook?token={V}&x=1",
    f"https://api.example.com/hook?access_token={V}",
    f"https://user:{V}@api.example.com/",
])
def test_mask_text_hides_every_shape(text: str) -> None:
    masked = mask_text(text)
    assert V not in masked and SECURED in masked, masked


def test_mask_text_leaves_ordinary_text_alone() -> None:
    for text in ("A serene mountain landscape at sunset", "demo-token", "x-country-code=US; lt_id=abc",
                 "a bearer of bad news", "asset:0b5c3a4e-1111-4222-8333-444455556666-type:image/png",
                 "email:demo@example.com-job:0b5c3a4e-1111-4222-8333-444455556666-type:image"):
        assert mask_text(text) == text


def test_signed_urls_kept_only_when_asked() -> None:
    url = f"http://127.0.0.1:8787/storage/b/x.png?Expires=1&Signature={V}"
    assert V not in mask_text(url)
    assert mask_text(url, signed_urls=False) == url
    assert mask_text(f"{url} and token={V}", signed_urls=False) == f"{url} and token={SECURED}"


def test_structured_entry_points() -> None:
    assert mask_headers({"authorization": f"Bearer {V}", "Cookie": f"lt_token={V}", "X-Note": f"Bearer {V}",
                         "Content-Type": "application/json"}) == {
        "authorization": f"Bearer {SECURED}", "Cookie": SECURED, "X-Note": f"Bearer {SECURED}",
        "Content-Type": "application/json"}
    assert mask_query({"token": V, "key": V, "email": "a@b.c", "prompt": f"lt_token={V}"}) == {
        "token": SECURED, "key": SECURED, "email": "a@b.c", "prompt": f"lt_token={SECURED}"}
    assert mask_query_string(f"email=a%40b.c&api_key={V}&note=lt_token%3D{V}") == (
        f"email=a@b.c&api_key={SECURED}&note=lt_token%3D{SECURED}")
    assert mask_query_string("email=a%40b.c&limit=5") == "email=a%40b.c&limit=5"  # nothing to mask: as it was
    assert mask_url(f"/v1/ltxstudio/assets/lt_token%3D{V}?token={V}") == (
        f"/v1/ltxstudio/assets/lt_token={SECURED}?token={SECURED}")
    assert V not in mask_raw(f'{{"prompt": "Bearer {V}", "lt_token": "{V}", "n": [1, "eyJhbGciOi.eyJ{V}.x"]}}')
