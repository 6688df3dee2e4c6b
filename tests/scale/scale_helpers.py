"""Helpers of the scale tests (tests/scale): a real ``ltx-mock serve --workers N`` (the receiver: tests/helpers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import wait_serving

ROOT = Path(__file__).resolve().parents[2]
LTX_MOCK = str(Path(sys.executable).with_name("ltx-mock"))


class Serve:
    """``ltx-mock serve`` in a subprocess (its own process group, so nothing outlives the test)."""

    def __init__(self, port: int, *args: str, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("wb")
        self.proc = subprocess.Popen([LTX_MOCK, "serve", "--port", str(port), *args], cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.log = log

    def wait_up(self, timeout: float = 60) -> Serve:
        wait_serving(self.url, self.proc, self.log, timeout)
        return self

    def worker_pids(self) -> list[int]:
        """The granian worker processes: children of the master (the CLI process), from /proc."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return sorted(set(pids))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


def deepest(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The intervals that cover the instant most of them cover (the first such instant): what a failure shows."""
    best: list[tuple[float, float]] = []
    for start in sorted({s for s, e in intervals if e > s}):
        cover = [(s, e) for s, e in intervals if s <= start < e]
        if len(cover) > len(best):
            best = cover
    return best
