"""Faults: webhook receivers that hang or refuse, clients that hang up mid-upload, uploads over the limit.

The upload checks also run against ``ltx-mock serve`` in a subprocess (granian, the
production server), where the server's own memory can be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from benchmarks import simulator
from benchmarks.reliability import disconnect_mid_upload, oversized_upload, webhook_faults
from ltxstudio_mock.pytest_plugin import start_simulator


@pytest.fixture
def quick_webhook_server() -> Iterator[Any]:
    """A simulator whose webhook attempts time out after 0.5 s (the default 5 s would make this test slow)."""
    server, _ = start_simulator(webhook_timeout_s=0.5, webhook_attempts=3)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def production_server() -> Iterator[Any]:
    with simulator("--paused", name="reliability") as srv:
        yield srv


def test_reliability_webhook_receiver_hangs_or_refuses(quick_webhook_server: Any) -> None:
    report = webhook_faults(quick_webhook_server.url, attempts=3, timeout_s=0.5, probe_for_s=1.5)
    assert not report["problems"], report
    kinds = sorted(d["kind"] for d in report["deliveries"])
    assert kinds == ["hang", "hang", "refused", "refused"], report
    assert all(d["state"] == "failed" and d["attempts"] == 3 for d in report["deliveries"]), report


def test_reliability_disconnect_mid_upload_test_server(ltx_mock: Any) -> None:
    report = disconnect_mid_upload(ltx_mock.url, urlsplit(ltx_mock.url).port or 0)
    assert not report["problems"], report


def test_reliability_disconnect_mid_upload_production_server(production_server: Any) -> None:
    report = disconnect_mid_upload(production_server.url, production_server.port)
    assert not report["problems"], report


def test_reliability_oversized_upload_is_413_and_memory_bounded(production_server: Any) -> None:
    report = oversized_upload(production_server.url, production_server.port, rss=production_server.rss_mb)
    assert not report["problems"], report
    assert report["status"] == 413
    assert report["rss_growth_mb"] is not None and report["rss_growth_mb"] < 12.5, report
