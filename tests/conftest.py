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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a real redis-server (never a fake), started on first use, once per session."""
    with _redis_helper().RedisServer() as server:
        yield server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port (tests/helpers.py), stopped after the test."""
    with Receiver() as r:
        yield r
