"""``ltx-mock check`` against ``ltx-mock serve``, as a user's CI runs them: two processes over loopback, the
production server (granian, behind its RSGI front). Every other contract run holds the simulator in-thread
(werkzeug), so the front's answers were never checked against the contract. (Two workers on one Redis were tried
here too: schemathesis keeps one connection alive, so one worker served 54 of the run's 57 commits; what several
processes must agree on is tests/scale's.)"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks import simulator


def test_check_passes_on_the_served_simulator(tmp_path: Path) -> None:
    junit = tmp_path / "check.xml"
    with simulator("--speed", "1000", "--seed", "7", name="check") as sim:
        done = subprocess.run([sys.executable, "-m", "mock_server.cli", "check",
                               "--base-url", f"{sim.url}/v1/ltxstudio", "--phases", "fuzzing,stateful",
                               "--max-examples", "25", "--seed", "7", "--junit-xml", str(junit)],
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(set(cases) - {"run"}) == 17, sorted(cases)  # every operation, the 2 older image paths too
    assert not [name for name, c in cases.items() if c.find("failure") is not None or c.find("error") is not None]
