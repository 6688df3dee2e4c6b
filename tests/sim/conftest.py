"""Fixtures of the simulator's behaviour tests: the ``ltx_mock`` server seen through plain ``requests``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sim_helpers import Api


@pytest.fixture
def api(ltx_mock: Any) -> Api:
    """The demo tenant's view of a freshly reset simulator."""
    return Api(ltx_mock.url, ltx_mock.token)


@pytest.fixture
def admin(ltx_mock: Any) -> Any:
    return ltx_mock.admin


@pytest.fixture
def finished_image(api: Api, admin: Any) -> Callable[..., str]:
    """Make a completed image job (the clock is advanced past its end); returns its jobId."""

    def make(**body: Any) -> str:
        job_id = api.create("images/create", {"prompt": "A lighthouse at dawn", **body})["jobId"]
        admin.advance(120)
        assert api.ok(api.job(job_id))["status"]["type"] == "completed"
        return job_id

    return make


@pytest.fixture
def second_account(api: Api, admin: Any) -> str:
    """Configure a second LTX Studio user for the demo tenant; returns its email."""
    user = admin.create_ltx_user(email="second@example.com")
    api.ok(api.post("/accounts", json={"cookie": user["cookie"]}))
    return user["email"]
