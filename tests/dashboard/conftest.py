"""Fixtures of the dashboard tests (helpers live in dashboard_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_helpers import Api, Receiver


@pytest.fixture
def api(ltx_mock: Any) -> Api:
    return Api(ltx_mock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
