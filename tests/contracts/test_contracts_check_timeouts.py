"""``ltx-mock check`` never fails by itself on a simulator at speed 1: its request timeout covers pollForResult.

The contract lets a generation request with ``pollForResult`` be held for up to 20 polls of 3 s; at speed 1 the
simulator holds it in real seconds. A timeout below the hold must fail the run (so the flag is real), the
default must not.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_serving

from contracts.runner import DEFAULT_REQUEST_TIMEOUT_S, run_checks
from mock_server import SimConfig, create_app
from mock_server.server import ServerThread

LTX_MOCK = Path(sys.executable).with_name("ltx-mock")


@pytest.fixture
def real_time_simulator() -> Iterator[str]:
    """A simulator whose clock runs at speed 1: a pollForResult hold takes real seconds."""
    server = ServerThread(create_app(SimConfig(seed=1, speed=1.0))).start()
    yield server.url + "/v1/ltxstudio"
    server.stop()


@pytest.mark.slow
def test_a_pollforresult_hold_longer_than_the_request_timeout_fails_the_run(real_time_simulator: str) -> None:
    # The documentation example of POST /images/create asks for pollForResult 10: a ~12 s flux job, held.
    options = {"include": ["createImage"], "phases": ["examples"], "seed": 1}
    short = run_checks(real_time_simulator, "demo-token", request_timeout=2, **options)
    assert not short.ok and "Read timed out" in short.format()
    default = run_checks(real_time_simulator, "demo-token", **options)
    assert default.ok, default.format()
    assert DEFAULT_REQUEST_TIMEOUT_S >= 60 + 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served_at_speed_1(tmp_path: Path) -> Iterator[str]:
    """``ltx-mock serve`` as a user starts it (speed 1), in its own process group so teardown ends all of it."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(LTX_MOCK), "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_serving(url, proc, tmp_path / "serve.log", timeout=60)
        yield url + "/v1/ltxstudio"
    finally:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        log.close()


@pytest.mark.long
def test_check_with_its_defaults_passes_against_serve_at_speed_1(served_at_speed_1: str, tmp_path: Path) -> None:
    """The whole default run (measured: about 8 minutes on a loaded 2-core machine, ~4 of them pollForResult
    holds); only --base-url is given, because the port is free-picked."""
    proc = subprocess.run([str(LTX_MOCK), "check", "--base-url", served_at_speed_1, "-q"], capture_output=True,
                          text=True, timeout=1800, check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "ltx-mock check PASSED" in proc.stdout
