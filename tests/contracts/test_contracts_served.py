"""``ltx-mock check`` against ``ltx-mock serve``, as a user's CI runs them: two processes, over loopback, the
production server (granian, its RSGI front), and two granian workers sharing one Redis (a job created by one
worker, then read, cancelled or polled through either). The other contract runs hold the simulator in-thread."""

from __future__ import annotations

import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from benchmarks import simulator


@pytest.mark.parametrize("setup", ["default", "two workers on Redis"])
def test_check_passes_on_the_served_simulator(setup: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    args = ["--speed", "1000", "--seed", "7"]
    phases = "fuzzing,stateful"  # fuzzing: generated bodies and paths through the front; stateful: chains of calls
    if setup != "default":
        store = f"{request.getfixturevalue('redis_url')}?prefix=ck-{uuid.uuid4().hex[:8]}:"
        args += ["--workers", "2", "--store", store]
        phases = "stateful"  # what two processes must agree on; the front is the same as the default's
    junit = tmp_path / "check.xml"
    with simulator(*args, name="check") as sim:
        done = subprocess.run([sys.executable, "-m", "mock_server.cli", "check",
                               "--base-url", f"{sim.url}/v1/ltxstudio", "--phases", phases,
                               "--max-examples", "25", "--seed", "7", "--junit-xml", str(junit)],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(set(cases) - {"run"}) == 17, sorted(cases)  # every operation, the 2 older image paths too
    assert not [name for name, c in cases.items() if c.find("failure") is not None or c.find("error") is not None]
