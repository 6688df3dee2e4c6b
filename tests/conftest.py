"""Fixtures shared by the whole suite. (The `ltx_mock` fixture comes from the installed pytest plugin.)"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers import Receiver


def _redis_helper() -> ModuleType:
    """tests/redis_server.py, loaded by path (tests/ is not a package)."""
    name = "ltx_tests_redis_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "redis_server.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-long", action="store_true", default=False,
                     help="also run the tests marked `long` (real-time runs of many minutes; `make test-long`)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`long` tests take many real minutes (the whole suite must stay under 5): run them with --run-long."""
    if config.getoption("--run-long"):
        return
    skip = pytest.mark.skip(reason="long real-time run: `make test-long` (pytest --run-long) runs it")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a real redis-server (never a fake), started on first use, once per session."""
    with _redis_helper().RedisServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """The first node of a local 3-master Redis Cluster (the same redis-server binary), started on first use, once
    per session: the store contract runs on it too (tests/store/test_store_contract.py)."""
    with _redis_helper().RedisCluster(3) as cluster:
        yield cluster.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port (tests/helpers.py), stopped after the test."""
    with Receiver() as r:
        yield r
