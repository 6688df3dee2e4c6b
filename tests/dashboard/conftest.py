"""Fixtures of the dashboard tests (helpers live in dashboard_helpers.py; the receiver in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_helpers import Api


@pytest.fixture
def api(ltx_mock: Any) -> Api:
    return Api(ltx_mock)
