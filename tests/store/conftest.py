"""Fixtures of the store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    """A Redis store URL under a prefix of its own (the session's one redis-server), its keys deleted afterwards."""
    prefix = f"ltxtest:{uuid.uuid4().hex[:12]}:"
    yield f"{redis_url}?prefix={prefix}"
    raw = redis.Redis.from_url(redis_url)
    for key in raw.scan_iter(match=prefix + "*"):
        raw.delete(key)
    raw.close()
